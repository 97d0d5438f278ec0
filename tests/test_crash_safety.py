"""kill -9 at random points: the client while it applies deltas, the cloud while its worker writes notes.

After every kill, reopening finds a consistent state: the client's notes are exactly
the server's at the version it reached (SQLite and FAISS agree, nothing twice,
versions never go back); the cloud finishes every accepted request once, with no
duplicated note and versions that only move forward.
"""

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from client.memory.local_memory import LocalMemory
from cloud.auth import TokenStore
from cloud.local_server import free_loopback_port
from cloud.memory.memory_log import MemoryLog, NewNote
from shared.protocol import MemoryRequest, NoteSource
from shared.settings import CloudSettings, Settings
from tests.processes import ROOT, hermetic_env

pytestmark = pytest.mark.slow
TRIALS = 20
SERVE_KILLS = 10  # each restarts `hybridrag cloud serve` (about 2 s); every kill lands somewhere new in a job
VERSIONS = 30
NOTES_PER_VERSION = 4
APPLYING_CHILD = """
import json, sys
from pathlib import Path
from client.memory.local_memory import LocalMemory
from shared.onnx_embedder import OnnxEmbedder
from shared.protocol import MemoryDelta
folder, cache, deltas_file = sys.argv[1:4]
deltas = [MemoryDelta.model_validate(d) for d in json.loads(Path(deltas_file).read_text())]
memory = LocalMemory(Path(folder), OnnxEmbedder(Path(cache), 1), 50_000)
print("ready", flush=True)
while memory.version < len(deltas):
    memory.apply_delta(deltas[memory.version])
print("done", flush=True)
"""


def server_deltas(tmp_path: Path) -> tuple[list[dict], list[set[str]]]:
    """One delta per version from a real memory log whose cap evicts notes; and the live ids at each version."""
    log = MemoryLog.open(CloudSettings(data_dir=tmp_path / "server", tenant_note_cap=3 * NOTES_PER_VERSION))
    for version in range(VERSIONS):
        request = log.create_request("writer", MemoryRequest(context="context"))
        log.commit_request(
            request.request_id,
            "writer",
            [
                NewNote(
                    f"Note {version}.{i}: a list keeps its items in the order they were added.",
                    (NoteSource(chunk_id=version * 10 + i, path="doc.txt", start=0, end=9),),
                )
                for i in range(NOTES_PER_VERSION)
            ],
        )
    deltas = [log.delta("writer", version, 1) for version in range(VERSIONS)]
    assert [delta.version for delta in deltas] == list(range(1, VERSIONS + 1))
    live: list[set[str]] = [set()]
    for delta in deltas:
        live.append((live[-1] - set(delta.removed)) | {note.note_id for note in delta.added})
    log.close()
    return [delta.model_dump(mode="json") for delta in deltas], live


def test_killing_the_client_mid_apply_loses_and_duplicates_nothing(
    tmp_path: Path, onnx_cache: Path, query_embedder
) -> None:
    deltas, live = server_deltas(tmp_path)
    deltas_file = tmp_path / "deltas.json"
    deltas_file.write_text(json.dumps(deltas))
    folder = tmp_path / "memory"
    rng = random.Random(5)
    reached, mid_run_kills = [], 0
    for _ in range(TRIALS):
        before = LocalMemory(folder, query_embedder, 50_000)
        start_version = before.version
        before.close()
        child = subprocess.Popen(
            [sys.executable, "-c", APPLYING_CHILD, str(folder), str(onnx_cache), str(deltas_file)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=hermetic_env(),
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.4))
        child.kill()  # SIGKILL: no cleanup of any kind
        child.wait()
        memory = LocalMemory(folder, query_embedder, 50_000)
        try:
            version, notes = memory.version, [note.note_id for note in memory.notes()]
            assert version >= start_version  # never goes back
            assert sorted(notes) == sorted(live[version]) and len(notes) == len(set(notes))
            assert memory.index_size() == len(notes)  # FAISS agrees with SQLite
        finally:
            memory.close()
        reached.append(version)
        mid_run_kills += start_version < version < VERSIONS or version == start_version < VERSIONS
        if version == VERSIONS:
            shutil.rmtree(folder)  # all applied: start over, so later kills land mid-run too
    assert mid_run_kills >= TRIALS // 2, reached


def _serve(data: Path, model_cache: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_loopback_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "client.cli",
            "cloud",
            "serve",
            "--llm",
            "extractive",
            "--port",
            str(port),
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env=hermetic_env(HYBRIDRAG_CACHE_DIR=str(model_cache), HYBRIDRAG_CONFIG=str(data / "absent.toml")),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


def test_killing_the_cloud_mid_job_finishes_every_request_once(cloud_settings: Settings, model_cache: Path) -> None:
    data = cloud_settings.cloud.data_dir
    with TokenStore.open(cloud_settings.cloud) as store:
        token = store.create("writer")
    headers = {"Authorization": f"Bearer {token}"}
    contexts = [
        "How do I add an item to the end of a list?",
        "What does a class statement create?",
        "How does a for loop iterate over a sequence?",
        "What is a list comprehension?",
    ]
    rng = random.Random(9)
    accepted = []
    for trial in range(SERVE_KILLS):
        process, url = _serve(data, model_cache)
        answer = httpx.post(
            f"{url}/v1/memory/requests",
            headers=headers,
            json={"context": f"{contexts[trial % len(contexts)]} (draft {trial})"},
        )
        assert answer.status_code == 202
        accepted.append(answer.json()["request_id"])
        time.sleep(rng.uniform(0.0, 0.3))
        process.kill()
        process.wait()
    process, url = _serve(data, model_cache)  # recovers what the kills interrupted
    try:
        deadline = time.monotonic() + 120
        states = {}
        while time.monotonic() < deadline:
            states = {rid: httpx.get(f"{url}/v1/requests/{rid}", headers=headers).json() for rid in accepted}
            if all(state["state"] in ("done", "superseded", "failed") for state in states.values()):
                break
            time.sleep(0.2)
        assert all(state["state"] in ("done", "superseded") for state in states.values()), states
    finally:
        process.kill()
        process.wait()
    log = MemoryLog.open(cloud_settings.cloud)
    try:
        live = [note.note_id for note in log.live_notes("writer")]
        assert live and len(live) == len(set(live))  # no note twice, however often a job was retried
        done = sorted((s for s in states.values() if s["state"] == "done"), key=lambda s: s["version"])
        adding = [s["version"] for s in done if s["notes_added"]]
        assert adding == sorted(set(adding))  # each commit that added notes moved the version forward
        assert log.version("writer") == max(s["version"] for s in done)
    finally:
        log.close()
