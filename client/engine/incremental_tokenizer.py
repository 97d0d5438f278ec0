"""Tokenizing the writer's text on every keystroke without re-reading all of it.

Whole-text tokenization costs 2.4 ms at 840 tokens and 104 ms at 29k tokens on 2
cores (scripts/bench_engine.py): too much per keystroke. The text is cut into sentences and lines, each
piece's tokens are cached, and only the piece being edited is tokenized again.

That is exact only where no token can span a cut. llama.cpp's SPM tokenizer only
merges into vocabulary pieces, so for an SPM vocabulary in which no piece contains
a newline followed by a non-space, or a sentence end followed by a space, the cuts
below are safe for any text. Other vocabularies fall back to whole-text tokenization.
"""

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

# Cut before a line that starts with a non-space, and between a sentence end and the
# space after it.
_CUT = re.compile(r"(?<=\n)(?=\S)|(?<=[.!?])(?= \S)")
_PIECE_SPANNING_A_CUT = re.compile(rb"\n\S|[.!?] ")
CACHED_PIECES = 8192  # sentences and lines; a 120 KB document has about 1,500


def cuts_are_token_stable(is_spm: bool, pieces: Sequence[bytes]) -> bool:
    """True if tokenizing the cut pieces one by one gives the whole text's tokens."""
    return is_spm and not any(_PIECE_SPANNING_A_CUT.search(piece) for piece in pieces)


class IncrementalTokenizer:
    """Tokenizes text piece by piece, from a cache of the pieces seen before."""

    def __init__(self, tokenize_piece: Callable[[str], list[int]], bos: list[int], cuts_are_safe: bool) -> None:
        self._tokenize_piece = tokenize_piece
        self._bos = bos
        self.cuts_are_safe = cuts_are_safe
        self._cache: OrderedDict[str, list[int]] = OrderedDict()
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> list[int]:
        if not self.cuts_are_safe:
            return self._bos + self._tokenize_piece(text)
        tokens = list(self._bos)
        with self._lock:
            for piece in _CUT.split(text):
                cached = self._cache.get(piece)
                if cached is None:
                    cached = self._cache[piece] = self._tokenize_piece(piece)
                    if len(self._cache) > CACHED_PIECES:
                        self._cache.popitem(last=False)
                else:
                    self._cache.move_to_end(piece)
                tokens.extend(cached)
        return tokens
