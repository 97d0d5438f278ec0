"""How smooth the UI stays while a suggestion streams: the longest gap between event-loop ticks.

A timer asks to run every frame (60 Hz); Textual draws on the same loop, so a tick
that comes late is a frame that came late. Gaps are kept only while a suggestion
streams, which is when the model thread competes for the cores.
"""

import time
from collections import deque

FRAME_S = 1 / 60
KEPT_GAPS = 100_000  # about half an hour of streaming: a long session must not grow without bound


class FrameGapProbe:
    def __init__(self) -> None:
        self.streaming = False
        self.gaps_ms: deque[float] = deque(maxlen=KEPT_GAPS)  # while streaming, the newest
        self._last_tick: float | None = None

    def tick(self) -> None:
        now = time.perf_counter()
        if self.streaming and self._last_tick is not None:
            self.gaps_ms.append((now - self._last_tick) * 1000)
        self._last_tick = now

    @property
    def largest_gap_ms(self) -> float | None:
        return max(self.gaps_ms) if self.gaps_ms else None
