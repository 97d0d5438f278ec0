"""How long the writer must pause before a suggestion is asked for.

It starts near 75 ms and adapts, as Tabby's and Kilo Code's completions do: to the
writer's own rhythm (a pause is a gap clearly longer than their usual one between
keys) and to the engine (when first tokens come slowly, asking on every short pause
only queues work the next key cancels).
"""

import time

from shared.settings import ComposeSettings

TYPING_GAP_LIMIT_S = 1.5  # longer gaps are pauses or thinking, not the writer's typing rhythm
SMOOTHING = 0.2  # weight of the newest sample in the moving averages


class AdaptiveDebounce:
    def __init__(self, settings: ComposeSettings) -> None:
        self._settings = settings
        self._last_key_at: float | None = None
        self.typing_gap_ms: float | None = None
        self.first_token_ms: float | None = None

    @property
    def delay_s(self) -> float:
        s = self._settings
        wanted = s.debounce_initial_ms
        if self.typing_gap_ms is not None:
            wanted = s.debounce_typing_factor * self.typing_gap_ms
        if self.first_token_ms is not None:
            wanted = max(wanted, s.debounce_latency_factor * self.first_token_ms)
        return min(max(wanted, s.debounce_min_ms), s.debounce_max_ms) / 1000

    def key_pressed(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._last_key_at is not None and (gap := now - self._last_key_at) < TYPING_GAP_LIMIT_S:
            self.typing_gap_ms = _smoothed(self.typing_gap_ms, gap * 1000)
        self._last_key_at = now

    def suggestion_served(self, first_token_ms: float) -> None:
        self.first_token_ms = _smoothed(self.first_token_ms, first_token_ms)


def _smoothed(average: float | None, sample: float) -> float:
    return sample if average is None else (1 - SMOOTHING) * average + SMOOTHING * sample
