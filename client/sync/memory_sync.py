"""Bringing the local memory up to the cloud's: one sync, and the background loop.

A sync asks for the delta since the local version, page by page, and applies each
page atomically, so an interrupted sync resumes from the last whole page. When the
cloud says it is behind the local memory (its data was reset), the client resyncs
from version 0 and replaces its memory in one step.

The background loop is the client's one network thread. It syncs every
``sync_interval_s``, right after a memory request it sent has finished, and on
demand; it sends the coordinator's memory requests. Suggestions never wait on it.
"""

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from client.memory.local_memory import AppliedDelta, EpochChanged, LocalMemory, LocalNote, OverlappingDeltaError
from client.sync.cloud_client import CloudClient, CloudRefused, CloudUnavailable, VersionAhead
from shared.errors import HybridRAGError
from shared.protocol import IndexingProgress, MemoryNote, RequestState, RequestStatus
from shared.retry import backoff_delay
from shared.settings import ClientSettings

logger = logging.getLogger(__name__)
FINISHED_STATES = {RequestState.DONE, RequestState.FAILED, RequestState.SUPERSEDED}
FIRST_RETRY_S = 2.0  # after the first failed sync; doubling from there up to sync_max_backoff_s


@dataclass(frozen=True)
class SyncReport(AppliedDelta):
    """Every page of one sync, applied, taken together."""

    pages: int
    resynced: bool  # the cloud was behind the local memory, which was replaced by the cloud's
    seconds: float
    cloud_indexing: IndexingProgress | None = None  # the service was still filling its datastore


def sync_memory(client: CloudClient, memory: LocalMemory) -> SyncReport:
    """Pull and apply every page of the delta since the local version."""
    started = time.perf_counter()
    from_version = memory.version
    added: list[LocalNote] = []
    removed: list[str] = []
    pages = 0
    indexing: IndexingProgress | None = None
    try:
        while True:
            delta = client.memory_delta(memory.version)
            indexing = delta.indexing
            try:
                applied = memory.apply_delta(delta)
            except OverlappingDeltaError:
                continue  # another process (a `hybridrag sync` beside the TUI) moved the memory meanwhile
            pages += 1
            added += applied.added
            removed += applied.removed
            if not delta.has_more:
                break
    except (VersionAhead, EpochChanged):  # the cloud's log was reset: its memory replaces ours in one step
        replaced, pages = _resync_from_zero(client, memory)
        return SyncReport(
            from_version,
            replaced.to_version,
            replaced.added,
            replaced.removed,
            pages,
            True,
            time.perf_counter() - started,
        )
    return SyncReport(
        from_version,
        memory.version,
        tuple(added),
        tuple(removed),
        pages,
        False,
        time.perf_counter() - started,
        indexing,
    )


def _resync_from_zero(client: CloudClient, memory: LocalMemory) -> tuple[AppliedDelta, int]:
    live: dict[str, MemoryNote] = {}
    since, pages, epoch = 0, 0, None
    while True:
        delta = client.memory_delta(since)
        pages += 1
        epoch = delta.epoch
        for note_id in delta.removed:
            live.pop(note_id, None)
        live.update((note.note_id, note) for note in delta.added)
        since = delta.version
        if not delta.has_more:
            break
    return memory.replace_all(list(live.values()), since, epoch), pages


class SyncState(StrEnum):
    NEVER = "not synced yet"
    SYNCING = "syncing"
    SYNCED = "synced"
    OFFLINE = "offline"
    REFUSED = "refused"  # the cloud said no (a bad token, a bad URL): waiting for the writer to fix it


@dataclass(frozen=True)
class SyncStatus:
    state: SyncState = SyncState.NEVER
    version: int = 0
    notes: int = 0
    last_sync_at: datetime | None = None
    offline_since: datetime | None = None
    last_error: str | None = None
    pending_request: str | None = None
    cloud_indexing: IndexingProgress | None = None  # as of the last sync: the cloud is still filling its datastore


@dataclass
class _Work:
    """What the loop has been asked to do; guarded by the loop's condition."""

    sync_due_at: float = 0.0
    request_context: str | None = None
    pending_request: str | None = None
    poll_due_at: float = 0.0
    failures: int = 0
    stopping: bool = False
    status: SyncStatus = field(default_factory=SyncStatus)


