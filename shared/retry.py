"""When and how long to wait before trying an HTTP call again (both sides use it).

Exponential backoff with jitter, so many clients that failed together do not retry
together; the statuses worth retrying are the transient ones.
"""

import random

RETRIED_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0


def backoff_delay(attempt: int, base_s: float = BACKOFF_BASE_S, max_s: float = BACKOFF_MAX_S) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    return min(max_s, base_s * 2 ** max(attempt - 1, 0)) * random.uniform(0.5, 1.0)


def retry_after_seconds(value: str | None, cap_s: float = BACKOFF_MAX_S) -> float | None:
    """A Retry-After header in seconds, capped; None if absent or a date we do not parse."""
    try:
        return min(cap_s, max(0.0, float(value))) if value else None
    except ValueError:
        return None
