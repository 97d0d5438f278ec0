"""Where a suggestion ends: at a sentence end, a newline, or the token limit, never mid-word.

Fed one decoded piece per generated token; it says how much of each piece belongs to
the suggestion and when the suggestion is complete. Pure logic, no model.
"""

import re
from dataclasses import dataclass
from enum import StrEnum


class StopReason(StrEnum):
    SENTENCE = "sentence"
    NEWLINE = "newline"
    LENGTH = "length"
    END_OF_TEXT = "eos"
    CANCELLED = "cancelled"
    CONTEXT_FULL = "context_full"
    LOOP = "loop"  # the model began to say again what the suggestion already said


@dataclass(frozen=True)
class BoundaryRules:
    max_tokens: int = 16
    word_completion_tokens: int = 4
    stop_at_sentence_end: bool = True
    stop_at_newline: bool = True


# A sentence ends at . ! ? (and any closing quotes or brackets) followed by white space,
# after at least one word of the suggestion itself.
_SENTENCE_END = re.compile(r"\w[^\s]*?[.!?][\"')\]]*(?=\s)")


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class SuggestionBoundary:
    """Accumulates a suggestion piece by piece and decides where it stops."""

    def __init__(self, rules: BoundaryRules) -> None:
        self.rules = rules
        self.text = ""
        self.tokens = 0
        self.stop_reason: StopReason | None = None

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def tokens_left(self) -> int:
        """The most tokens the suggestion can still take (a word cut by the limit may use its allowance)."""
        return max(1, self.rules.max_tokens + self.rules.word_completion_tokens - self.tokens)

    def push(self, piece: str) -> str:
        """Add one token's text; return the part of it that belongs to the suggestion."""
        if self.done:
            return ""
        self.tokens += 1
        start = len(self.text)
        candidate = self.text + piece

        if self.rules.stop_at_newline and "\n" in piece:
            return self._finish(candidate[: start + piece.index("\n")], StopReason.NEWLINE, start)
        if self.rules.stop_at_sentence_end:
            # The text before this piece holds no finished sentence (we would have
            # stopped), so the first match is new: often the white space that closes
            # a sentence arrives with the token after its full stop.
            match = _SENTENCE_END.search(candidate)
            if match:
                return self._finish(candidate[: match.end()], StopReason.SENTENCE, start)

        over_limit = self.tokens >= self.rules.max_tokens
        if over_limit and self.tokens > self.rules.max_tokens and piece[:1] and not _is_word_char(piece[0]):
            # Finishing a word cut by the limit: the next word begins, so end before it.
            return self._finish(self.text, StopReason.LENGTH, start)
        self.text = candidate
        if over_limit:
            ends_word = not candidate or not _is_word_char(candidate[-1])
            if ends_word:
                return self._finish(candidate, StopReason.LENGTH, start)
            if self.tokens >= self.rules.max_tokens + self.rules.word_completion_tokens:
                # The word did not end in time: drop its unfinished part.
                cut = max(candidate.rfind(" "), candidate.rfind("\t"))
                return self._finish(candidate[: max(cut, 0)], StopReason.LENGTH, start)
        return piece

    def end(self, reason: StopReason) -> None:
        """Stop for a reason outside the text (end of text, cancellation, full context)."""
        if not self.done:
            self.stop_reason = reason
            self.text = self.text.rstrip()

    def cut(self, length: int, reason: StopReason) -> None:
        """Stop, keeping only the first ``length`` characters (what came before a repeat)."""
        if not self.done:
            self.text = self.text[:length].rstrip()
            self.stop_reason = reason

    def _finish(self, text: str, reason: StopReason, start: int) -> str:
        self.text = text.rstrip()
        self.stop_reason = reason
        return self.text[start:]
