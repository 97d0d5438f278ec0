"""Sync against the real cloud API on loopback: pages, resync, refusals, outages, the background loop."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.memory.local_memory import LocalMemory
from client.sync.cloud_client import CloudClient, CloudRefused, CloudUnavailable
from client.sync.memory_sync import BackgroundSync, SyncReport, SyncState, sync_memory
from cloud.local_server import LocalServer, free_loopback_port
from cloud.service import CloudService
from shared.embeddings import SentenceEmbedder
from shared.protocol import MemoryDelta, MemoryNote, RequestState, RequestStatus
from shared.settings import ClientSettings, Settings, WriterKind

CONTEXTS = [
    "How do I remove an item from a list by its index?",
    "What does a for loop iterate over?",
    "How do instances of a class get created?",
]
WAIT_S = 60


def _client(server: LocalServer, tenant: str = "alice", **options: int) -> CloudClient:
    return CloudClient(
        server.url, server.service.tokens.create(tenant), timeout_s=30, max_retries=int(options.get("max_retries", 1))
    )


def _wait_done(cloud: CloudClient, request_id: str) -> RequestStatus:
    deadline = time.monotonic() + WAIT_S
    while (status := cloud.request_status(request_id)).state in (RequestState.QUEUED, RequestState.RUNNING):
        assert time.monotonic() < deadline, "the memory request did not finish"
        time.sleep(0.05)
    return status


@pytest.fixture
def memory(tmp_path: Path, query_embedder) -> Iterator[LocalMemory]:
    opened = LocalMemory(tmp_path / "memory", query_embedder, ivf_threshold=50_000)
    yield opened
    opened.close()


def test_sync_pulls_every_page_and_then_nothing(cloud_server: LocalServer, memory: LocalMemory) -> None:
    cloud_server.service.settings.cloud.delta_page_notes = 2  # several pages for a few requests
    cloud = _client(cloud_server)
    for context in CONTEXTS:
        assert _wait_done(cloud, cloud.request_memory(context).request_id).state is RequestState.DONE
    report = sync_memory(cloud, memory)
    server_notes = cloud.memory_delta(0)
    assert report.pages > 1 and report.to_version == memory.version == 3
    assert {note.note_id for note in memory.notes()} == {
        note.note_id for note in cloud_server.service.log.live_notes("alice")
    }
    assert not report.resynced and len(report.added) == memory.note_count
    again = sync_memory(cloud, memory)
    assert (again.pages, again.added, again.removed, again.to_version) == (1, (), (), 3)
    assert server_notes.latest_version == 3
    cloud.close()


def test_a_cloud_behind_the_local_memory_is_resynced_from_zero(cloud_server: LocalServer, memory: LocalMemory) -> None:
    stray = MemoryNote(note_id="f" * 32, version=99, text="A note the reset cloud no longer has.", sources=[])
    memory.apply_delta(MemoryDelta(since=0, version=99, latest_version=99, added=[stray], removed=[], has_more=False))
    cloud = _client(cloud_server)
    _wait_done(cloud, cloud.request_memory(CONTEXTS[0]).request_id)
    report = sync_memory(cloud, memory)
    assert report.resynced and report.removed == (stray.note_id,) and memory.version == 1
    assert stray.note_id not in {note.note_id for note in memory.notes()} and memory.note_count >= 1
    cloud.close()


def test_a_cloud_reset_to_the_same_version_is_noticed_by_its_epoch(
    cloud_settings: Settings, embedder: SentenceEmbedder, memory: LocalMemory
) -> None:
    def served(service: CloudService, context: str) -> Iterator[CloudClient]:
        with LocalServer(service) as server:
            cloud = CloudClient(server.url, service.tokens.create("alice"), timeout_s=30, max_retries=0)
            _wait_done(cloud, cloud.request_memory(context).request_id)
            yield cloud
            cloud.close()

    first = CloudService(cloud_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)
    for cloud in served(first, CONTEXTS[0]):
        sync_memory(cloud, memory)
    first_epoch, first_version = memory.epoch, memory.version
    assert first_epoch == first.log.epoch and first_version == 1
    for leftover in cloud_settings.cloud.data_dir.glob("memory.sqlite*"):  # the reset: a new memory log
        leftover.unlink()
    second = CloudService(cloud_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)
    for cloud in served(second, CONTEXTS[2]):
        assert second.log.version("alice") == first_version  # the same number: only the epoch tells them apart
        report = sync_memory(cloud, memory)
        assert report.resynced and memory.epoch == second.log.epoch != first_epoch
        assert {note.note_id for note in memory.notes()} == {note.note_id for note in second.log.live_notes("alice")}


def test_a_rejected_token_says_how_to_log_in(cloud_server: LocalServer, memory: LocalMemory) -> None:
    cloud = CloudClient(cloud_server.url, "hrt_not-a-token", timeout_s=5, max_retries=3)
    with pytest.raises(CloudRefused, match="hybridrag login"):
        sync_memory(cloud, memory)
    cloud.close()


def test_an_unreachable_cloud_is_retried_with_growing_waits_then_reported(memory: LocalMemory) -> None:
    waits: list[float] = []
    cloud = CloudClient(
        f"http://127.0.0.1:{free_loopback_port()}", "token", timeout_s=2, max_retries=3, sleep=waits.append
    )
    with pytest.raises(CloudUnavailable, match="4 tries .*Suggestions go on from local memory"):
        sync_memory(cloud, memory)
    assert len(waits) == 3 and waits[0] < 0.6 and waits[2] > waits[0]
    assert memory.version == 0
    cloud.close()


def test_the_background_loop_requests_polls_syncs_and_reports_outages(
    cloud_server: LocalServer, memory: LocalMemory
) -> None:
    settings = ClientSettings(sync_interval_s=0.2, request_poll_interval_s=0.05, sync_max_backoff_s=0.5)
    synced: list[SyncReport] = []
    finished: list[RequestStatus | None] = []
    loop = BackgroundSync(_client(cloud_server), memory, settings, synced.append, finished.append)
    loop.start()
    try:
        loop.send_request(CONTEXTS[1])
        _wait_for(lambda: synced and finished, "the request's notes to arrive")
        assert finished[0] is not None and finished[0].state is RequestState.DONE
        assert loop.status.state is SyncState.SYNCED and loop.status.version == memory.version == 1
        assert loop.status.notes == memory.note_count > 0 and loop.status.pending_request is None
        cloud_server.__exit__(None, None, None)  # the cloud goes away
        _wait_for(lambda: loop.status.state is SyncState.OFFLINE, "the loop to notice the outage")
        assert loop.status.offline_since is not None and "did not answer" in (loop.status.last_error or "")
        assert memory.version == 1  # nothing lost
    finally:
        loop.stop()


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
