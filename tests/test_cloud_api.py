"""The API over a real uvicorn server on loopback, real SQLite and FAISS, extractive writer."""

import time
from collections.abc import Iterator

import httpx
import pytest

from cloud.local_server import LocalServer
from cloud.service import CloudService
from shared.protocol import MAX_CONTEXT_CHARS, MemoryDelta, RequestStatus
from shared.settings import WriterKind

POLL_S = 0.05
WAIT_S = 60


@pytest.fixture
def server(cloud_server: LocalServer) -> LocalServer:
    return cloud_server


def _client(server: LocalServer, tenant: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {server.service.tokens.create(tenant)}"} if tenant else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _wait_done(http: httpx.Client, request_id: str) -> RequestStatus:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = RequestStatus.model_validate(http.get(f"/v1/requests/{request_id}").json())
        if status.state in ("done", "failed"):
            return status
        time.sleep(POLL_S)
    raise AssertionError(f"request {request_id} did not finish")


def test_a_memory_request_becomes_notes_in_the_delta(server: LocalServer) -> None:
    http = _client(server, "alice")
    response = http.post(
        "/v1/memory/requests",
        json={"context": "To remove an item from a list given its index", "query": "del statement"},
    )
    assert response.status_code == 202
    status = _wait_done(http, response.json()["request_id"])
    assert status.state == "done" and status.version == 1 and status.notes_added >= 1
    delta = MemoryDelta.model_validate(http.get("/v1/memory", params={"since": 0}).json())
    assert delta.version == delta.latest_version == 1 and not delta.has_more
    assert len(delta.added) == status.notes_added
    assert all(note.sources[0].path.endswith(".rst.txt") for note in delta.added)
    quotes = [(source, quote) for note in delta.added for source in note.sources for quote in source.quotes]
    assert quotes  # the exact words beside the notes, verbatim from the chunk each source names
    for source, quote in quotes:
        found = server.service.datastore.search_text(quote, 20)  # the quote's own words find its chunk
        chunk = next(chunk.text for chunk in found if chunk.chunk_id == source.chunk_id)
        assert quote in " ".join(chunk.split())
    assert http.get("/v1/memory", params={"since": 1}).json()["added"] == []
    assert http.get("/metrics").status_code == 403  # counts over every tenant: operators only
    metrics = _client(server, "operator").get("/metrics").json()
    assert metrics["requests"]["done"] == 1 and metrics["notes"] == status.notes_added and metrics["chunks"] > 100


def test_pages_of_a_delta_add_up(server: LocalServer) -> None:
    http = _client(server, "alice")
    for context in ("How do classes and instances work?", "What does a for loop iterate over?"):
        _wait_done(http, http.post("/v1/memory/requests", json={"context": context}).json()["request_id"])
    whole = http.get("/v1/memory").json()
    first = http.get("/v1/memory", params={"limit": 1}).json()
    assert first["has_more"] and first["version"] == 1
    rest = http.get("/v1/memory", params={"since": first["version"]}).json()
    assert [n["note_id"] for n in first["added"] + rest["added"]] == [n["note_id"] for n in whole["added"]]


def test_every_route_but_healthz_needs_a_valid_token(server: LocalServer) -> None:
    anonymous, forged = (
        _client(server, None),
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer hrt_forged"}),
    )
    assert anonymous.get("/healthz").json()["status"] == "ok"
    for method, path in [
        ("GET", "/metrics"),
        ("GET", "/v1/memory"),
        ("GET", "/v1/requests/x"),
        ("POST", "/v1/memory/requests"),
    ]:
        for http in (anonymous, forged):
            response = http.request(method, path, json={"context": "x"})
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "token" in response.json()["detail"]


def test_tenants_never_see_each_others_requests_or_notes(server: LocalServer) -> None:
    alice, bob = _client(server, "alice"), _client(server, "bob")
    request_id = alice.post("/v1/memory/requests", json={"context": "List comprehensions"}).json()["request_id"]
    _wait_done(alice, request_id)
    assert bob.get(f"/v1/requests/{request_id}").status_code == 404
    assert bob.get("/v1/memory").json() == {
        "since": 0,
        "version": 0,
        "latest_version": 0,
        "added": [],
        "removed": [],
        "has_more": False,
        "indexing": None,  # the datastore is not being filled
        "epoch": server.service.log.epoch,
    }
    assert alice.get("/v1/memory").json()["added"]


def test_bad_bodies_are_refused_with_the_reason(server: LocalServer) -> None:
    http = _client(server, "alice")
    too_long = http.post("/v1/memory/requests", json={"context": "x" * (MAX_CONTEXT_CHARS + 1)})
    assert too_long.status_code == 422 and "body.context" in too_long.json()["detail"]
    blank = http.post("/v1/memory/requests", json={"context": " \n "})
    assert blank.status_code == 422 and "body.context: Value error, must contain text" in blank.json()["detail"]
    missing = http.post("/v1/memory/requests", json={"query": "lists"})
    assert missing.status_code == 422 and "body.context: Field required" in missing.json()["detail"]
    extra = http.post("/v1/memory/requests", json={"context": "x", "tenant": "bob"})
    assert extra.status_code == 422 and "body.tenant" in extra.json()["detail"]
    not_json = http.post("/v1/memory/requests", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    assert http.get("/v1/memory", params={"since": -1}).status_code == 422
    ahead = http.get("/v1/memory", params={"since": 5})
    assert ahead.status_code == 409 and "since=0" in ahead.json()["detail"]


def test_oversized_bodies_get_413_declared_or_streamed(server: LocalServer) -> None:
    http = _client(server, "alice")
    limit = server.service.settings.cloud.max_body_bytes
    declared = http.post(
        "/v1/memory/requests", content=b"x" * (limit + 1), headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413 and "cloud.max_body_bytes" in declared.json()["detail"]

    def stream() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    streamed = http.post("/v1/memory/requests", content=stream(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert http.get("/healthz").status_code == 200


def test_the_openapi_spec_is_served(server: LocalServer) -> None:
    assert httpx.get(f"{server.url}/openapi.json").status_code == 401  # like every route but /healthz
    spec = _client(server, "alice").get("/openapi.json").json()
    assert {"/v1/memory/requests", "/v1/memory", "/v1/requests/{request_id}", "/healthz", "/metrics"} <= set(
        spec["paths"]
    )
    assert "MemoryDelta" in spec["components"]["schemas"]


def test_tokens_are_stored_only_as_hashes_and_can_be_revoked(log_settings) -> None:
    from cloud.auth import TokenStore

    store = TokenStore.open(log_settings)
    token = store.create("alice")
    assert store.tenant_for(token) == "alice" and store.tenant_for(token + "x") is None
    if not log_settings.database_url:
        stored = b"".join(path.read_bytes() for path in log_settings.data_dir.glob("tokens.sqlite*"))
        assert token.encode() not in stored and token[4:].encode() not in stored
    assert store.revoke("alice") == 1 and store.tenant_for(token) is None
    store.close()


def test_a_full_queue_says_when_to_retry_and_a_tenant_is_coalesced(cloud_settings, embedder) -> None:
    from shared.settings import CloudSettings

    cloud = CloudSettings.model_validate(cloud_settings.cloud.model_dump() | {"queue_max_tenants": 1})
    service = CloudService(cloud_settings.model_copy(update={"cloud": cloud}), WriterKind.EXTRACTIVE, embedder)
    with LocalServer(service, run_worker=False) as server:  # nothing drains the queue
        alice, bob = _client(server, "alice"), _client(server, "bob")
        first = alice.post("/v1/memory/requests", json={"context": "classes"}).json()["request_id"]
        full = bob.post("/v1/memory/requests", json={"context": "loops"})
        assert full.status_code == 429 and full.headers["retry-after"] and "queue is full" in full.json()["detail"]
        second = alice.post("/v1/memory/requests", json={"context": "classes and instances"})
        assert second.status_code == 202  # alice already waits: her newer context replaces the older
        status = alice.get(f"/v1/requests/{first}").json()
        assert status["state"] == "superseded" and status["superseded_by"] == second.json()["request_id"]
        assert _client(server, "operator").get("/metrics").json()["queue_depth"] == 1


def test_the_api_serves_the_same_protocol_with_the_log_on_postgresql(
    cloud_settings, embedder, postgres_server_url
) -> None:
    from cloud.local_services import fresh_postgres_database

    cloud = cloud_settings.cloud.model_copy(update={"database_url": fresh_postgres_database(postgres_server_url)})
    service = CloudService(cloud_settings.model_copy(update={"cloud": cloud}), WriterKind.EXTRACTIVE, embedder)
    with LocalServer(service) as server:
        http = _client(server, "alice")
        request_id = http.post("/v1/memory/requests", json={"context": "How do I loop over a dictionary?"}).json()[
            "request_id"
        ]
        status = _wait_done(http, request_id)
        delta = MemoryDelta.model_validate(http.get("/v1/memory", params={"since": 0}).json())
        assert status.state == "done" and delta.version == 1 and len(delta.added) == status.notes_added >= 1
        assert _client(server, "bob").get(f"/v1/requests/{request_id}").status_code == 404
    assert not (cloud.data_dir / "memory.sqlite").exists() and not (cloud.data_dir / "tokens.sqlite").exists()
