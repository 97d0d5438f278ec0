"""Note validation (LLM output is untrusted), the extractive and the passage writers on real chunks."""

from pathlib import Path

import pytest

from cloud.datastore import Datastore, RetrievedChunk
from cloud.writers.extractive_writer import ExtractiveNoteWriter
from cloud.writers.llm_writer import EXAMPLES
from cloud.writers.note_writer import NoteValidator, is_grounded, normalized
from cloud.writers.passage_writer import PassageNoteWriter, passage
from cloud.writers.sentences import prose_sentences, statements
from shared.embeddings import WordPieceCounter
from shared.protocol import MAX_NOTE_CHARS
from shared.settings import CloudSettings


@pytest.fixture(scope="module")
def validator() -> NoteValidator:
    return NoteValidator(max_tokens=30, count_tokens=WordPieceCounter().count, examples=[n for _, n in EXAMPLES])


def test_notes_are_cleaned_of_bullets_quotes_and_terminal_sequences(validator: NoteValidator) -> None:
    assert validator.clean('  - "Lists are \x1b[31mmutable\x1b[0m sequences."\n') == "Lists are mutable sequences."


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "Too short.",
        "The dict is a dict is a dict and the dict is a dict is a dict.",  # the model looping
        EXAMPLES[0][1],  # copied from the prompt
        "word " * 200,  # runaway without a sentence end
    ],
)
def test_bad_notes_are_dropped(validator: NoteValidator, raw: str) -> None:
    assert validator.clean(raw) is None


def test_a_runaway_note_keeps_its_whole_sentences_that_fit(validator: NoteValidator) -> None:
    raw = "Tuples are immutable sequences of values. " + "They can hold any object at all and nest " * 5
    assert validator.clean(raw) == "Tuples are immutable sequences of values."


def test_grounding_needs_the_passages_words() -> None:
    passage = "The list.append method adds an item to the end of the list."
    assert is_grounded("list.append adds an item at the end of a list.", passage, 0.5)
    assert not is_grounded("Dictionaries map hashable keys to arbitrary values.", passage, 0.5)


def test_extractive_notes_are_relevant_distinct_and_sourced(ingested_data: Path, embedder, validator) -> None:
    store = Datastore(ingested_data, CloudSettings(data_dir=ingested_data), embedder)
    focus = "To remove an item from a list given its index"
    chunks = store.search_text(focus, 4)
    notes = ExtractiveNoteWriter(embedder, validator).write_notes(focus, chunks, 3)
    assert 1 <= len(notes) <= 3
    assert len({normalized(n.text) for n in notes}) == len(notes)
    assert any("del" in n.text or "remove" in n.text.lower() for n in notes)
    chunk_ids = {c.chunk_id for c in chunks}
    assert all(set(n.chunk_ids) <= chunk_ids for n in notes)
    store.close()


def test_a_dangling_lead_in_is_dropped(validator: NoteValidator) -> None:
    assert (
        validator.clean("The del statement removes items by index. For example:")
        == "The del statement removes items by index."
    )
    assert validator.clean("Most containers can be looped over with a for statement:") is None


def test_sentences_survive_abbreviations_and_only_statements_become_extractive_notes() -> None:
    chunk = (
        "A new hashlib module, written by Gregory P. Smith, was added. Use one (e.g. sha256) for hashes.\n\n"
        "Calling Python Functions from C\n\nFormat | C Type | Python type.\n\nIt works! Does it?"
    )
    assert list(prose_sentences(chunk)) == [
        "A new hashlib module, written by Gregory P. Smith, was added.",
        "Use one (e.g. sha256) for hashes.",
        "Calling Python Functions from C",
        "Format | C Type | Python type.",
        "It works!",
        "Does it?",
    ]
    assert list(statements(chunk)) == [  # no heading, no table row
        "A new hashlib module, written by Gregory P. Smith, was added.",
        "Use one (e.g. sha256) for hashes.",
        "It works!",
        "Does it?",
    ]


def test_an_extractive_note_can_carry_what_its_source_says_next(embedder) -> None:
    text = (
        "The walrus operator assigns a value inside an expression. "
        "It was added in Python 3.8 by PEP 572. "
        "Lists are mutable sequences of items."
    )
    chunk = RetrievedChunk(7, "doc.rst", 0, len(text), text, 1.0)
    validator = NoteValidator(max_tokens=30, count_tokens=WordPieceCounter().count)
    focus = "how the walrus operator assigns a value inside an expression"
    [alone] = ExtractiveNoteWriter(embedder, validator).write_notes(focus, [chunk], 1)
    [carried] = ExtractiveNoteWriter(embedder, validator, follow_sentences=1).write_notes(focus, [chunk], 1)
    assert alone.text == "The walrus operator assigns a value inside an expression."
    assert carried.text == alone.text + " It was added in Python 3.8 by PEP 572."
    assert carried.chunk_ids == (7,)
    short = NoteValidator(max_tokens=14, count_tokens=WordPieceCounter().count)
    [cut] = ExtractiveNoteWriter(embedder, short, follow_sentences=1).write_notes(focus, [chunk], 1)
    assert cut.text == alone.text  # what follows is dropped, whole, when it would not fit


def test_passages_are_the_retrieved_chunks_on_one_line_cut_at_a_sentence(ingested_data: Path, embedder) -> None:
    store = Datastore(ingested_data, CloudSettings(data_dir=ingested_data), embedder)
    chunks = store.search_text("To remove an item from a list given its index", 4)
    store.close()
    notes = PassageNoteWriter().write_notes("ignored: retrieval already chose", chunks, 3)
    assert [note.chunk_ids for note in notes] == [(chunk.chunk_id,) for chunk in chunks[:3]]
    for note, chunk in zip(notes, chunks, strict=False):
        assert "\n" not in note.text and len(note.text) <= MAX_NOTE_CHARS
        assert note.text.split() == " ".join(chunk.text.split()).split()[: len(note.text.split())]


def test_a_long_passage_ends_at_its_last_whole_sentence() -> None:
    text = "First sentence here. Second one.\nThird sentence that runs past the limit."
    assert passage(text, max_chars=40) == "First sentence here. Second one."
    assert passage("no sentence end at all in this text", max_chars=20) == "no sentence end at"
