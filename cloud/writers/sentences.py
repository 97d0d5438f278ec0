"""The prose sentences of retrieved chunks, and their relevance to the writer's context."""

import re
from collections.abc import Iterator, Sequence

import numpy as np

from cloud.datastore import RetrievedChunk
from cloud.datastore.chunking import PARAGRAPH_SEPARATOR
from shared.embeddings import TextEmbedder

PASSAGE_MAX_CHARS = 600
_AFTER_STOP = re.compile(r"(?<=[.!?])\s+")
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")  # "Gregory P." is not a sentence's end


def prose_sentences(chunk_text: str) -> Iterator[str]:
    """Sentences of the chunk's prose paragraphs; code and other multi-line blocks are not sentences.

    A stop followed by a lower-case word ("e.g. the", "etc. and") or after an initial
    does not end the sentence.
    """
    for paragraph in chunk_text.split(PARAGRAPH_SEPARATOR):
        if "\n" in paragraph:
            continue
        sentence = ""
        for piece in _AFTER_STOP.split(paragraph.strip()):
            if sentence and (piece[:1].islower() or _INITIAL.search(sentence)):
                sentence = f"{sentence} {piece}"
                continue
            if sentence:
                yield sentence
            sentence = piece
        if sentence:
            yield sentence


def statements(chunk_text: str) -> Iterator[str]:
    """The prose sentences that can stand alone as a note: not a heading, a table row or a lead-in."""
    for sentence in prose_sentences(chunk_text):
        if sentence[-1] in ".!?" and "|" not in sentence:
            yield sentence


def relevance(embedder: TextEmbedder, focus: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of each text to ``focus``, and the texts' vectors."""
    vectors = embedder.embed(texts)
    return vectors @ embedder.embed_one(focus), vectors


def focused_passages(
    embedder: TextEmbedder, focus: str, chunks: Sequence[RetrievedChunk], max_chars: int = PASSAGE_MAX_CHARS
) -> list[str]:
    """Each chunk's sentences most relevant to ``focus``, in document order, on one line within ``max_chars``.

    A small model compresses a short, focused passage far better than a whole chunk,
    and the prompt is shorter. A chunk of code alone is kept whole (then cut).
    """
    sentences = [list(prose_sentences(chunk.text)) for chunk in chunks]
    flat = [sentence for chunk_sentences in sentences for sentence in chunk_sentences]
    scores: list[float] = list(relevance(embedder, focus, flat)[0]) if flat else []
    passages, offset = [], 0
    for chunk, chunk_sentences in zip(chunks, sentences, strict=True):
        chunk_scores = scores[offset : offset + len(chunk_sentences)]
        offset += len(chunk_sentences)
        kept: set[int] = set()
        size = 0
        for i in sorted(range(len(chunk_sentences)), key=lambda i: -chunk_scores[i]):
            if size + len(chunk_sentences[i]) > max_chars and kept:
                break
            kept.add(i)
            size += len(chunk_sentences[i]) + 1
        passage = " ".join(chunk_sentences[i] for i in sorted(kept)) or chunk.text
        passages.append(_one_line(passage, max_chars))
    return passages


def _one_line(text: str, max_chars: int) -> str:
    """The passage on one line, cut to ``max_chars`` at a word boundary."""
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[:max_chars].rsplit(" ", 1)[0] + " …"
