"""Notes without an LLM: the retrieved sentences closest to the writer's context.

The baseline for evaluation, and the fallback when the LLM is unreachable. Code and
other multi-line blocks are not sentences and are left out. A note can also carry the
sentences that follow its sentence in the chunk (``follow_sentences``): where another
document says what the writer is saying, what it says next is what the writer may
type next, and the client can quote it.
"""

from collections.abc import Sequence

import numpy as np

from cloud.datastore import RetrievedChunk
from cloud.writers.note_writer import NoteValidator, WrittenNote, normalized
from cloud.writers.sentences import relevance, statements
from shared.embeddings import TextEmbedder

NEAR_DUPLICATE_COSINE = 0.9


class ExtractiveNoteWriter:
    name = "extractive"

    def __init__(self, embedder: TextEmbedder, validator: NoteValidator, follow_sentences: int = 0) -> None:
        self._embedder = embedder
        self._validator = validator
        self._follow = follow_sentences

    def write_notes(self, focus: str, chunks: Sequence[RetrievedChunk], max_notes: int) -> list[WrittenNote]:
        candidates: list[tuple[str, int]] = []  # (note, chunk id), ranked by the note's first sentence
        seen: set[str] = set()
        for chunk in chunks:
            sentences = list(statements(chunk.text))
            for i in range(len(sentences)):
                # The validator keeps the whole sentences that fit the note's length.
                text = self._validator.clean(" ".join(sentences[i : i + 1 + self._follow]))
                if text and normalized(_first_sentence(text)) not in seen:
                    seen.add(normalized(_first_sentence(text)))
                    candidates.append((text, chunk.chunk_id))
        if not candidates:
            return []
        scores, vectors = relevance(self._embedder, focus, [_first_sentence(text) for text, _ in candidates])
        chosen: list[int] = []
        for i in np.argsort(-scores, kind="stable"):
            if len(chosen) == max_notes:
                break
            if all(float(vectors[i] @ vectors[j]) < NEAR_DUPLICATE_COSINE for j in chosen):
                chosen.append(int(i))
        return [WrittenNote(candidates[i][0], (candidates[i][1],)) for i in chosen]

    def close(self) -> None:
        """Nothing to release: the embedder belongs to the service."""


def _first_sentence(note: str) -> str:
    return next(iter(statements(note)), note)
