"""Security: a token on every route but /healthz, tenants never see each other, ingest stays in its folder.

Elsewhere: tokens stored only as hashes and body size limits (test_cloud_api.py), note
text from an LLM cleaned of control sequences (test_note_writers.py), model output made
terminal-safe in the TUI (test_compose_parts.py).
"""

import inspect
import time
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from cloud.api import create_app
from cloud.auth import TokenStore
from cloud.datastore.datastore import Datastore
from cloud.local_server import LocalServer
from shared.errors import InputError
from shared.protocol import RequestStatus
from shared.settings import CloudSettings

WAIT_S = 60


def _routes(server: LocalServer) -> list[tuple[str, str]]:
    app = create_app(server.service, run_worker=False)
    return [
        (method, route.path.replace("{request_id}", "0" * 32))
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    ]


def test_every_route_but_healthz_needs_a_valid_token(cloud_server: LocalServer) -> None:
    routes = _routes(cloud_server)
    assert ("GET", "/openapi.json") in routes and len(routes) >= 5
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWxpY2U6eA=="}):
            status = httpx.request(method, cloud_server.url + path, headers=headers, json={"context": "x"}).status_code
            assert status == (200 if path == "/healthz" else 401), (method, path, headers)
    for page in ("/docs", "/redoc"):
        assert httpx.get(cloud_server.url + page).status_code == 404  # no browsable pages to probe


def test_tokens_are_compared_in_constant_time() -> None:
    assert "hmac.compare_digest" in inspect.getsource(TokenStore.tenant_for)


def test_a_tenant_never_sees_another_tenants_requests_or_notes(cloud_server: LocalServer) -> None:
    tokens = {tenant: cloud_server.service.tokens.create(tenant) for tenant in ("alice", "bob")}
    http = {
        tenant: httpx.Client(base_url=cloud_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        for tenant, token in tokens.items()
    }
    request_id = (
        http["alice"]
        .post("/v1/memory/requests", json={"context": "How do list comprehensions work?"})
        .json()["request_id"]
    )
    deadline = time.monotonic() + WAIT_S
    while (
        status := RequestStatus.model_validate(http["alice"].get(f"/v1/requests/{request_id}").json())
    ).state != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status.notes_added >= 1
    assert http["bob"].get(f"/v1/requests/{request_id}").status_code == 404  # not 403: its existence is not told
    bob = http["bob"].get("/v1/memory", params={"since": 0}).json()
    assert bob["added"] == [] and bob["latest_version"] == 0
    assert http["bob"].get("/v1/memory", params={"since": 1}).status_code == 409  # alice's version is not bob's
    alice = http["alice"].get("/v1/memory", params={"since": 0}).json()
    assert len(alice["added"]) == status.notes_added
    for client in http.values():
        client.close()


def test_ingest_stays_inside_its_folder_and_the_corpus_root(tmp_path: Path, embedder) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("The database password is hunter2. " * 20)
    corpus = tmp_path / "root" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "notes.txt").write_text("Lists have an append method that adds an item to the end. " * 20)
    (corpus / "linked.txt").symlink_to(outside)
    (corpus / "linked-folder").symlink_to(tmp_path, target_is_directory=True)
    settings = CloudSettings(data_dir=tmp_path / "data", corpus_root=tmp_path / "root")
    store = Datastore(settings.data_dir, settings, embedder)
    try:
        report = store.ingest(corpus)
        assert report.added == 1
        assert any("outside the corpus folder" in skipped.reason for skipped in report.skipped)
        assert all("hunter2" not in chunk.text for chunk in store.search_text("database password", 5))
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        with pytest.raises(InputError, match="cloud.corpus_root"):
            store.ingest(elsewhere)
    finally:
        store.close()
