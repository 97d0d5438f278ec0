"""Documents are read, cleaned and chunked on natural boundaries, with exact source spans."""

from pathlib import Path

import pytest

from cloud.datastore.chunking import chunk_document
from cloud.datastore.documents import Document, DocumentKind, Skipped, html_text, read_document, readable
from shared.embeddings import WordPieceCounter
from shared.settings import PYTHON_DOCS_DIR


@pytest.fixture(scope="module")
def counter() -> WordPieceCounter:
    return WordPieceCounter()


def test_real_documents_chunk_within_the_embedders_window(counter: WordPieceCounter) -> None:
    document = read_document(PYTHON_DOCS_DIR / "library" / "functions.rst.txt", 1 << 22)
    assert isinstance(document, Document) and document.kind is DocumentKind.REST
    chunks = chunk_document(document, counter.count_many, 160, 250)
    assert len(chunks) > 50
    assert all(chunk.tokens <= 250 for chunk in chunks)
    assert counter.count_many([c.text for c in chunks]) == [c.tokens for c in chunks]
    starts = [chunk.start for chunk in chunks]
    assert starts == sorted(starts) and all(c.start < c.end <= len(document.text) for c in chunks)
    for chunk in chunks:  # the stored text comes from the span it names
        first_word = chunk.text.split()[0]
        assert first_word in document.text[chunk.start : chunk.end]
    assert not any(":func:`" in chunk.text or "``" in chunk.text for chunk in chunks)


def test_a_long_paragraph_is_cut_between_sentences(counter: WordPieceCounter, tmp_path: Path) -> None:
    sentences = [f"Sentence number {i} says something about lists and their methods." for i in range(80)]
    path = tmp_path / "long.txt"
    path.write_text(" ".join(sentences))
    document = read_document(path, 1 << 20)
    assert isinstance(document, Document)
    chunks = chunk_document(document, counter.count_many, 100, 120)
    assert len(chunks) > 3
    assert all(chunk.text.endswith("methods.") for chunk in chunks)


def test_rest_markup_is_cleaned_but_signatures_stay() -> None:
    raw = ".. function:: len(s)\n\n   Return the length of :func:`an object <len>` like ``s`` (see :ref:`typesseq`)."
    assert readable(raw.split("\n\n")[0], DocumentKind.REST) == "len(s)"
    assert readable(raw.split("\n\n")[1], DocumentKind.REST) == "Return the length of an object like s (see typesseq)."
    assert readable(".. index:: single: len", DocumentKind.REST) == ""


def test_html_keeps_visible_text_in_paragraphs() -> None:
    text = html_text(
        "<html><head><title>t</title><script>alert(1)</script></head>"
        "<body><h1>Lists</h1><p>Lists are <b>mutable</b>.</p><p>Tuples are not.</p></body></html>"
    )
    assert text == "Lists\n\nLists are mutable.\n\nTuples are not.\n"


def test_files_that_cannot_be_ingested_are_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "nul.txt").write_bytes(b"text\0with a NUL")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "big.md").write_text("x" * 5000)
    reasons = {path.name: read_document(path, 4096) for path in tmp_path.iterdir()}
    reasons["gone.txt"] = read_document(tmp_path / "gone.txt", 4096)
    assert all(isinstance(result, Skipped) for result in reasons.values())
    assert "not a text" in reasons["image.png"].reason
    assert reasons["nul.txt"].reason == "binary content"
    assert reasons["latin.txt"].reason == "not UTF-8 text"
    assert "larger than 4096 bytes" in reasons["big.md"].reason
    assert reasons["gone.txt"].reason.startswith("unreadable")
