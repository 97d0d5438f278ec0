"""What every memory writer does, and the checks every note passes before it is kept.

Writers turn retrieved chunks into short, self-contained notes. LLM output is
untrusted: a note is cleaned of control sequences, and dropped when empty, too short,
runaway, repetitive, copied from the prompt's examples, or not grounded in its passage.
"""

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cloud.datastore import RetrievedChunk
from cloud.llm.backend import LLMUnavailable
from shared.protocol import MAX_NOTE_CHARS
from shared.safe_text import terminal_safe

logger = logging.getLogger(__name__)

MIN_NOTE_WORDS = 4
REPEAT_NGRAM = 4  # a 4-word run said twice in one short note is a model looping
MIN_DISTINCT_WORD_SHARE = 0.5
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class WrittenNote:
    text: str
    chunk_ids: tuple[int, ...]


class NoteWriter(Protocol):
    name: str

    def write_notes(self, focus: str, chunks: Sequence[RetrievedChunk], max_notes: int) -> list[WrittenNote]:
        """Up to ``max_notes`` notes from ``chunks`` that help a writer working on ``focus``."""
        ...

    def close(self) -> None: ...


def normalized(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


class NoteValidator:
    def __init__(self, max_tokens: int, count_tokens: Callable[[str], int], examples: Iterable[str] = ()) -> None:
        self._max_tokens = max_tokens
        self._count_tokens = count_tokens
        self._examples = {normalized(example) for example in examples}

    def clean(self, raw: str) -> str | None:
        """The note ``raw`` as it should be kept, or None when it should not be."""
        text = " ".join(_BULLET.sub("", terminal_safe(raw)).split()).strip(" \"'")
        if self._count_tokens(text) > self._max_tokens:
            text = self._shortened(text)
        text = _without_dangling_lead_in(text)
        words = _WORD.findall(text.casefold())
        if len(words) < MIN_NOTE_WORDS or len(text) > MAX_NOTE_CHARS or normalized(text) in self._examples:
            return None
        if _is_repetitive(words):
            return None
        return text

    def _shortened(self, text: str) -> str:
        """Whole sentences that fit the token limit; nothing if even the first does not (runaway text)."""
        kept = ""
        for sentence in _SENTENCE_END.split(text):
            candidate = f"{kept} {sentence}".strip()
            if self._count_tokens(candidate) > self._max_tokens:
                break
            kept = candidate
        return kept


def _without_dangling_lead_in(text: str) -> str:
    """Drop a last sentence that ends in ':' ("For example:"): what it introduces is not in the note."""
    sentences = _SENTENCE_END.split(text)
    while sentences and sentences[-1].rstrip().endswith(":"):
        sentences.pop()
    return " ".join(sentences)


def _is_repetitive(words: list[str]) -> bool:
    ngrams = [tuple(words[i : i + REPEAT_NGRAM]) for i in range(len(words) - REPEAT_NGRAM + 1)]
    if len(set(ngrams)) < len(ngrams):
        return True
    return len(words) >= 8 and len(set(words)) / len(words) < MIN_DISTINCT_WORD_SHARE


def is_grounded(note: str, passage: str, min_share: float) -> bool:
    """True when most of the note's content words occur in the passage (a guard against invention)."""
    content = [w for w in _WORD.findall(note.casefold()) if len(w) > 3]
    if not content:
        return False
    source = set(_WORD.findall(passage.casefold()))
    return sum(w in source for w in content) / len(content) >= min_share


class FallbackNoteWriter:
    """The primary writer; the fallback when the primary's LLM is unreachable."""

    def __init__(self, primary: NoteWriter, fallback: NoteWriter) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = f"{primary.name} (falls back to {fallback.name})"

    def write_notes(self, focus: str, chunks: Sequence[RetrievedChunk], max_notes: int) -> list[WrittenNote]:
        try:
            return self.primary.write_notes(focus, chunks, max_notes)
        except LLMUnavailable as exc:
            logger.warning(
                "memory writer %s unavailable, writing %s notes instead: %s", self.primary.name, self.fallback.name, exc
            )
            return self.fallback.write_notes(focus, chunks, max_notes)

    def close(self) -> None:
        self.primary.close()
        self.fallback.close()
