"""One attempt at a memory request: retrieve, have the writer write notes, commit them.

The same code runs under the in-process queue (worker.py) and under Celery workers
(celery_queue.py). A request is claimed first, so a copy that was superseded,
finished, or delivered twice (at least once) is skipped. Notes have content-derived
ids and commit with the request's status in one transaction, so a retry or a second
delivery never duplicates a note.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cloud.datastore import RetrievedChunk
from cloud.memory.memory_log import MemoryLog, NewNote
from cloud.writers.note_writer import NoteWriter
from cloud.writers.quotes import quotes_by_chunk
from shared.protocol import MemoryRequest, NoteSource, RequestStatus
from shared.settings import CloudSettings

logger = logging.getLogger(__name__)
RETRY_BACKOFF_STEP_S = 0.1  # times the attempts so far, capped at 5 steps
RETRY_BACKOFF_MAX_STEPS = 5


class ChunkSearch(Protocol):
    def search_text(self, text: str, k: int) -> list[RetrievedChunk]: ...

    def chunk_count(self) -> int: ...


@dataclass(frozen=True)
class Attempt:
    status: RequestStatus | None  # None: nothing to do (superseded, finished, or another worker has it)
    retry_in_s: float | None = None  # set when the attempt failed and the request should be tried again


class MemoryRequestProcessor:
    def __init__(self, log: MemoryLog, datastore: ChunkSearch, writer: NoteWriter, settings: CloudSettings) -> None:
        self.log = log
        self.datastore = datastore
        self.writer = writer
        self.settings = settings
        self.before_commit: Callable[[str], None] | None = None  # a seam for crash tests

    def attempt(self, tenant: str, request_id: str) -> Attempt:
        """Claim the request and try it once; a failure says when to retry, or fails the request."""
        if not self.log.claim(request_id):
            return Attempt(None)
        _, request = self.log.request(request_id)
        try:
            notes = self._write_notes(request)
            if self.before_commit:
                self.before_commit(request_id)
            status = self.log.commit_request(request_id, tenant, notes)
        except Exception as exc:  # noqa: BLE001  # any failure of one attempt is the request's, not the worker's
            return self._failed(request_id, f"{type(exc).__name__}: {exc}")
        assert status.finished_at is not None  # committed
        latency_ms = (status.finished_at - status.created_at).total_seconds() * 1000
        logger.info(
            "memory request %s of %s: %d new note(s), version %s, %.0f ms after it was accepted",
            request_id,
            tenant,
            status.notes_added,
            status.version,
            latency_ms,
        )
        return Attempt(status)

    def _write_notes(self, request: MemoryRequest) -> list[NewNote]:
        focus = retrieval_focus(request, self.settings.retrieval_context_chars)
        chunks = self.datastore.search_text(focus, self.settings.top_k_chunks)
        by_id = {chunk.chunk_id: chunk for chunk in chunks}
        written = self.writer.write_notes(focus, chunks, self.settings.notes_per_request)
        cited = [chunk for chunk in chunks if any(chunk.chunk_id in note.chunk_ids for note in written)]
        quotes = quotes_by_chunk(focus, cited, self.settings.quote_max_chars)

        def source(chunk_id: int) -> NoteSource:
            chunk = by_id[chunk_id]
            return NoteSource(
                chunk_id=chunk_id, path=chunk.path, start=chunk.start, end=chunk.end, quotes=quotes.get(chunk_id, [])
            )

        return [NewNote(note.text, tuple(source(i) for i in note.chunk_ids)) for note in written]

    def _failed(self, request_id: str, error: str) -> Attempt:
        status = self.log.request_status(request_id)
        if status.attempts >= self.settings.max_attempts:
            logger.error("memory request %s failed after %d attempts: %s", request_id, status.attempts, error)
            self.log.mark_failed(request_id, error)
            return Attempt(self.log.request_status(request_id))
        self.log.mark_queued(request_id, error)
        wait = min(status.attempts, RETRY_BACKOFF_MAX_STEPS) * RETRY_BACKOFF_STEP_S
        return Attempt(self.log.request_status(request_id), retry_in_s=wait)


def retrieval_focus(request: MemoryRequest, context_chars: int) -> str:
    """What retrieval reads: the query, then the end of the context (the text near the cursor)."""
    tail = request.context[-context_chars:]
    if len(request.context) > context_chars and " " in tail:
        tail = tail.split(" ", 1)[1]  # start at a word
    return f"{request.query}\n{tail}" if request.query else tail
