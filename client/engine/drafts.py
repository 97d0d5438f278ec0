"""Drafts to verify in one batch: what a note, or the writer's own earlier text, says comes next.

When the last words before the cursor (an unfinished word included) also occur in a
note of the memory block, the words that follow them in the note are a draft of the
suggestion: an API name, an option, a phrase of the docs that the writer wants
verbatim. The same lookup in the writer's own text (prompt lookup) drafts repeated
phrases. The engine verifies a draft against the model in one batch; this module only
finds drafts. Pure logic, no model.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

_WORD_START = re.compile(r"(?<!\S)\S")
_DRAFT_END = re.compile(r"[.!?](?=\s|$)|\n")
_SENTENCE_START = re.compile(r"(?:[.!?:][\"')\]]*[ \t]+|\n\s*)$")
MAX_MATCH_WORDS = 12
TAIL_CHARS = 400  # how far back from the cursor a match may start


class DraftSource(StrEnum):
    MEMORY = "memory"  # a note: quoted even where the model alone would word it otherwise
    TEXT = "text"  # the writer's own earlier text: only what the model would write anyway


@dataclass(frozen=True)
class Draft:
    text: str  # what follows the match in the source: the suggestion to verify
    source: DraftSource
    match_chars: int  # how much of the text before the cursor matched


def notes_of(memory_block: str) -> list[str]:
    """The notes of a memory block as the engine lays it out (``- note`` lines)."""
    return [line[2:] for line in memory_block.splitlines() if line.startswith("- ")]


def at_sentence_start(before_cursor: str) -> bool:
    """True where a new sentence or line begins: nothing of it is typed yet, so nothing can match a note."""
    return bool(_SENTENCE_START.search(before_cursor[-TAIL_CHARS:]))


def find_draft(
    before_cursor: str,
    notes: list[str],
    min_match_chars: int,
    max_chars: int,
    earlier_text: str = "",
    to_sentence_end: bool = True,
) -> Draft | None:
    """The draft for ``before_cursor``: the longest match wins, notes before the writer's own text.

    The match is a run of whole words ending at the cursor, the unfinished word
    included, of at least ``min_match_chars`` characters that are not white space.
    The draft runs to the end of the sentence in its source (to the end of the line
    when ``to_sentence_end`` is off: a suggestion that goes on past a full stop can take
    the note's next sentence in the same batch), at most ``max_chars``.
    """
    tail = before_cursor[-TAIL_CHARS:]
    starts = [m.start() for m in _WORD_START.finditer(tail)][-MAX_MATCH_WORDS:]
    sources = [(note, DraftSource.MEMORY) for note in notes]
    if earlier_text:
        sources.append((earlier_text, DraftSource.TEXT))
    for start in starts:  # longest run first
        needle = tail[start:]
        if len("".join(needle.split())) < min_match_chars:
            return None
        for source, kind in sources:
            draft = _following(source, needle, max_chars, to_sentence_end)
            if draft:
                return Draft(draft, kind, len(needle))
    return None


def _to_sentence_end(rest: str) -> str:
    end = _DRAFT_END.search(rest)
    return rest[: end.end()] if end and end.group() != "\n" else rest[: end.start()] if end else rest


def _to_line_end(rest: str) -> str:
    return rest.split("\n", 1)[0]


def _following(source: str, needle: str, max_chars: int, to_sentence_end: bool = True) -> str:
    """What follows the first place ``needle`` ends a word run in ``source``, to the sentence's end or the line's."""
    cut = _to_sentence_end if to_sentence_end else _to_line_end
    at = source.find(needle)
    while at >= 0:
        if at == 0 or source[at - 1].isspace() or not needle[0].isalnum():
            rest = cut(source[at + len(needle) :][:max_chars])
            if rest.strip():
                return rest
        at = source.find(needle, at + 1)
    return ""
