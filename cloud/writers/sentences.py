"""The prose sentences of retrieved chunks, and their relevance to the writer's context."""

import re
from collections.abc import Iterator

import numpy as np

from cloud.datastore.chunking import PARAGRAPH_SEPARATOR
from shared.embeddings import TextEmbedder

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
