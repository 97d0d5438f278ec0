"""Filling the datastore while the memory service already serves.

A fresh service would otherwise make the writer wait for the whole corpus to be
embedded before the editor opens. Here the API starts at once and the ingest runs in a
thread of its own: memory requests meanwhile are answered from what is indexed so far
(every committed group of files is searchable), and each delta tells clients how far
indexing has got. A kill loses nothing committed: the next ingest skips every file
whose text is already in (ingest is incremental by content hash).
"""

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from cloud.datastore.datastore import Datastore, IngestReport
from shared.protocol import IndexingProgress

logger = logging.getLogger(__name__)


class _Stopped(Exception):
    """Raised between committed groups when the service stops: the rest waits for the next start."""


class BackgroundIngest:
    """One ingest of ``folder`` in a daemon thread, with its progress for the API to report."""

    def __init__(self, datastore: Datastore, folder: Path, after_group: Callable[[], None] | None = None) -> None:
        self._datastore = datastore
        self._folder = folder
        self._after_group = after_group  # a seam for tests: runs after each committed group of files
        self._lock = threading.Lock()
        self._phase = "starting"
        self._done = 0
        self._total = 0
        self._running = False
        self._stopping = False
        self.report: IngestReport | None = None  # set when it has finished
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="background-ingest", daemon=True)

    def start(self) -> None:
        with self._lock:
            self._running = True
        self._thread.start()

    def stop(self) -> None:
        """Stop after the group being embedded is committed, and wait for it."""
        with self._lock:
            self._stopping = True
        if self._thread.is_alive():
            self._thread.join()

    def wait(self, timeout_s: float | None = None) -> bool:
        """True once the ingest has finished (or failed)."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def progress(self) -> IndexingProgress | None:
        """How far the ingest has got; None when none runs (finished, failed or never started)."""
        with self._lock:
            if not self._running:
                return None
            return IndexingProgress(phase=self._phase, files_done=self._done, files_total=self._total)

    # IngestProgress, called from the ingest thread
    def phase(self, description: str, total: int) -> None:
        with self._lock:
            self._phase, self._done, self._total = description, 0, total

    def advance(self, done: int) -> None:
        with self._lock:
            self._done += done
            if self._stopping:
                raise _Stopped
            committed = self._phase == "embedding"
        if committed and self._after_group is not None:
            self._after_group()

    def _run(self) -> None:
        try:
            self.report = self._datastore.ingest(self._folder, self)
            logger.info(
                "background ingest of %s done: %d files embedded, %d unchanged, %d chunks in %.1f s",
                self._folder,
                self.report.added + self.report.updated,
                self.report.unchanged,
                self.report.chunks_total,
                self.report.seconds,
            )
        except _Stopped:
            logger.info("background ingest of %s stopped; the next start goes on from there", self._folder)
        except Exception as exc:  # the API keeps serving what is indexed; the log says why
            self.error = f"{type(exc).__name__}: {exc}"
            logger.exception("background ingest of %s failed: notes come from what was indexed", self._folder)
        finally:
            with self._lock:
                self._running = False
