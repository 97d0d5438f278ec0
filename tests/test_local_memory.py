"""The client's local memory: atomic deltas, replays, repair on open, search."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from client.memory.local_memory import DATABASE_NAME, LocalMemory, MemoryGapError, memory_folder
from shared.protocol import MemoryDelta, MemoryNote, NoteSource

FACTS = [
    "A list comprehension builds a new list from an iterable in one expression.",
    "The del statement removes an item from a list given its index.",
    "Dictionaries map keys to values; keys must be hashable.",
    "A class statement creates a new class object and binds it to a name.",
    "The __init__ method runs when a class is instantiated.",
    "A for loop iterates over the items of any sequence, in order.",
]


def _note(i: int, version: int) -> MemoryNote:
    return MemoryNote(
        note_id=f"{i:032x}",
        version=version,
        text=FACTS[i],
        sources=[NoteSource(chunk_id=i, path=f"doc{i}.rst", start=0, end=10)],
    )


def _delta(since: int, version: int, added: list[MemoryNote], removed: list[str] = ()) -> MemoryDelta:  # type: ignore[assignment]
    return MemoryDelta(
        since=since, version=version, latest_version=version, added=added, removed=list(removed), has_more=False
    )


@pytest.fixture
def memory(tmp_path: Path, query_embedder) -> Iterator[LocalMemory]:
    opened = LocalMemory(tmp_path / "memory", query_embedder, ivf_threshold=50_000)
    yield opened
    opened.close()


def _ids(memory: LocalMemory) -> set[str]:
    return {note.note_id for note in memory.notes()}


def test_deltas_add_and_remove_notes_and_move_the_version(memory: LocalMemory) -> None:
    applied = memory.apply_delta(_delta(0, 1, [_note(0, 1), _note(1, 1)]))
    assert (applied.from_version, applied.to_version, len(applied.added)) == (0, 1, 2)
    applied = memory.apply_delta(_delta(1, 3, [_note(2, 3)], removed=[_note(0, 1).note_id]))
    assert applied.removed == (_note(0, 1).note_id,) and memory.version == 3
    assert _ids(memory) == {_note(1, 1).note_id, _note(2, 3).note_id}
    assert memory.notes()[0].sources[0].path == "doc1.rst"


def test_replayed_and_overlapping_deltas_change_nothing_twice(memory: LocalMemory) -> None:
    first = _delta(0, 1, [_note(0, 1), _note(1, 1)])
    second = _delta(1, 2, [_note(2, 2)], removed=[_note(1, 1).note_id])
    memory.apply_delta(first)
    memory.apply_delta(second)
    assert not memory.apply_delta(first).changed and not memory.apply_delta(second).changed
    # A delta from 0 to 2 applied at 1 (overlapping) ends at the server's state too.
    overlapping = _delta(0, 2, [_note(0, 1), _note(2, 2)], removed=[_note(1, 1).note_id])
    fresh_ids = _ids(memory)
    assert memory.apply_delta(overlapping).to_version == 2 and _ids(memory) == fresh_ids
    assert memory.note_count == 2


def test_a_delta_past_a_gap_is_refused(memory: LocalMemory) -> None:
    with pytest.raises(MemoryGapError, match="sync again"):
        memory.apply_delta(_delta(2, 3, [_note(0, 3)]))
    assert memory.version == 0


def test_search_finds_the_nearest_note(memory: LocalMemory, query_embedder) -> None:
    memory.apply_delta(_delta(0, 1, [_note(i, 1) for i in range(len(FACTS))]))
    hits = memory.search(query_embedder.embed_one("How do I delete an element of a list by position?"), 2)
    assert hits[0].text == FACTS[1] and hits[0].score > hits[1].score


def test_replace_all_makes_the_memory_exactly_the_given_notes(memory: LocalMemory) -> None:
    memory.apply_delta(_delta(0, 5, [_note(0, 1), _note(1, 5)]))
    applied = memory.replace_all([_note(1, 1), _note(3, 2)], version=2)
    assert memory.version == 2 and _ids(memory) == {_note(1, 1).note_id, _note(3, 2).note_id}
    assert applied.removed == (_note(0, 1).note_id,) and [n.note_id for n in applied.added] == [_note(3, 2).note_id]


def test_a_crash_before_the_commit_leaves_the_previous_version_whole(
    tmp_path: Path, query_embedder, monkeypatch
) -> None:
    folder = tmp_path / "memory"
    memory = LocalMemory(folder, query_embedder, ivf_threshold=50_000)
    memory.apply_delta(_delta(0, 1, [_note(0, 1)]))

    def crash_after_writing_the_index(self, index, generation):
        original_save(self, index, generation)
        raise KeyboardInterrupt("killed between the index rename and the commit")

    from shared.vector_index import GenerationIndexFiles

    original_save = GenerationIndexFiles.save
    monkeypatch.setattr(GenerationIndexFiles, "save", crash_after_writing_the_index)
    with pytest.raises(KeyboardInterrupt):
        memory.apply_delta(_delta(1, 2, [_note(1, 2), _note(2, 2)]))
    monkeypatch.undo()
    assert len(list(folder.glob("notes-*.faiss"))) == 2  # the committed one and the orphan
    memory.close()

    reopened = LocalMemory(folder, query_embedder, ivf_threshold=50_000)
    assert reopened.version == 1 and reopened.note_count == 1
    assert [path.name for path in folder.glob("notes-*.faiss")] == ["notes-1.faiss"]
    assert reopened.apply_delta(_delta(1, 2, [_note(1, 2), _note(2, 2)])).to_version == 2
    assert reopened.note_count == 3 and len(reopened.search(np.ones(384, np.float32) / np.sqrt(384), 10)) == 3
    reopened.close()


@pytest.mark.parametrize("damage", ["missing", "garbage", "stale"])
def test_an_index_that_disagrees_with_sqlite_is_rebuilt_on_open(tmp_path: Path, query_embedder, damage: str) -> None:
    folder = tmp_path / "memory"
    memory = LocalMemory(folder, query_embedder, ivf_threshold=50_000)
    memory.apply_delta(_delta(0, 1, [_note(i, 1) for i in range(3)]))
    memory.close()
    index_file = next(folder.glob("notes-*.faiss"))
    if damage == "missing":
        index_file.unlink()
    elif damage == "garbage":
        index_file.write_bytes(b"not an index")
    else:  # an index of fewer notes than SQLite holds, under the current name
        small = LocalMemory(tmp_path / "other", query_embedder, ivf_threshold=50_000)
        small.apply_delta(_delta(0, 1, [_note(0, 1)]))
        small.close()
        index_file.write_bytes(next((tmp_path / "other").glob("notes-*.faiss")).read_bytes())
    reopened = LocalMemory(folder, query_embedder, ivf_threshold=50_000)
    assert len(reopened.search(np.ones(384, np.float32) / np.sqrt(384), 10)) == 3
    reopened.close()


def test_the_index_becomes_ivf_past_the_threshold_and_still_finds_notes(tmp_path: Path, query_embedder) -> None:
    memory = LocalMemory(tmp_path / "memory", query_embedder, ivf_threshold=3)
    memory.apply_delta(_delta(0, 1, [_note(i, 1) for i in range(3)]))
    assert memory.index_kind == "flat"
    memory.apply_delta(_delta(1, 2, [_note(i, 2) for i in range(3, 6)]))
    assert memory.index_kind == "ivf"
    hits = memory.search(query_embedder.embed_one("What runs when a class is instantiated?"), 1)
    assert hits[0].text == FACTS[4]
    memory.close()


def test_each_cloud_and_token_has_its_own_folder(tmp_path: Path) -> None:
    alice = memory_folder(tmp_path, "http://127.0.0.1:8765/", "token-a")
    assert alice == memory_folder(tmp_path, "http://127.0.0.1:8765", "token-a")
    assert alice != memory_folder(tmp_path, "http://127.0.0.1:8765", "token-b")
    assert alice != memory_folder(tmp_path, "http://10.0.0.1:8765", "token-a")
    assert not (alice / DATABASE_NAME).exists()


def test_two_processes_syncing_one_memory_apply_each_delta_once_and_see_each_others_notes(
    tmp_path: Path, query_embedder
) -> None:
    folder = tmp_path / "memory"
    tui = LocalMemory(folder, query_embedder, ivf_threshold=50_000)  # e.g. the TUI's sync loop...
    cli = LocalMemory(folder, query_embedder, ivf_threshold=50_000)  # ...and `hybridrag sync` in another terminal
    first = _delta(0, 1, [_note(0, 1), _note(1, 1)])
    assert len(tui.apply_delta(first).added) == 2
    assert not cli.apply_delta(first).changed  # the same delta, fetched before the other applied it
    assert cli.apply_delta(_delta(1, 2, [_note(4, 2)], removed=[_note(0, 1).note_id])).changed
    hits = tui.search(query_embedder.embed_one("What runs when a class is instantiated?"), 5)
    assert next(hit.text for hit in hits) == FACTS[4] and len(hits) == 2  # the other's change, index included
    assert tui.version == cli.version == 2
    tui.close()
    cli.close()
    reopened = LocalMemory(folder, query_embedder, ivf_threshold=50_000)
    assert reopened.note_count == 2 and len(list(folder.glob("notes-*.faiss"))) == 1
    reopened.close()
