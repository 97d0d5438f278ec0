"""Scale-out on real parts: Redis carries memory requests to worker processes; the log is PostgreSQL.

The API runs on loopback; each worker is ``hybridrag cloud worker`` as a process of its
own, as on another machine (each with its own copy of the datastore).
"""

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from cloud.local_server import LocalServer, free_loopback_port, server_process
from cloud.local_services import fresh_postgres_database
from cloud.local_services import worker_process as local_worker
from cloud.service import CloudService
from shared.protocol import MemoryDelta, RequestState
from shared.settings import Settings
from tests.processes import hermetic_env

pytestmark = pytest.mark.slow
WAIT_S = 120
CONTEXTS = [
    "How do I remove an item from a list given its index?",
    "What does a for loop iterate over?",
    "How are instances of a class created?",
    "How do I loop over a dictionary's keys and values?",
    "What is a list comprehension?",
    "How do default argument values work?",
]


@pytest.fixture
def shared_settings(cloud_settings: Settings, redis_url: str, postgres_server_url: str) -> Settings:
    cloud = cloud_settings.cloud.model_copy(
        update={
            "queue": redis_url,
            "database_url": fresh_postgres_database(postgres_server_url),
            "queue_visibility_timeout_s": 3,
        }
    )
    return cloud_settings.model_copy(update={"cloud": cloud})


def database_url(settings: Settings) -> str:
    """The shared PostgreSQL database every process of a test uses."""
    assert settings.cloud.database_url is not None
    return settings.cloud.database_url


@contextmanager
def worker_process(
    settings: Settings, data: Path, model_cache: Path, llm: str = "extractive"
) -> Iterator[subprocess.Popen[str]]:
    """A worker reading its own copy of the datastore, like a worker on another machine."""
    if not data.exists():
        shutil.copytree(
            settings.cloud.data_dir, data, ignore=shutil.ignore_patterns("memory.sqlite*", "tokens.sqlite*")
        )
    env = hermetic_env(
        HYBRIDRAG_CACHE_DIR=str(model_cache),
        HYBRIDRAG_CONFIG=str(data / "absent.toml"),
        HYBRIDRAG_CLOUD__QUEUE_VISIBILITY_TIMEOUT_S=str(settings.cloud.queue_visibility_timeout_s),
    )
    with local_worker(settings.cloud.queue, database_url(settings), data, env, llm) as process:
        yield process


