"""The memory worker's queue: bounded, one pending request per tenant, tenants in turn.

A tenant that sends a new request while its previous one still waits replaces it
(the latest context wins), so a flood from one tenant is one entry. Tenants are
served round-robin, so one busy or slow tenant never starves the others.
"""

import threading
from collections import OrderedDict

from shared.errors import HybridRAGError


class QueueFull(HybridRAGError):
    """Too many tenants are waiting; the caller should retry later."""


class TenantFairQueue:
    def __init__(self, max_tenants: int) -> None:
        self._max_tenants = max_tenants
        self._pending: OrderedDict[str, str] = OrderedDict()  # tenant -> request id, in turn order
        self._changed = threading.Condition()
        self._closed = False

    def put(self, tenant: str, request_id: str) -> str | None:
        """Queue a request; returns the id of the request it replaced, if any."""
        with self._changed:
            replaced = self._pending.get(tenant)
            if replaced is None and len(self._pending) >= self._max_tenants:
                raise QueueFull(f"The memory queue is full ({self._max_tenants} tenants waiting). Retry later.")
            self._pending[tenant] = request_id  # a replaced request keeps its tenant's place in turn
            self._changed.notify()
            return replaced

    def retry(self, tenant: str, request_id: str) -> str | None:
        """Queue a failed request again, unless a newer one of its tenant waits: then return that one's id."""
        with self._changed:
            newer = self._pending.get(tenant)
            if newer is None:
                self._pending[tenant] = request_id
                self._changed.notify()
            return newer

    def get(self, timeout: float | None = None) -> tuple[str, str] | None:
        """The next (tenant, request id) in turn, or None on timeout or once closed."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._pending or self._closed, timeout):
                return None
            if self._closed:
                return None
            return self._pending.popitem(last=False)

    def depth(self) -> int:
        with self._changed:
            return len(self._pending)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
