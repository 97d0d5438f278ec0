"""Notes without an LLM: the retrieved sentences closest to the writer's context.

The baseline for evaluation, and the fallback when the LLM is unreachable. Code and
other multi-line blocks are not sentences and are left out.
"""

from collections.abc import Sequence

import numpy as np

from cloud.datastore import RetrievedChunk
from cloud.writers.note_writer import NoteValidator, WrittenNote, normalized
from cloud.writers.sentences import relevance, statements
from shared.embeddings import SentenceEmbedder

NEAR_DUPLICATE_COSINE = 0.9


class ExtractiveNoteWriter:
    name = "extractive"

    def __init__(self, embedder: SentenceEmbedder, validator: NoteValidator) -> None:
        self._embedder = embedder
        self._validator = validator

    def write_notes(self, focus: str, chunks: Sequence[RetrievedChunk], max_notes: int) -> list[WrittenNote]:
        candidates: list[tuple[str, int]] = []
        seen: set[str] = set()
        for chunk in chunks:
            for sentence in statements(chunk.text):
                text = self._validator.clean(sentence)
                if text and normalized(text) not in seen:
                    seen.add(normalized(text))
                    candidates.append((text, chunk.chunk_id))
        if not candidates:
            return []
        scores, vectors = relevance(self._embedder, focus, [text for text, _ in candidates])
        chosen: list[int] = []
        for i in np.argsort(-scores, kind="stable"):
            if len(chosen) == max_notes:
                break
            if all(float(vectors[i] @ vectors[j]) < NEAR_DUPLICATE_COSINE for j in chosen):
                chosen.append(int(i))
        return [WrittenNote(candidates[i][0], (candidates[i][1],)) for i in chosen]

    def close(self) -> None:
        """Nothing to release: the embedder belongs to the service."""
