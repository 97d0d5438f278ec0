"""When to ask the cloud for new memory: the writer's context has drifted.

Drift is measured against the context last sent, two ways: characters changed
(everything after the longest common prefix, on either side: an upper bound of the
edit distance that costs one pass, and exact for the usual typing at the end) and
the embedding distance of the text near the cursor. Requests are rate-limited, and
none is sent while one for nearly the same context is still pending.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.settings import ClientSettings


@dataclass(frozen=True)
class _Sent:
    context: str
    vector: np.ndarray
    at: float


def common_prefix_length(a: str, b: str) -> int:
    """Binary search over slice comparisons: C speed, for whole documents on every pause."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def changed_chars(before: str, after: str) -> int:
    """Characters that differ, after the longest common prefix of the two texts."""
    common = common_prefix_length(before, after)
    return (len(before) - common) + (len(after) - common)


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine, for normalized vectors."""
    return 1.0 - float(np.dot(a, b))


class MemoryRequestCoordinator:
    """Decides; sending is the sync loop's job, so deciding never waits on the network."""

    def __init__(self, settings: ClientSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._delivered: _Sent | None = None  # the last context the cloud wrote notes for: drift is measured from it
        self._last_attempt_at: float | None = None
        self._pending: _Sent | None = None

    @property
    def pending(self) -> bool:
        with self._lock:
            return self._pending_is_live()

    def should_request(self, context: str, vector: np.ndarray) -> bool:
        """True if ``context`` should be sent now; it is then recorded as sent and pending."""
        settings = self._settings
        if len(context.strip()) < settings.min_request_context_chars:
            return False
        now = self._clock()
        with self._lock:
            pending = self._pending
            if pending is not None and self._pending_is_live() and self._is_near(pending, vector):
                return False
            if self._last_attempt_at is not None and now - self._last_attempt_at < settings.min_request_interval_s:
                return False
            delivered = self._delivered
            if delivered is not None:
                drifted = (
                    changed_chars(delivered.context, context) >= settings.drift_changed_chars
                    or embedding_distance(delivered.vector, vector) >= settings.drift_embedding_distance
                )
                if not drifted:
                    return False
            self._record_sent(context, vector, now)
            return True

    def request_sent_by_writer(self, context: str, vector: np.ndarray) -> None:
        """The writer asked for notes on ``context`` themselves: it is pending like one decided here."""
        with self._lock:
            self._record_sent(context, vector, self._clock())

    def _record_sent(self, context: str, vector: np.ndarray, now: float) -> None:
        self._pending = _Sent(context, vector, now)
        self._last_attempt_at = now

    def request_finished(self, delivered: bool) -> None:
        """The pending request ended: with notes written (``delivered``), or failed, or never sent."""
        with self._lock:
            if delivered and self._pending is not None:
                self._delivered = self._pending
            self._pending = None

    def _pending_is_live(self) -> bool:
        pending = self._pending
        return pending is not None and self._clock() - pending.at < self._settings.pending_request_timeout_s

    def _is_near(self, sent: _Sent, vector: np.ndarray) -> bool:
        return embedding_distance(sent.vector, vector) < self._settings.drift_embedding_distance
