"""The cloud memory service: datastore, memory log, tokens, writer and worker, wired once.

The API and the CLI both build one of these from settings; nothing else knows how
the parts fit together.
"""

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cloud.auth import TokenStore
from cloud.datastore import Datastore
from cloud.datastore.background_ingest import BackgroundIngest
from cloud.memory.memory_log import MemoryLog
from cloud.memory.processor import MemoryRequestProcessor
from cloud.memory.worker import MemoryWorker
from cloud.writers import make_writer
from cloud.writers.note_writer import NoteWriter
from shared.embeddings import TextEmbedder, chunk_embedder
from shared.protocol import IndexingProgress, MemoryRequest, Metrics, RequestStatus
from shared.settings import Settings, WriterKind

PERCENTILE_CUTS = 20  # statistics.quantiles(n=20): index 9 is p50, index 18 is p95
LATENCY_WINDOW = 1000  # the requests done last that the latency metric covers


class RequestDispatcher(Protocol):
    """Where the API hands memory requests: the in-process worker, or Celery over Redis."""

    def submit(self, tenant: str, request: MemoryRequest) -> RequestStatus: ...
    def depth(self) -> int: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


class CloudService:
    """API side. With ``cloud.queue = "memory"`` it also writes notes; with Redis the workers do."""

    def __init__(
        self,
        settings: Settings,
        writer_kind: WriterKind | None = None,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or chunk_embedder(settings)
        self.datastore = Datastore(settings.cloud.data_dir, settings.cloud, self.embedder)
        self.log = MemoryLog.open(settings.cloud)
        self.tokens = TokenStore.open(settings.cloud)
        self.writer: NoteWriter | None = None
        self.background_ingest: BackgroundIngest | None = None
        self.dispatcher: RequestDispatcher
        if settings.cloud.uses_redis_queue:
            from cloud.memory.celery_queue import CeleryDispatcher  # celery only where it is used

            self.dispatcher = CeleryDispatcher(self.log, settings.cloud)
        else:
            self.writer = make_writer(settings, writer_kind)
            processor = MemoryRequestProcessor(self.log, self.datastore, self.writer, settings.cloud)
            self.dispatcher = MemoryWorker(processor, settings.cloud)

    @property
    def writes_notes(self) -> bool:
        return self.writer is not None

    def warm_up(self) -> None:
        """Load the embedding model now (seconds), not on the first request; only where notes are written."""
        if self.writes_notes:
            self.embedder.embed_one("warm up")

    def ingest_in_background(self, folder: Path, after_group: Callable[[], None] | None = None) -> BackgroundIngest:
        """Fill the datastore from ``folder`` while the API serves (deltas carry the progress)."""
        self.background_ingest = BackgroundIngest(self.datastore, folder, after_group)
        self.background_ingest.start()
        return self.background_ingest

    @property
    def indexing(self) -> IndexingProgress | None:
        return self.background_ingest.progress if self.background_ingest is not None else None

    def start(self) -> None:
        self.dispatcher.start()

    def stop(self) -> None:
        if self.background_ingest is not None:
            self.background_ingest.stop()
        self.dispatcher.stop()
        if self.writer is not None:
            self.writer.close()
        for part in (self.datastore, self.log, self.tokens):
            part.close()

    def metrics(self) -> Metrics:
        latencies = self.log.recent_latencies_ms(LATENCY_WINDOW)
        cuts = statistics.quantiles(latencies, n=PERCENTILE_CUTS) if len(latencies) >= 2 else None
        return Metrics(
            queue_depth=self.dispatcher.depth(),
            requests=self.log.request_counts(),
            notes=self.log.live_note_count(),
            tenants=self.log.tenant_count(),
            chunks=self.datastore.chunk_count(),
            request_latency_ms_p50=cuts[9] if cuts else (latencies[0] if latencies else None),
            request_latency_ms_p95=cuts[18] if cuts else (latencies[0] if latencies else None),
        )


def worker_processor(settings: Settings, writer_kind: WriterKind | None = None) -> MemoryRequestProcessor:
    """What a Celery worker process runs: datastore, log and writer, no API."""
    datastore = Datastore(settings.cloud.data_dir, settings.cloud, chunk_embedder(settings))
    writer = make_writer(settings, writer_kind)
    return MemoryRequestProcessor(MemoryLog.open(settings.cloud), datastore, writer, settings.cloud)
