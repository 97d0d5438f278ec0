"""The memory service serves while it ingests: notes from what is indexed, progress in every delta.

The ingest is held after its first committed group of files by a gate, so what the
service says mid-ingest is checked at a known point, never at a lucky moment.
"""

import threading
import time
from pathlib import Path

import pytest

from client.sync.cloud_client import CloudClient
from cloud.datastore import Datastore
from cloud.local_server import LocalServer
from cloud.service import CloudService
from shared.embeddings import SentenceEmbedder
from shared.protocol import RequestState
from shared.settings import CloudSettings, Settings, WriterKind, load_settings

WAIT_S = 120
CONTEXT = "Classes provide a means of bundling data and functionality together. Creating a new class creates"


class IngestKilled(Exception):
    """The service process dying after a commit: the next start must go on from there."""


@pytest.fixture
def fresh_settings(tmp_path: Path, model_cache: Path) -> Settings:
    """An empty data folder; small embedding batches, so the three chapters commit as several groups."""
    return load_settings(cache_dir=model_cache, cloud={"data_dir": tmp_path / "cloud", "embed_batch_size": 4})


def clean_chunk_count(ingested_data: Path, embedder: SentenceEmbedder) -> int:
    store = Datastore(ingested_data, CloudSettings(data_dir=ingested_data), embedder)
    try:
        return store.chunk_count()
    finally:
        store.close()


def test_requests_are_answered_mid_ingest_and_deltas_carry_the_progress(
    fresh_settings: Settings, cloud_corpus: Path, ingested_data: Path, embedder
) -> None:
    service = CloudService(fresh_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)
    token = service.tokens.create("alice")
    held, release = threading.Event(), threading.Event()

    def hold_after_the_first_group() -> None:
        if not held.is_set():
            held.set()
            release.wait(WAIT_S)

    with LocalServer(service) as server:
        client = CloudClient(server.url, token, timeout_s=30, max_retries=0)
        ingest = service.ingest_in_background(cloud_corpus, after_group=hold_after_the_first_group)
        try:
            assert held.wait(WAIT_S), "the first group of files was never committed"
            indexing = client.memory_delta(0).indexing
            assert indexing is not None and indexing.phase == "embedding"
            assert 1 <= indexing.files_done < indexing.files_total == 3
            assert 0 < service.datastore.chunk_count()

            accepted = client.request_memory(CONTEXT)  # answered from what is indexed so far
            deadline = time.monotonic() + WAIT_S
            while (status := client.request_status(accepted.request_id)).state in (
                RequestState.QUEUED,
                RequestState.RUNNING,
            ):
                assert time.monotonic() < deadline, "the request was never answered"
                time.sleep(0.05)
            assert status.state is RequestState.DONE and (status.notes_added or 0) >= 1
        finally:
            release.set()
        assert ingest.wait(WAIT_S) and ingest.error is None
        assert client.memory_delta(0).indexing is None  # done: deltas no longer mention it
        assert service.datastore.chunk_count() == clean_chunk_count(ingested_data, embedder)
        client.close()


def test_a_killed_background_ingest_keeps_what_it_committed_and_the_next_start_goes_on(
    fresh_settings: Settings, cloud_corpus: Path, ingested_data: Path, embedder
) -> None:
    service = CloudService(fresh_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)

    def die_after_the_first_group() -> None:
        raise IngestKilled

    ingest = service.ingest_in_background(cloud_corpus, after_group=die_after_the_first_group)
    assert ingest.wait(WAIT_S) and ingest.error is not None and "IngestKilled" in ingest.error
    committed = service.datastore.chunk_count()
    assert 0 < committed < clean_chunk_count(ingested_data, embedder)
    service.stop()

    restarted = CloudService(fresh_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)
    resumed = restarted.ingest_in_background(cloud_corpus)
    assert resumed.wait(WAIT_S) and resumed.report is not None
    assert resumed.report.unchanged >= 1  # the committed file is not embedded again
    assert restarted.datastore.chunk_count() == clean_chunk_count(ingested_data, embedder)
    restarted.stop()


def test_serve_refuses_an_ingest_it_could_not_use(tmp_path: Path) -> None:
    from tests.test_cli import hybridrag

    run = hybridrag(
        "cloud", "serve", "--ingest", str(tmp_path / "missing"), "--data-dir", str(tmp_path / "data"), cache=tmp_path
    )
    assert run.returncode == 2 and "Not a folder" in run.stderr and "--ingest" in run.stderr
