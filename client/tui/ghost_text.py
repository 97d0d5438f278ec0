"""What the ghost text after the cursor is, for any text before it.

A suggestion is a completion anchored at the text it continued. The same completion
stays right while the writer types through it or backspaces inside it, so the ghost
for a new prefix is worked out here instead of asking the model again; finished
completions are kept by anchor, so retyping a deleted word finds its old suggestion.
"""

from collections import OrderedDict
from dataclasses import dataclass

from shared.safe_text import terminal_safe

ANCHOR_TAIL_CHARS = 256  # the cache keys an anchor by its length and last characters, then checks it whole


@dataclass(frozen=True)
class AnchoredCompletion:
    anchor: str  # the text before the cursor the model continued
    completion: str = ""

    def ghost_for(self, prefix: str) -> str | None:
        """The rest of the completion after ``prefix``, or None if ``prefix`` left it."""
        typed = len(prefix) - len(self.anchor)
        if typed < 0 or typed > len(self.completion):
            return None
        if not prefix.endswith(self.completion[:typed]) or not prefix.startswith(self.anchor):
            return None
        return self.completion[typed:]

    def extended(self, piece: str) -> "AnchoredCompletion":
        return AnchoredCompletion(self.anchor, self.completion + displayable(piece))


def displayable(piece: str) -> str:
    """Model output as ghost text: nothing a terminal would act on, and one line only."""
    return terminal_safe(piece).split("\n", 1)[0].replace("\t", " ")


def first_word(ghost: str) -> str:
    """The ghost's leading white space and next word (with its punctuation): what one-word accept inserts."""
    stripped = ghost.lstrip()
    end = len(ghost) - len(stripped)
    while end < len(ghost) and not ghost[end].isspace():
        end += 1
    return ghost[:end]


class SuggestionCache:
    """Finished completions by anchor, least recently used dropped first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[int, str], AnchoredCompletion] = OrderedDict()
        self._longest_completion = 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, completion: AnchoredCompletion) -> None:
        if self._capacity == 0 or not completion.completion:
            return
        key = _key(completion.anchor, len(completion.anchor))
        self._entries[key] = completion
        self._entries.move_to_end(key)
        self._longest_completion = max(self._longest_completion, len(completion.completion))
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def ghost_for(self, prefix: str) -> tuple[AnchoredCompletion, str] | None:
        """A cached completion whose anchor ``prefix`` extends by some of its own text, and its ghost."""
        for typed in range(min(self._longest_completion, len(prefix)) + 1):
            entry = self._entries.get(_key(prefix, len(prefix) - typed))
            if entry is None:
                continue
            ghost = entry.ghost_for(prefix)
            if ghost:
                self._entries.move_to_end(_key(entry.anchor, len(entry.anchor)))
                return entry, ghost
        return None


def _key(text: str, length: int) -> tuple[int, str]:
    return length, text[max(0, length - ANCHOR_TAIL_CHARS) : length]
