"""Notes written by an instruction-following LLM (Qwen2.5-Coder-0.5B-Instruct) in one request.

Unlike the base model's few-shot prompt (one completion per chunk), an instruct
model reads all the retrieved passages at once and is told what the notes are for:
the writer's next words. It is asked to copy exact names, options and phrases, since
that is what a suggester can quote, and to cite each note's passage, so the note
keeps its source chunk. Every note still passes the validator and must be grounded
in the passage it cites; a note that cites none is kept only if one passage grounds it.
"""

import re
from collections.abc import Sequence

from cloud.datastore import RetrievedChunk
from cloud.llm.backend import ChatBackend
from cloud.writers.note_writer import NoteValidator, WrittenNote, is_grounded, normalized
from cloud.writers.sentences import focused_passages
from shared.embeddings import TextEmbedder

MIN_GROUNDED_SHARE = 0.6
FOCUS_TAIL_CHARS = 400  # the end of the writer's text: where the next words go
ANSWER_TOKEN_HEADROOM = 2.0
SYSTEM_MESSAGE = (
    "You write memory notes for someone writing technical documentation. A small model that suggests "
    "the writer's next words reads your notes, so they must hold the exact words worth typing next."
)
_CITED_LINE = re.compile(r"^\s*(?:[-*•]\s*)?\[(\d+)\]\s*(.+)$")
_BULLET_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+)$")


def notes_request(focus: str, passages: Sequence[str], max_notes: int) -> list[dict[str, str]]:
    """The chat messages that ask for up to ``max_notes`` cited notes from ``passages``."""
    tail = focus[-FOCUS_TAIL_CHARS:]
    numbered = "\n".join(f"[{i}] {passage}" for i, passage in enumerate(passages, start=1))
    user = (
        f'The writer\'s text so far ends with:\n"…{tail}"\n\n'
        f"Passages retrieved for it:\n{numbered}\n\n"
        f"Write up to {max_notes} notes this writer would use next, most useful first, one per line. "
        'Start each line with its passage\'s number in brackets, like "[2] ...". Each note is one short, '
        "self-contained sentence that copies the exact names, options and phrases of its passage. "
        "Leave out passages that do not fit the text. Write nothing else."
    )
    return [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": user}]


class InstructNoteWriter:
    def __init__(
        self, backend: ChatBackend, validator: NoteValidator, note_max_tokens: int, embedder: TextEmbedder
    ) -> None:
        self.name = backend.name
        self._backend = backend
        self._validator = validator
        self._note_max_tokens = note_max_tokens
        self._embedder = embedder

    def write_notes(self, focus: str, chunks: Sequence[RetrievedChunk], max_notes: int) -> list[WrittenNote]:
        if not chunks:
            return []
        passages = focused_passages(self._embedder, focus, chunks)
        answer = self._backend.chat(
            notes_request(focus, passages, max_notes),
            max_tokens=int(self._note_max_tokens * max_notes * ANSWER_TOKEN_HEADROOM) + 8 * max_notes,
        )
        notes: list[WrittenNote] = []
        seen: set[str] = set()
        for cited, raw in _answer_lines(answer, len(passages)):
            text = self._validator.clean(raw)
            if not text or normalized(text) in seen:
                continue
            source = cited if cited is not None else _grounding_passage(text, passages)
            if source is None or not is_grounded(text, passages[source], MIN_GROUNDED_SHARE):
                continue
            seen.add(normalized(text))
            notes.append(WrittenNote(text, (chunks[source].chunk_id,)))
            if len(notes) == max_notes:
                break
        return notes

    def close(self) -> None:
        self._backend.close()


def _answer_lines(answer: str, passage_count: int) -> list[tuple[int | None, str]]:
    """(passage index or None, note text) for each line of the answer that looks like a note."""
    lines: list[tuple[int | None, str]] = []
    for line in answer.splitlines():
        if cited := _CITED_LINE.match(line):
            index = int(cited.group(1)) - 1
            lines.append((index if 0 <= index < passage_count else None, cited.group(2)))
        elif bullet := _BULLET_LINE.match(line):
            lines.append((None, bullet.group(1)))
    return lines


def _grounding_passage(note: str, passages: Sequence[str]) -> int | None:
    """The first passage that grounds ``note``, for a note that cites none."""
    return next((i for i, passage in enumerate(passages) if is_grounded(note, passage, MIN_GROUNDED_SHARE)), None)
