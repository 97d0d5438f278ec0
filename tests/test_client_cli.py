"""``hybridrag login``, ``sync`` and ``suggest`` with memory, run as a person runs them."""

import json
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.local_server import LocalServer, free_loopback_port
from tests.test_cli import hybridrag

WAIT_S = 60


@pytest.fixture
def client_home(tmp_path: Path, client_cache: Path) -> dict[str, str]:
    """Settings for one writer: a config folder of their own, and a cache holding both models."""
    return {
        "cache": str(client_cache),
        "HYBRIDRAG_CONFIG": str(tmp_path / "config" / "config.toml"),
        "HYBRIDRAG_CLIENT__DATA_DIR": str(tmp_path / "client"),
    }


def _run(home: dict[str, str], *args: str):
    env: dict[str, Any] = dict(home)
    return hybridrag(*args, cache=Path(env.pop("cache")), **env)


def _ask_for_notes(server: LocalServer, token: str, context: str) -> None:
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    request_id = http.post("/v1/memory/requests", json={"context": context}).json()["request_id"]
    deadline = time.monotonic() + WAIT_S
    while http.get(f"/v1/requests/{request_id}").json()["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_login_checks_the_token_and_stores_it_privately(cloud_server: LocalServer, client_home: dict[str, str]) -> None:
    bad_url = _run(client_home, "login", "127.0.0.1:8765", "token")
    assert bad_url.returncode == 2 and "Not an http(s) URL" in bad_url.stderr
    refused = _run(client_home, "login", cloud_server.url, "hrt_wrong")
    assert refused.returncode == 2 and "refused the token" in refused.stderr and "Traceback" not in refused.stderr
    token = cloud_server.service.tokens.create("alice")
    run = _run(client_home, "login", cloud_server.url + "/", token)
    assert run.returncode == 0, run.stderr
    login_file = Path(client_home["HYBRIDRAG_CONFIG"]).parent / "login.json"
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    assert json.loads(login_file.read_text()) == {"client": {"cloud_url": cloud_server.url, "token": token}}


def test_sync_prints_what_changed_and_suggest_uses_the_notes(
    cloud_server: LocalServer, client_home: dict[str, str]
) -> None:
    not_logged_in = _run(client_home, "sync")
    assert not_logged_in.returncode == 2 and "hybridrag login" in not_logged_in.stderr
    token = cloud_server.service.tokens.create("alice")
    assert _run(client_home, "login", cloud_server.url, token).returncode == 0
    _ask_for_notes(cloud_server, token, "To remove an item from a list given its index instead of its value, use")
    first = _run(client_home, "sync")
    assert first.returncode == 0, first.stderr
    assert (
        "Memory version 0 → 1:" in first.stdout and "notes added" in first.stdout and "datastructures" in first.stdout
    )
    again = _run(client_home, "sync")
    assert "already up to date: 0 notes added" in again.stdout

    run = _run(client_home, "suggest", "--json", "To remove an item from a list given its index, use the")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["notes"] and result["memory_tokens"] > 0 and result["text"]
    plain = _run(client_home, "suggest", "--no-memory", "--json", "To remove an item from a list, use the")
    assert json.loads(plain.stdout)["memory_tokens"] == 0


def test_sync_with_the_cloud_down_is_a_one_line_error(cloud_server: LocalServer, client_home: dict[str, str]) -> None:
    token = cloud_server.service.tokens.create("alice")
    assert _run(client_home, "login", f"http://127.0.0.1:{free_loopback_port()}", token, "--no-check").returncode == 0
    run = _run(client_home, "sync")
    assert run.returncode == 2 and "did not answer" in run.stderr and "Traceback" not in run.stderr
