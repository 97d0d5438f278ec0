"""``hybridrag cloud ...`` run as a person runs it: ingest, token create, serve."""

import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cloud.local_server import free_loopback_port, server_process
from shared.settings import PYTHON_DOCS_DIR
from tests.processes import hermetic_env
from tests.test_cli import hybridrag

STARTUP_S = 180
WAIT_S = 180


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-corpus")
    shutil.copy(PYTHON_DOCS_DIR / "tutorial" / "appetite.rst.txt", folder)
    (folder / "logo.png").write_bytes(b"\x89PNG\0")
    return folder


def test_ingest_shows_what_it_did_and_skipped(tiny_corpus: Path, tmp_path: Path, model_cache: Path) -> None:
    run = hybridrag("cloud", "ingest", str(tiny_corpus), "--data-dir", str(tmp_path), cache=model_cache)
    assert run.returncode == 0, run.stderr
    assert "2 seen: 1 added" in run.stdout and "1 skipped" in run.stdout
    assert "skipped 1 file(s): not a text, Markdown, reST or HTML file" in run.stdout
    assert "embedding" in run.stderr  # the progress bar
    again = hybridrag("cloud", "ingest", str(tiny_corpus), "--data-dir", str(tmp_path), cache=model_cache)
    assert "1 unchanged" in again.stdout and "0 added," in again.stdout


def test_bad_arguments_are_one_line_errors(tmp_path: Path, model_cache: Path) -> None:
    missing = hybridrag("cloud", "ingest", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path), cache=model_cache)
    assert missing.returncode == 2 and "Not a folder" in missing.stderr and "Traceback" not in missing.stderr
    bad = hybridrag("cloud", "token", "create", "../etc", "--data-dir", str(tmp_path), cache=model_cache)
    assert bad.returncode == 2 and "Invalid tenant name" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = hybridrag("cloud", "serve", "--port", port, "--data-dir", str(tmp_path), cache=model_cache)
    assert busy.returncode == 2 and f"Cannot listen on 127.0.0.1:{port}" in busy.stderr


@pytest.fixture
def cloud_data(tiny_corpus: Path, tmp_path: Path, model_cache: Path) -> tuple[str, str]:
    """A data folder with the tiny corpus ingested, and a token for tenant alice."""
    data = str(tmp_path / "data")
    assert hybridrag("cloud", "ingest", str(tiny_corpus), "--data-dir", data, cache=model_cache).returncode == 0
    token = hybridrag("cloud", "token", "create", "alice", "--data-dir", data, cache=model_cache).stdout.strip()
    return data, token


@contextmanager
def serving(data: str, model_cache: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``hybridrag cloud serve`` with its default (embedded) writer, as a real process."""
    port = free_loopback_port()
    env = {"HYBRIDRAG_CACHE_DIR": str(model_cache), "HYBRIDRAG_CONFIG": str(Path(data) / "absent.toml")}
    url = f"http://127.0.0.1:{port}"
    with server_process(
        ["-m", "client.cli", "cloud", "serve", "--port", str(port), "--data-dir", data],
        f"{url}/healthz",
        STARTUP_S,
        env=hermetic_env(**env),
    ) as process:
        yield url, process


@pytest.fixture
def served(cloud_data: tuple[str, str], model_cache: Path) -> Iterator[tuple[str, str]]:
    with serving(cloud_data[0], model_cache) as (url, _):
        yield url, cloud_data[1]


def _wait_for_state(http: httpx.Client, request_id: str, states: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + WAIT_S
    while (status := http.get(f"/v1/requests/{request_id}").json())["state"] not in states:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


@pytest.mark.slow
def test_serve_writes_notes_with_the_embedded_llm(served: tuple[str, str]) -> None:
    url, token = served
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    context = "Python is an easy to learn, powerful programming language. If you do much work on computers"
    request_id = http.post("/v1/memory/requests", json={"context": context}).json()["request_id"]
    status = _wait_for_state(http, request_id, ("done", "failed"))
    assert status["state"] == "done", status
    delta = http.get("/v1/memory").json()
    assert delta["version"] == status["version"] and len(delta["added"]) == status["notes_added"]
    for note in delta["added"]:
        assert note["sources"][0]["path"].endswith("appetite.rst.txt") and "\x1b" not in note["text"]


@pytest.mark.slow
def test_an_ingest_killed_midway_loses_nothing_on_the_next_run(tmp_path: Path, model_cache: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(PYTHON_DOCS_DIR / "tutorial", corpus)
    data = tmp_path / "data"
    env = hermetic_env(HYBRIDRAG_CACHE_DIR=str(model_cache), HYBRIDRAG_CONFIG=str(tmp_path / "absent.toml"))
    ingest = subprocess.Popen(
        [sys.executable, "-m", "client.cli", "cloud", "ingest", str(corpus), "--data-dir", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STARTUP_S
    committed = 0
    while not committed:  # wait for the first group to commit, then kill -9 in the middle of the rest
        assert ingest.poll() is None and time.monotonic() < deadline, "ingest ended before it could be killed"
        time.sleep(0.2)
        if (data / "datastore.sqlite").exists():
            try:
                with sqlite3.connect(data / "datastore.sqlite", timeout=10) as db:
                    committed = db.execute("SELECT count(*) FROM files").fetchone()[0]
            except sqlite3.OperationalError:  # the file is there, its tables not yet
                continue
    ingest.send_signal(signal.SIGKILL)
    ingest.wait()

    resumed = hybridrag("cloud", "ingest", str(corpus), "--data-dir", str(data), cache=model_cache)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{committed} unchanged" in resumed.stdout  # what was committed before the kill is kept, not redone
    clean = hybridrag("cloud", "ingest", str(corpus), "--data-dir", str(tmp_path / "clean"), cache=model_cache)
    chunks = [line for line in (resumed.stdout + clean.stdout).splitlines() if line.strip().startswith("chunks")]
    assert chunks[0].split("removed, ")[1] == chunks[1].split("removed, ")[1]  # same number of chunks in all


@pytest.mark.slow
def test_a_request_running_when_serve_is_killed_is_finished_after_restart(
    cloud_data: tuple[str, str], model_cache: Path
) -> None:
    data, token = cloud_data
    headers = {"Authorization": f"Bearer {token}"}
    context = "Python is an easy to learn, powerful programming language. If you do much work on computers"
    with serving(data, model_cache) as (url, process):
        http = httpx.Client(base_url=url, headers=headers, timeout=30)
        request_id = http.post("/v1/memory/requests", json={"context": context}).json()["request_id"]
        _wait_for_state(http, request_id, ("running", "done"))
        process.send_signal(signal.SIGKILL)  # mid-job, most likely inside the LLM call
        process.wait()
    with serving(data, model_cache) as (url, _):
        http = httpx.Client(base_url=url, headers=headers, timeout=30)
        status = _wait_for_state(http, request_id, ("done", "failed"))
        assert status["state"] == "done", status
        delta = http.get("/v1/memory").json()
        ids = [note["note_id"] for note in delta["added"]]
        assert len(ids) == len(set(ids)) and delta["version"] <= 1
