"""The whole loop, real parts end to end.

Python docs ingested → the cloud serves on loopback → the writer's context → the
coordinator asks → the worker writes notes → the client syncs → the engine's prompt
holds those notes → a suggestion. Then the cloud stops: suggestions go on from local
memory. It restarts: sync resumes from the right version, nothing lost or duplicated.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from client.assistant import CompositionAssistant
from client.engine import SuggestionEngine
from client.memory.local_memory import LocalMemory
from client.sync.cloud_client import CloudClient
from client.sync.memory_sync import SyncState
from cloud.local_server import LocalServer
from cloud.service import CloudService
from shared.settings import EngineSettings, Settings, WriterKind

pytestmark = pytest.mark.slow
WAIT_S = 120
LISTS = (
    "The list data type has some more methods. Here are all of the methods of list objects. "
    "You can add an item to the end of the list, insert an item at a given position, or remove "
    "the first item from the list whose value is equal to x. To delete an item given its index, "
)
CLASSES = (
    "Classes provide a means of bundling data and functionality together. Creating a new class "
    "creates a new type of object, allowing new instances of that type to be made. When a class "
    "defines an __init__ method, class instantiation "
)


class CountingCloudClient(CloudClient):
    """The real client, counting the HTTP calls it makes (to see that an outage is not hammered)."""

    def __init__(self, *args: object, **options: object) -> None:
        super().__init__(*args, **options)  # type: ignore[arg-type]
        self.calls = 0

    def _call(self, *args: object, **options: object):
        self.calls += 1
        return super()._call(*args, **options)  # type: ignore[arg-type]


def _wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def loop_engine(model_cache: Path) -> Iterator[SuggestionEngine]:
    loaded = SuggestionEngine(EngineSettings(), model_cache)
    yield loaded
    loaded.close()


def test_the_whole_loop_survives_a_cloud_outage(
    cloud_settings: Settings,
    embedder,
    query_embedder,
    loop_engine: SuggestionEngine,
    tmp_path: Path,
) -> None:
    service = CloudService(cloud_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)
    token = service.tokens.create("writer")
    server = LocalServer(service).__enter__()
    client_settings = cloud_settings.client.model_copy(
        update={
            "sync_interval_s": 0.3,
            "request_poll_interval_s": 0.05,
            "sync_max_backoff_s": 0.5,
            "min_request_interval_s": 0.0,
            "min_request_context_chars": 100,
            "reselect_after_chars": 1,
            "timeout_s": 5.0,
            "max_retries": 0,
        }
    )
    settings = cloud_settings.model_copy(update={"client": client_settings})
    memory = LocalMemory(tmp_path / "memory", query_embedder, ivf_threshold=50_000)
    cloud = CountingCloudClient(server.url, token, timeout_s=5, max_retries=0)
    assistant = CompositionAssistant(settings, loop_engine, query_embedder, memory, cloud)
    assistant.start()
    try:
        # The first context is sent; the worker's notes come down and reach the prompt.
        first = assistant.suggest(LISTS)
        assert first.suggestion.text and first.notes == ()  # answered at once, from empty memory
        _wait_for(lambda: assistant.chosen_block.notes, "the first notes to sync and be chosen")
        assert loop_engine.wait_for_memory(timeout_s=WAIT_S)
        grounded = assistant.suggest(LISTS)
        assert grounded.notes and grounded.suggestion.memory_tokens > 0
        assert all(" ".join(note.text.split()) in loop_engine.active_memory for note in grounded.notes)
        assert {source.path.rsplit("/", 1)[-1] for note in grounded.notes for source in note.sources} & {
            "datastructures.rst.txt"
        }
        version_before_outage = memory.version

        # The cloud stops: suggestions go on from local memory.
        server.__exit__(None, None, None)
        _wait_for(lambda: assistant.sync_status.state is SyncState.OFFLINE, "the outage to show")
        during = assistant.suggest(LISTS + "you can use the del statement. ")
        assert during.suggestion.text is not None and during.notes
        offline = assistant.suggest(CLASSES)  # a new topic: the coordinator asks, the send fails, nothing blocks
        assert offline.suggestion.total_ms > 0 and memory.version == version_before_outage
        calls_before, outage_started = cloud.calls, time.monotonic()
        words = (CLASSES + LISTS).split()
        for n in range(30):  # the writer goes on typing: every suggestion is served, from the model and local notes
            served = assistant.suggest(" ".join(words[: 20 + n]) + " ")
            assert served.suggestion.first_token_ms is not None and served.suggestion.stop_reason != "cancelled"
        outage_s = time.monotonic() - outage_started
        # Backoff, not a storm: per backoff period at most a sync, the newest memory request, and a poll.
        assert cloud.calls - calls_before <= 3 * (outage_s / client_settings.sync_max_backoff_s + 1) + 2
        assert assistant.sync_status.state is SyncState.OFFLINE

        # The cloud comes back on the same port: sync resumes, and the new topic is asked for again.
        service = CloudService(cloud_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)
        server = LocalServer(service, port=server.port).__enter__()
        _wait_for(lambda: assistant.sync_status.state is SyncState.SYNCED, "sync to resume")
        assistant.suggest(CLASSES + "automatically invokes ")
        _wait_for(lambda: memory.version > version_before_outage, "notes for the new topic")
        _wait_for(
            lambda: (
                not assistant.coordinator.pending and assistant.sync_status.version == service.log.version("writer")
            ),
            "the last sync",
        )
        live = {note.note_id for note in service.log.live_notes("writer")}
        local = [note.note_id for note in memory.notes()]
        assert sorted(local) == sorted(live) and len(local) == len(set(local))  # nothing lost, nothing twice
        assert memory.version == service.log.version("writer")
    finally:
        assistant.close()
        server.__exit__(None, None, None)
        memory.close()