class BackgroundSync:
    def __init__(
        self,
        client: CloudClient,
        memory: LocalMemory,
        settings: ClientSettings,
        on_synced: Callable[[SyncReport], None] | None = None,
        on_request_finished: Callable[[RequestStatus | None], None] | None = None,
    ) -> None:
        self._client = client
        self._memory = memory
        self._settings = settings
        self._on_synced = on_synced
        self._on_request_finished = on_request_finished
        self._wake = threading.Condition()
        self._work = _Work(status=SyncStatus(version=memory.version, notes=memory.note_count))
        self._thread = threading.Thread(target=self._run, name="memory-sync", daemon=True)

    @property
    def status(self) -> SyncStatus:
        with self._wake:
            return self._work.status

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._work.stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join()

    def sync_now(self) -> None:
        with self._wake:
            self._work.sync_due_at = 0.0
            self._work.failures = 0
            self._wake.notify()

    def send_request(self, context: str) -> None:
        """Ask the cloud for notes on ``context`` (a newer ask replaces one not yet sent)."""
        with self._wake:
            self._work.request_context = context
            self._wake.notify()

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                work = self._work
                while not work.stopping and not self._has_work_due(work):
                    self._wake.wait(timeout=self._seconds_to_next(work))
                if work.stopping:
                    return
                context = None
                if self._send_due(work):
                    context, work.request_context = work.request_context, None
                poll = work.pending_request is not None and time.monotonic() >= work.poll_due_at
                sync = time.monotonic() >= work.sync_due_at
            if context is not None:
                self._send(context)
            if poll:
                self._poll()
            if sync:
                self._sync()

    def _has_work_due(self, work: _Work) -> bool:
        now = time.monotonic()
        return (
            self._send_due(work)
            or now >= work.sync_due_at
            or (work.pending_request is not None and now >= work.poll_due_at)
        )

    @staticmethod
    def _send_due(work: _Work) -> bool:
        """A request waits out the backoff while the cloud is failing; only the newest is kept meanwhile."""
        return work.request_context is not None and (work.failures == 0 or time.monotonic() >= work.sync_due_at)

    def _seconds_to_next(self, work: _Work) -> float:
        due = [work.sync_due_at] + ([work.poll_due_at] if work.pending_request else [])
        return max(0.0, min(due) - time.monotonic())

    def _send(self, context: str) -> None:
        try:
            accepted = self._client.request_memory(context)
        except HybridRAGError as exc:
            self._record_failure(exc)
            self._request_finished(None)
            return
        with self._wake:
            self._work.pending_request = accepted.request_id
            self._work.poll_due_at = time.monotonic() + self._settings.request_poll_interval_s
            self._update_status(pending_request=accepted.request_id)

    def _poll(self) -> None:
        with self._wake:
            request_id = self._work.pending_request
        if request_id is None:
            return
        try:
            status = self._client.request_status(request_id)
        except CloudUnavailable as exc:  # keep waiting for it, at the pace of the sync's backoff
            self._record_failure(exc)
            with self._wake:
                self._work.poll_due_at = self._work.sync_due_at
            return
        except HybridRAGError:  # the cloud no longer knows it (its data was reset): stop waiting
            status = None
        with self._wake:
            if status is None or status.state in FINISHED_STATES:
                if self._work.pending_request == request_id:
                    self._work.pending_request = None
                    self._update_status(pending_request=None)
                if status is not None and status.state is RequestState.DONE:
                    self._work.sync_due_at = 0.0  # its notes are there: sync at once
            else:
                self._work.poll_due_at = time.monotonic() + self._settings.request_poll_interval_s
        if status is None or status.state in FINISHED_STATES:
            self._request_finished(status)

    def _sync(self) -> None:
        with self._wake:
            self._update_status(state=SyncState.SYNCING)
        try:
            report = sync_memory(self._client, self._memory)
        except HybridRAGError as exc:
            self._record_failure(exc)
            return
        except Exception as exc:
            logger.exception("memory sync failed")
            self._record_failure(exc)
            return
        with self._wake:
            self._work.failures = 0
            self._work.sync_due_at = time.monotonic() + self._settings.sync_interval_s
            self._update_status(
                state=SyncState.SYNCED,
                version=report.to_version,
                notes=self._memory.note_count,
                last_sync_at=datetime.now(UTC),
                offline_since=None,
                last_error=None,
                cloud_indexing=report.cloud_indexing,
            )
        if report.changed and self._on_synced is not None:
            self._on_synced(report)

    def _record_failure(self, exc: Exception) -> None:
        """Back off: doubling waits with jitter, capped; a refusal waits the longest."""
        with self._wake:
            work = self._work
            work.failures += 1
            refused = isinstance(exc, CloudRefused)
            longest = self._settings.sync_max_backoff_s
            wait = longest if refused else backoff_delay(work.failures, min(FIRST_RETRY_S, longest), longest)
            work.sync_due_at = time.monotonic() + wait
            offline = isinstance(exc, CloudUnavailable)
            self._update_status(
                state=SyncState.OFFLINE if offline else SyncState.REFUSED if refused else work.status.state,
                offline_since=(work.status.offline_since or datetime.now(UTC)) if offline else None,
                last_error=str(exc),
            )

    def _update_status(self, **changes: object) -> None:
        self._work.status = dataclasses.replace(self._work.status, **changes)  # type: ignore[arg-type]

    def _request_finished(self, status: RequestStatus | None) -> None:
        if self._on_request_finished is not None:
            self._on_request_finished(status)
