"""The cloud memory service: datastore, memory log, tokens, writer and worker, wired once.

The API and the CLI both build one of these from settings; nothing else knows how
the parts fit together.
"""

import statistics

from cloud.auth import TokenStore
from cloud.datastore import Datastore
from cloud.memory.memory_log import MemoryLog
from cloud.memory.worker import MemoryWorker
from cloud.writers import make_writer
from shared.embeddings import SentenceEmbedder
from shared.protocol import Metrics
from shared.settings import Settings, WriterKind

PERCENTILE_CUTS = 20  # statistics.quantiles(n=20): index 9 is p50, index 18 is p95


class CloudService:
    def __init__(
        self,
        settings: Settings,
        writer_kind: WriterKind | None = None,
        embedder: SentenceEmbedder | None = None,
    ) -> None:
        self.settings = settings
        folder = settings.cloud.data_dir
        self.embedder = embedder or SentenceEmbedder.for_cloud(settings)
        self.datastore = Datastore(folder, settings.cloud, self.embedder)
        self.log = MemoryLog.open(settings.cloud)
        self.tokens = TokenStore.open(settings.cloud)
        self.writer = make_writer(settings, self.embedder, writer_kind)
        self.worker = MemoryWorker(self.log, self.datastore, self.writer, settings.cloud)

    def warm_up(self) -> None:
        """Load the embedding model now (seconds), not on the first request."""
        self.embedder.embed_one("warm up")

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()
        self.writer.close()
        for part in (self.datastore, self.log, self.tokens):
            part.close()

    def metrics(self) -> Metrics:
        latencies = list(self.worker.latencies_ms)
        cuts = statistics.quantiles(latencies, n=PERCENTILE_CUTS) if len(latencies) >= 2 else None
        return Metrics(
            queue_depth=self.worker.queue.depth(),
            requests=self.log.request_counts(),
            notes=self.log.live_note_count(),
            tenants=self.log.tenant_count(),
            chunks=self.datastore.chunk_count(),
            request_latency_ms_p50=cuts[9] if cuts else (latencies[0] if latencies else None),
            request_latency_ms_p95=cuts[18] if cuts else (latencies[0] if latencies else None),
        )
