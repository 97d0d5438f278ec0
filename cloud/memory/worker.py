"""The memory worker: for each request, retrieve chunks, have the writer write notes, commit them.

At least once: a request is stored before it is acknowledged, and a request that was
queued or running when the process stopped is queued again on start. A failed
attempt is retried up to ``max_attempts``. Notes have content-derived ids and commit
with the request's status in one transaction, so a retry never duplicates a note.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from cloud.datastore import Datastore
from cloud.memory.memory_log import MemoryLog, NewNote
from cloud.memory.request_queue import QueueFull, TenantFairQueue
from cloud.writers.note_writer import NoteWriter
from shared.protocol import MemoryRequest, NoteSource, RequestStatus
from shared.settings import CloudSettings

logger = logging.getLogger(__name__)

LATENCY_WINDOW = 1000  # recent requests the latency metric is computed over
QUEUE_POLL_S = 0.5
RETRY_BACKOFF_STEP_S = 0.1  # times the attempts so far, capped at 5 steps


class MemoryWorker:
    def __init__(self, log: MemoryLog, datastore: Datastore, writer: NoteWriter, settings: CloudSettings) -> None:
        self.log = log
        self.datastore = datastore
        self.writer = writer
        self.settings = settings
        self.queue = TenantFairQueue(settings.queue_max_tenants)
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.before_commit: Callable[[str], None] | None = None  # a seam for crash tests
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
                except Exception:  # noqa: BLE001  # the worker outlives any one request
                    logger.exception("memory request %s could not be processed", item[1])

    def process(self, tenant: str, request_id: str) -> RequestStatus:
        """One attempt at a request: retrieve, write, commit; a failure is retried or recorded."""
        self.log.mark_running(request_id)
        _, request = self.log.request(request_id)
        try:
            notes = self._write_notes(request)
            if self.before_commit:
                self.before_commit(request_id)
            status = self.log.commit_request(request_id, tenant, notes)
        except Exception as exc:  # noqa: BLE001  # any failure of one attempt is the request's, not the worker's
            return self._attempt_failed(tenant, request_id, f"{type(exc).__name__}: {exc}")
        latency_ms = (status.finished_at - status.created_at).total_seconds() * 1000
        self.latencies_ms.append(latency_ms)
        logger.info("memory request %s of %s: %d new note(s), version %s, %.0f ms after it was accepted",
                    request_id, tenant, status.notes_added, status.version, latency_ms)
        return status

    def _write_notes(self, request: MemoryRequest) -> list[NewNote]:
        focus = retrieval_focus(request, self.settings.retrieval_context_chars)
        chunks = self.datastore.search_text(focus, self.settings.top_k_chunks)
        by_id = {chunk.chunk_id: chunk for chunk in chunks}
        written = self.writer.write_notes(focus, chunks, self.settings.notes_per_request)
        return [
            NewNote(
                note.text,
                tuple(NoteSource(chunk_id=i, path=by_id[i].path, start=by_id[i].start, end=by_id[i].end)
                      for i in note.chunk_ids),
            )
            for note in written
        ]

    def _attempt_failed(self, tenant: str, request_id: str, error: str) -> RequestStatus:
        status = self.log.request_status(request_id)
        if status.attempts >= self.settings.max_attempts:
            logger.error("memory request %s failed after %d attempts: %s", request_id, status.attempts, error)
            self.log.mark_failed(request_id, error)
        else:
            time.sleep(min(status.attempts, 5) * RETRY_BACKOFF_STEP_S)
            self.log.mark_queued(request_id, error)
            newer = self.queue.retry(tenant, request_id)
            if newer:
                self.log.mark_superseded(request_id, newer)
        return self.log.request_status(request_id)


def retrieval_focus(request: MemoryRequest, context_chars: int) -> str:
    """What retrieval reads: the query, then the end of the context (the text near the cursor)."""
    tail = request.context[-context_chars:]
    if len(request.context) > context_chars and " " in tail:
        tail = tail.split(" ", 1)[1]  # start at a word
    return f"{request.query}\n{tail}" if request.query else tail