def _client(server_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _wait_states(http: httpx.Client, request_ids: list[str], states: set[str]) -> list[dict]:
    deadline = time.monotonic() + WAIT_S
    while True:
        statuses = [http.get(f"/v1/requests/{request_id}").json() for request_id in request_ids]
        if all(status["state"] in states for status in statuses):
            return statuses
        assert time.monotonic() < deadline, f"requests did not reach {states}: {statuses}"
        time.sleep(0.1)


def test_requests_flow_through_redis_to_several_worker_processes(
    shared_settings: Settings, embedder, model_cache: Path, tmp_path: Path
) -> None:
    # A held request must not be redelivered to the other worker while the test holds it.
    cloud = shared_settings.cloud.model_copy(update={"queue_visibility_timeout_s": WAIT_S})
    shared_settings = shared_settings.model_copy(update={"cloud": cloud})
    service = CloudService(shared_settings, embedder=embedder)
    assert not service.writes_notes  # the API process loads no writer
    tokens = {tenant: service.tokens.create(tenant) for tenant in ("alice", "bob", "carol")}
    with ExitStack() as stack:
        workers = [
            stack.enter_context(worker_process(shared_settings, tmp_path / f"worker-{i}", model_cache))
            for i in range(2)
        ]
        server = stack.enter_context(LocalServer(service))
        _hold_one_worker_and_let_the_other_answer(server.url, tokens, database_url(shared_settings))
        ids: dict[str, list[str]] = {}
        for i, context in enumerate(CONTEXTS):
            tenant = list(tokens)[i % 3]
            response = _client(server.url, tokens[tenant]).post("/v1/memory/requests", json={"context": context})
            assert response.status_code == 202
            ids.setdefault(tenant, []).append(response.json()["request_id"])
        for tenant, request_ids in ids.items():
            statuses = _wait_states(_client(server.url, tokens[tenant]), request_ids, {"done", "superseded"})
            assert statuses[-1]["state"] == "done"  # the latest context of each tenant is always answered
            delta = MemoryDelta.model_validate(_client(server.url, tokens[tenant]).get("/v1/memory").json())
            assert len(delta.added) == len({note.note_id for note in delta.added}) >= 1
        for process in workers:
            process.terminate()
        logs = [process.communicate(timeout=60)[1] for process in workers]
    assert all("memory request" in log for log in logs), "both workers took requests"


def _hold_one_worker_and_let_the_other_answer(server_url: str, tokens: dict[str, str], url: str) -> None:
    """Each worker takes a request, whatever the scheduling: one is held at its commit, so the other must.

    The test holds alice's tenant row locked in PostgreSQL. The worker that takes her
    request blocks at its commit with the message unacknowledged (and not redelivered
    within the visibility timeout); one message a worker at a time, so bob's request
    can only go to the other worker.
    """
    alice, bob = _client(server_url, tokens["alice"]), _client(server_url, tokens["bob"])
    with psycopg.connect(url) as lock, lock.transaction():
        lock.execute("INSERT INTO tenants (name, version) VALUES ('alice', 0) ON CONFLICT (name) DO NOTHING")
        lock.execute("SELECT version FROM tenants WHERE name = 'alice' FOR UPDATE")
        held = alice.post("/v1/memory/requests", json={"context": CONTEXTS[0]}).json()["request_id"]
        _wait_states(alice, [held], {"running"})
        other = bob.post("/v1/memory/requests", json={"context": CONTEXTS[1]}).json()["request_id"]
        _wait_states(bob, [other], {"done"})
        assert alice.get(f"/v1/requests/{held}").json()["state"] == "running"  # still held at its commit
    _wait_states(alice, [held], {"done"})


def test_a_worker_killed_mid_job_loses_nothing_and_duplicates_nothing(
    shared_settings: Settings, embedder, model_cache: Path, tmp_path: Path
) -> None:
    service = CloudService(shared_settings, embedder=embedder)
    token = service.tokens.create("alice")
    with (
        LocalServer(service) as server,
        worker_process(shared_settings, tmp_path / "victim", model_cache, llm="embedded") as victim,
    ):
        http = _client(server.url, token)
        request_id = http.post("/v1/memory/requests", json={"context": CONTEXTS[0]}).json()["request_id"]
        _wait_states(http, [request_id], {"running"})
        victim.send_signal(signal.SIGKILL)  # mid-job: the LLM is writing
        victim.wait()
        assert http.get(f"/v1/requests/{request_id}").json()["state"] == "running"
        with worker_process(shared_settings, tmp_path / "rescuer", model_cache, llm="extractive"):
            status = _wait_states(http, [request_id], {"done", "failed"})[0]
        assert status["state"] == "done" and status["attempts"] == 2
        notes = MemoryDelta.model_validate(http.get("/v1/memory").json()).added
        assert len(notes) == len({note.note_id for note in notes}) == status["notes_added"] >= 1
        assert service.log.version("alice") == 1


def test_two_api_processes_serve_one_consistent_memory(
    shared_settings: Settings, model_cache: Path, tmp_path: Path
) -> None:
    data = str(shared_settings.cloud.data_dir)
    env = hermetic_env(HYBRIDRAG_CACHE_DIR=str(model_cache), HYBRIDRAG_CONFIG=str(tmp_path / "absent.toml"))
    cli = [sys.executable, "-m", "client.cli", "cloud"]
    database = ["--database-url", database_url(shared_settings)]

    def create_token(tenant: str) -> str:
        return subprocess.run(
            [*cli, "token", "create", tenant, *database, "--data-dir", data],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    token = create_token("alice")
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    serve = [
        "-m",
        "client.cli",
        "cloud",
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        "--queue",
        shared_settings.cloud.queue,
        *database,
        "--data-dir",
        data,
    ]
    with (
        server_process(serve, f"{url}/healthz", WAIT_S, env=env),
        worker_process(shared_settings, tmp_path / "worker", model_cache),
    ):
        http = _client(url, token)
        request_ids = [
            http.post("/v1/memory/requests", json={"context": context}).json()["request_id"] for context in CONTEXTS[:3]
        ]
        _wait_states(http, request_ids, {"done", "superseded"})
        answers = {http.get("/v1/memory", params={"since": 0}).text for _ in range(40)}  # spread over both processes
        assert len(answers) == 1
        delta = MemoryDelta.model_validate_json(answers.pop())
        assert delta.version >= 1 and delta.added
        operator = create_token("operator")
        assert _client(url, operator).get("/metrics").json()["requests"][RequestState.DONE] >= 1


def test_a_failing_request_is_retried_through_redis_then_failed(
    shared_settings: Settings, embedder, model_cache: Path, tmp_path: Path
) -> None:
    cloud = shared_settings.cloud.model_copy(update={"max_attempts": 2})
    service = CloudService(shared_settings.model_copy(update={"cloud": cloud}), embedder=embedder)
    token = service.tokens.create("alice")
    data = tmp_path / "worker"
    shutil.copytree(cloud.data_dir, data, ignore=shutil.ignore_patterns("memory.sqlite*", "tokens.sqlite*"))
    unreachable_llm = {
        "HYBRIDRAG_CLOUD__OPENAI__BASE_URL": "http://127.0.0.1:9/v1",
        "HYBRIDRAG_CLOUD__OPENAI__MAX_RETRIES": "0",
        "HYBRIDRAG_CLOUD__FALLBACK_TO_EXTRACTIVE": "false",
        "HYBRIDRAG_CLOUD__MAX_ATTEMPTS": "2",
    }
    env = hermetic_env(
        HYBRIDRAG_CACHE_DIR=str(model_cache), HYBRIDRAG_CONFIG=str(data / "absent.toml"), **unreachable_llm
    )
    with (
        LocalServer(service) as server,
        local_worker(cloud.queue, database_url(shared_settings), data, env, llm="openai"),
    ):
        http = _client(server.url, token)
        request_id = http.post("/v1/memory/requests", json={"context": CONTEXTS[1]}).json()["request_id"]
        status = _wait_states(http, [request_id], {"done", "failed"})[0]
    assert status["state"] == "failed" and status["attempts"] == 2 and "cloud.openai.base_url" in status["error"]
