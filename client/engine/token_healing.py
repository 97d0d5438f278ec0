"""Token healing: let the model re-spell the writer's unfinished word.

A writer who pauses after "It has a wide " or inside "The function retur" leaves the
text ending in tokens the model rarely saw in training (a lone space, or " ret" +
"ur"). Healing backs the prompt up to the start of that word and makes the first
generated tokens spell the removed text again, then lets the model go on freely:
the suggestion then completes "retur" as the model would have written " return".
"""

import bisect
import re
from collections.abc import Sequence

import numpy as np

# A piece that can be part of a word being typed: letters, digits or underscores,
# perhaps after one leading space (the start of the word), or a lone space.
_WORD_PIECE = re.compile(rb"^ ?\w*$")


class Vocabulary:
    """Every token's text as bytes, sorted, to find tokens by prefix quickly."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = list(pieces)
        order = sorted((piece, token) for token, piece in enumerate(self.pieces) if piece)
        self._sorted_pieces = [piece for piece, _ in order]
        self._sorted_tokens = np.array([token for _, token in order], dtype=np.int64)

    def starting_with(self, prefix: bytes) -> np.ndarray:
        """Tokens whose text starts with ``prefix`` (``prefix`` itself included): one sorted range."""
        low = bisect.bisect_left(self._sorted_pieces, prefix)
        if prefix and prefix[-1] < 0xFF:
            # Everything that starts with the prefix sorts below the prefix with its last byte + 1.
            high = bisect.bisect_left(self._sorted_pieces, prefix[:-1] + bytes([prefix[-1] + 1]), lo=low)
        else:
            high = low
            while high < len(self._sorted_pieces) and self._sorted_pieces[high].startswith(prefix):
                high += 1
        return self._sorted_tokens[low:high]

    def proper_prefixes_of(self, text: bytes) -> list[int]:
        """Tokens whose text is a shorter, non-empty prefix of ``text``."""
        found = []
        for length in range(1, len(text)):
            head = text[:length]
            at = bisect.bisect_left(self._sorted_pieces, head)
            while at < len(self._sorted_pieces) and self._sorted_pieces[at] == head:
                found.append(int(self._sorted_tokens[at]))
                at += 1
        return found


def split_unfinished_word(tokens: Sequence[int], vocabulary: Vocabulary, max_tokens: int) -> tuple[list[int], bytes]:
    """Split ``tokens`` into the prompt to evaluate and the text of the word being typed.

    Backs up over at most ``max_tokens`` word pieces, stopping after the piece that
    starts the word (a leading space); the first token (BOS) always stays.
    """
    cut = len(tokens)
    while cut > 1 and len(tokens) - cut < max_tokens:
        piece = vocabulary.pieces[tokens[cut - 1]]
        if not piece or not _WORD_PIECE.match(piece):
            break
        cut -= 1
        if piece.startswith(b" "):
            break
    healed = b"".join(vocabulary.pieces[token] for token in tokens[cut:])
    return list(tokens[:cut]), healed


def healing_step(logits: np.ndarray, vocabulary: Vocabulary, remaining: bytes) -> tuple[int, bytes, bytes]:
    """Choose the most likely token that agrees with the text still to re-spell.

    Returns the token, the part of its text that is new (goes to the suggestion) and
    the text still to re-spell afterwards.
    """
    candidates = np.concatenate(
        [vocabulary.starting_with(remaining), np.array(vocabulary.proper_prefixes_of(remaining), dtype=np.int64)]
    )
    token = int(candidates[np.argmax(logits[candidates])])
    piece = vocabulary.pieces[token]
    if len(piece) < len(remaining):
        return token, b"", remaining[len(piece) :]
    return token, piece[len(remaining) :], b""
