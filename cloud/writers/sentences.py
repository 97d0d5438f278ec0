"""The prose sentences of retrieved chunks, and their relevance to the writer's context."""

import re
from collections.abc import Iterator

import numpy as np

from cloud.datastore.chunking import PARAGRAPH_SEPARATOR
from shared.embeddings import SentenceEmbedder

_SENTENCE = re.compile(r"[^.!?]*[.!?]+(?=\s|$)|[^.!?]+$")


def prose_sentences(chunk_text: str) -> Iterator[str]:
    """Sentences of the chunk's prose paragraphs; code and other multi-line blocks are not sentences."""
    for paragraph in chunk_text.split(PARAGRAPH_SEPARATOR):
        if "\n" in paragraph:
            continue
        for match in _SENTENCE.finditer(paragraph):
            if sentence := match.group().strip():
                yield sentence


def relevance(embedder: SentenceEmbedder, focus: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of each text to ``focus``, and the texts' vectors."""
    vectors = embedder.embed(texts)
    return vectors @ embedder.embed_one(focus), vectors
