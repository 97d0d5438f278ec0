"""The in-process memory worker: the embedded default's queue and threads.

At least once: a request is stored before it is acknowledged, and a request that was
queued or running when the process stopped is queued again on start. Each request
runs through the shared processor (processor.py); a failed attempt goes back in
the queue after a short backoff, unless a newer request of its tenant waits.
"""

import logging
import threading
import time

from cloud.memory.memory_log import MemoryLog
from cloud.memory.processor import MemoryRequestProcessor
from cloud.memory.request_queue import QueueFull, TenantFairQueue
from shared.protocol import MemoryRequest, RequestStatus
from shared.settings import CloudSettings

logger = logging.getLogger(__name__)
QUEUE_POLL_S = 0.5


class MemoryWorker:
    def __init__(self, processor: MemoryRequestProcessor, settings: CloudSettings) -> None:
        self.processor = processor
        self.log: MemoryLog = processor.log
        self.settings = settings
        self.queue = TenantFairQueue(settings.queue_max_tenants)
        self._submit_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def submit(self, tenant: str, request: MemoryRequest) -> RequestStatus:
        """Store a request and queue it; a request of the tenant still waiting is superseded."""
        with self._submit_lock:
            status = self.log.create_request(tenant, request)
            try:
                replaced = self.queue.put(tenant, status.request_id)
            except QueueFull as full:
                self.log.mark_failed(status.request_id, str(full))
                raise
            if replaced:
                self.log.mark_superseded(replaced, status.request_id)
        return status

    def depth(self) -> int:
        return self.queue.depth()

    def recover(self) -> int:
        """Queue again every request left unfinished by an earlier process; how many were."""
        unfinished = self.log.unfinished_requests()
        for tenant, request_id in unfinished:
            self.log.mark_queued(request_id, "interrupted by a restart; retried")
            replaced = self.queue.put(tenant, request_id)
            if replaced:
                self.log.mark_superseded(replaced, request_id)
        return len(unfinished)

    def start(self) -> None:
        self.recover()
        for number in range(self.settings.worker_threads):
            thread = threading.Thread(target=self._run, name=f"memory-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self.queue.close()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _run(self) -> None:
        while not self._stopping.is_set():
            item = self.queue.get(timeout=QUEUE_POLL_S)
            if item:
                try:
                    self.process(*item)
                except Exception:  # the worker outlives any one request
                    logger.exception("memory request %s could not be processed", item[1])

    def process(self, tenant: str, request_id: str) -> RequestStatus | None:
        """One attempt; a failure is queued again after its backoff (or superseded by a newer request)."""
        attempt = self.processor.attempt(tenant, request_id)
        if attempt.retry_in_s is not None:
            time.sleep(attempt.retry_in_s)
            newer = self.queue.retry(tenant, request_id)
            if newer:
                self.log.mark_superseded(request_id, newer)
            return self.log.request_status(request_id)
        return attempt.status
