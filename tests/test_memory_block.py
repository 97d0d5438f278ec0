"""Choosing the notes for the prompt: stable order, rebuilt only on a material change."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from client.memory.local_memory import LocalMemory
from client.memory.memory_block import BLOCK_HEADER, MemoryBlock, MemoryBlockSelector
from shared.protocol import MemoryDelta, MemoryNote, NoteSource
from shared.settings import ClientSettings

TOPICS = {
    "lists": [
        "Lists are mutable sequences.",
        "list.append adds one item at the end.",
        "list.sort sorts the list in place.",
        "A list slice returns a new list.",
    ],
    "classes": [
        "A class bundles data and functions.",
        "Instances are created by calling the class.",
        "Methods take the instance as their first argument.",
        "Class variables are shared by all instances.",
    ],
}


def _notes(topic: str, version: int, start: int) -> list[MemoryNote]:
    return [
        MemoryNote(
            note_id=f"{start + i:032x}",
            version=version,
            text=text,
            sources=[NoteSource(chunk_id=start + i, path=f"{topic}.rst", start=0, end=1)],
        )
        for i, text in enumerate(TOPICS[topic])
    ]


@pytest.fixture
def memory(tmp_path: Path, query_embedder) -> Iterator[LocalMemory]:
    opened = LocalMemory(tmp_path / "memory", query_embedder, ivf_threshold=50_000)
    opened.apply_delta(
        MemoryDelta(
            since=0,
            version=2,
            latest_version=2,
            has_more=False,
            removed=[],
            added=_notes("lists", 2, 0) + _notes("classes", 1, 100),
        )
    )
    yield opened
    opened.close()


def test_the_block_is_ordered_by_version_not_score(memory: LocalMemory, query_embedder) -> None:
    selector = MemoryBlockSelector(memory, ClientSettings(notes_in_prompt=8))
    block = selector.select(query_embedder.embed_one("sorting a list"))
    assert [note.version for note in block.notes] == sorted(note.version for note in block.notes)
    assert block.text.startswith(BLOCK_HEADER) and block.text.endswith("\n\n")
    assert block.text.count("\n- ") == len(block.notes) == 8


def test_within_a_version_the_block_keeps_the_writers_order(tmp_path: Path, query_embedder) -> None:
    """The writer's order (retrieval rank, for passages) is what the adapter was trained on; ids are hashes."""
    ranked = [note.model_copy(update={"note_id": f"{99 - i:032x}"}) for i, note in enumerate(_notes("lists", 1, 0))]
    memory = LocalMemory(tmp_path / "memory", query_embedder, ivf_threshold=50_000)
    try:
        memory.apply_delta(MemoryDelta(since=0, version=1, latest_version=1, has_more=False, removed=[], added=ranked))
        block = MemoryBlockSelector(memory, ClientSettings(notes_in_prompt=4)).select(query_embedder.embed_one("lists"))
        assert [note.text for note in block.notes] == TOPICS["lists"]
        assert [note.text for note in memory.notes()] == TOPICS["lists"]
    finally:
        memory.close()


def test_a_nearby_query_keeps_the_block_and_a_new_topic_replaces_it(memory: LocalMemory, query_embedder) -> None:
    selector = MemoryBlockSelector(memory, ClientSettings(notes_in_prompt=3, memory_block_min_change=2))
    lists = selector.select(query_embedder.embed_one("How do I add an item to a Python list?"))
    assert {note.text for note in lists.notes} <= set(TOPICS["lists"])
    again = selector.select(query_embedder.embed_one("How do I sort a Python list in place?"))
    assert again is lists  # one note of three may differ: not material, the prompt's prefix survives
    classes = selector.select(query_embedder.embed_one("How are instances of a class created?"))
    assert {note.text for note in classes.notes} <= set(TOPICS["classes"])


def test_a_block_showing_a_removed_note_is_rebuilt(memory: LocalMemory, query_embedder) -> None:
    selector = MemoryBlockSelector(memory, ClientSettings(notes_in_prompt=3, memory_block_min_change=3))
    query = query_embedder.embed_one("How do I add an item to a Python list?")
    block = selector.select(query)
    gone = block.notes[0].note_id
    memory.apply_delta(MemoryDelta(since=2, version=3, latest_version=3, has_more=False, added=[], removed=[gone]))
    assert selector.select(query) is block  # nothing told it yet
    selector.notes_removed([gone])
    assert gone not in selector.select(query).note_ids


def test_note_text_reaches_the_prompt_on_one_line_without_control_characters() -> None:
    from client.memory.local_memory import LocalNote

    block = MemoryBlock((LocalNote("a" * 32, 1, "first line\nsecond\x1b[31m red\x07", ()),))
    assert block.text == f"{BLOCK_HEADER}- first line second red\n\n"
    assert MemoryBlock().text == ""


def test_no_notes_wanted_means_an_empty_block(memory: LocalMemory) -> None:
    selector = MemoryBlockSelector(memory, ClientSettings(notes_in_prompt=0))
    assert selector.select(np.ones(384, np.float32) / np.sqrt(384)).text == ""
