"""The memory worker on real parts: at-least-once, idempotent retries, fallback, coalescing."""

import pytest

from cloud.memory.worker import MemoryWorker
from cloud.service import CloudService
from shared.protocol import MemoryRequest, RequestState, RequestStatus
from shared.settings import CloudSettings, Settings, WriterKind

CONTEXT = MemoryRequest(context="Lists have a few more methods. To remove an item from a list given its index")


class SimulatedCrash(BaseException):
    """The process dying: nothing after it runs, nothing in flight commits."""


@pytest.fixture(params=["sqlite", "postgresql"])
def cloud_settings(request: pytest.FixtureRequest, cloud_settings: Settings) -> Settings:
    """Every worker test with the memory log in SQLite, then in PostgreSQL."""
    if request.param == "sqlite":
        return cloud_settings
    from cloud.local_services import fresh_postgres_database

    url = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    return cloud_settings.model_copy(update={"cloud": cloud_settings.cloud.model_copy(update={"database_url": url})})


def _worker(service: CloudService) -> MemoryWorker:
    """The service's in-process worker (the tests run with the in-memory queue)."""
    assert isinstance(service.dispatcher, MemoryWorker)
    return service.dispatcher


def _process_next(service: CloudService | MemoryWorker) -> RequestStatus | None:
    """Take the next queued request and attempt it, as one worker thread would."""
    worker = service if isinstance(service, MemoryWorker) else _worker(service)
    job = worker.queue.get(0)
    assert job is not None, "nothing was queued"
    return worker.process(*job)


def _service(settings: Settings, embedder, **cloud: object) -> CloudService:
    cloud_settings = CloudSettings.model_validate(settings.cloud.model_dump() | cloud)
    return CloudService(settings.model_copy(update={"cloud": cloud_settings}), embedder=embedder)


@pytest.mark.parametrize("writer", [WriterKind.EXTRACTIVE, pytest.param(WriterKind.EMBEDDED, marks=pytest.mark.slow)])
def test_a_crash_between_the_answer_and_the_commit_is_retried_without_duplicates(
    cloud_settings, embedder, writer
) -> None:
    if writer is WriterKind.EMBEDDED and cloud_settings.cloud.database_url:
        pytest.skip("the embedded writer's same notes for the same context do not depend on the log's database")
    service = _service(cloud_settings, embedder, llm=writer, fallback_to_extractive=False)
    accepted = service.dispatcher.submit("alice", CONTEXT)

    def crash(_: str) -> None:
        raise SimulatedCrash

    _worker(service).processor.before_commit = crash
    with pytest.raises(SimulatedCrash):
        _process_next(service)
    assert service.log.status("alice", accepted.request_id).state is RequestState.RUNNING
    assert service.log.version("alice") == 0

    _worker(service).processor.before_commit = None
    restarted = MemoryWorker(_worker(service).processor, service.settings.cloud)
    assert restarted.recover() == 1
    done = _process_next(restarted)
    assert (done.state, done.attempts, done.version) == (RequestState.DONE, 2, 1)
    assert done.notes_added >= 1
    notes = service.log.live_notes("alice")

    again = restarted.submit("alice", CONTEXT)  # the same context once more: the same notes
    repeat = _process_next(restarted)
    assert repeat.request_id == again.request_id and repeat.notes_added == 0 and repeat.version == 1
    assert service.log.live_notes("alice") == notes
    assert all(note.sources and note.sources[0].path.endswith(".rst.txt") for note in notes)


def test_an_unreachable_llm_falls_back_to_extractive_notes(cloud_settings, embedder) -> None:
    unreachable = {"base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "timeout_s": 2}
    service = _service(cloud_settings, embedder, llm=WriterKind.OPENAI, openai=unreachable)
    service.dispatcher.submit("alice", CONTEXT)
    done = _process_next(service)
    assert done.state is RequestState.DONE and done.notes_added >= 1


def test_without_fallback_a_failing_request_is_retried_then_failed(cloud_settings, embedder) -> None:
    unreachable = {"base_url": "http://127.0.0.1:9/v1", "max_retries": 0, "timeout_s": 2}
    service = _service(
        cloud_settings,
        embedder,
        llm=WriterKind.OPENAI,
        openai=unreachable,
        fallback_to_extractive=False,
        max_attempts=2,
    )
    accepted = service.dispatcher.submit("alice", CONTEXT)
    first = _process_next(service)
    assert first.state is RequestState.QUEUED and "did not answer" in str(first.error)
    second = _process_next(service)
    assert second.request_id == accepted.request_id
    assert (second.state, second.attempts) == (RequestState.FAILED, 2)
    assert "cloud.openai.base_url" in str(second.error)


def test_a_tenants_waiting_request_is_superseded_by_its_next(cloud_settings, embedder) -> None:
    service = _service(cloud_settings, embedder, llm=WriterKind.EXTRACTIVE)
    older = service.dispatcher.submit("alice", MemoryRequest(context="How do classes work?"))
    newer = service.dispatcher.submit("alice", CONTEXT)
    service.dispatcher.submit("bob", MemoryRequest(context="What does a for loop iterate over?"))
    status = service.log.status("alice", older.request_id)
    assert (status.state, status.superseded_by) == (RequestState.SUPERSEDED, newer.request_id)
    assert _worker(service).queue.depth() == 2
