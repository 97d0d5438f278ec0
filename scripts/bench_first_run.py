#!/usr/bin/env python3
"""The first run as a writer meets it: seconds from scripts/run to the editor, to ghost text, to full memory.

Starts ``scripts/local_session.py`` (what ``scripts/run`` runs once set up) in a
private tmux server with a fresh data folder, as a first start would, and reads the
screen: when the editor's status bar is drawn, when ghost text follows a typed
sentence, and (through the API, with the session's own token) when the background
ingest has filled the datastore. Set-up is excluded: the wheel is cached. Writes
reports/first_run.json.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.sync.cloud_client import CloudClient
from cloud.datastore import Datastore
from scripts.bench_support import argument_parser, bench_embedders, chunk_texts, write_report
from shared.embeddings import chunk_embedder
from shared.settings import PYTHON_DOCS_DIR, load_settings

TYPED = "Python is an easy to learn, powerful programming"
LIMIT_S = 3600
console = Console()


class Terminal:
    """One tmux session on a private server: send keys, read the screen."""

    def __init__(self, name: str) -> None:
        self._server = ["tmux", "-L", name]
        self._session = name

    def start(self, command: str) -> None:
        subprocess.run(
            [*self._server, "new-session", "-d", "-s", self._session, "-x", "120", "-y", "30", command], check=True
        )

    def screen(self) -> str:
        return subprocess.run(
            [*self._server, "capture-pane", "-p", "-t", self._session], capture_output=True, text=True
        ).stdout

    def type(self, text: str) -> None:
        subprocess.run([*self._server, "send-keys", "-t", self._session, "-l", text], check=True)

    def close(self) -> None:
        subprocess.run([*self._server, "kill-server"], capture_output=True)


def seconds_until(condition: Callable[[], object], began: float, what: str) -> float:
    while not condition():
        if time.perf_counter() - began > LIMIT_S:
            raise TimeoutError(f"no {what} after {LIMIT_S} s")
        time.sleep(0.1)
    return time.perf_counter() - began


def main() -> None:
    args = argument_parser(
        __doc__, "first_run.json", "three tutorial chapters instead of the whole docs", PYTHON_DOCS_DIR
    ).parse_args()
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        corpus = args.corpus
        if args.quick:
            corpus = work / "corpus"
            corpus.mkdir()
            for name in ("classes.rst.txt", "introduction.rst.txt", "appetite.rst.txt"):
                shutil.copy(args.corpus / "tutorial" / name, corpus)
        data = work / "cloud"
        terminal = Terminal(f"hybridrag-first-run-{int(time.time())}")
        command = (
            f"cd '{ROOT}' && HYBRIDRAG_CONFIG='{work}/absent.toml' HYBRIDRAG_COMPOSE__RECOVERY_DIR='{work}/recovery' "
            f"HYBRIDRAG_CLIENT__DATA_DIR='{work}/client' .venv/bin/python scripts/local_session.py '{work}/draft.txt' "
            f"--corpus '{corpus}' --data-dir '{data}/'; sleep 600"
        )
        began = time.perf_counter()
        terminal.start(command)
        try:
            editor_s = seconds_until(lambda: "KV q8q4" in terminal.screen(), began, "editor")
            terminal.type(TYPED)
            typed_at = time.perf_counter()

            def ghost_shown() -> bool:  # the line with the typed text goes on past it: the ghost text
                line = next((line for line in terminal.screen().splitlines() if TYPED in line), None)
                return line is not None and any(ch.isalpha() for ch in line.split(TYPED, 1)[1])

            ghost_s = seconds_until(ghost_shown, typed_at, "ghost text")
            token_file = data / "local-token"
            seconds_until(token_file.exists, began, "the session's token")
            client = CloudClient(f"http://127.0.0.1:{_port(data)}", token_file.read_text().strip(), 30, 0)
            indexed_s = seconds_until(lambda: client.memory_delta(0).indexing is None, began, "the full datastore")
            client.close()
        finally:
            terminal.close()
            subprocess.run(["pkill", "-f", f"--data-dir {data}/"], capture_output=True)
        settings = load_settings(cloud={"data_dir": data})
        store = Datastore(data, settings.cloud, chunk_embedder(settings))
        chunks = store.chunk_count()
        with console.status("embedding paths side by side on the same chunks"):
            embedders = bench_embedders(chunk_texts(store, 32 if args.quick else 1000), settings)
        store.close()
        ingest_s = _ingest_seconds(data / "server.log")
    report = {
        "corpus": str(args.corpus) + (" (3 tutorial chapters)" if args.quick else ""),
        "editor_drawn_s": round(editor_s, 1),
        "first_ghost_s": round(ghost_s, 2),
        "fully_indexed_s": round(indexed_s, 1),
        "chunks": chunks,
        "ingest_s": ingest_s,
        "ingest_chunks_per_s": round(chunks / ingest_s, 1),
        "ingest_speedup": round(embedders["speedup"], 2),  # embedding, the default path over the one before
        "embedders": embedders,
        "quick": args.quick,
        "note": "set-up excluded (the llama wheel cached); times from the start of scripts/local_session.py",
    }
    table = Table(title="first run (fresh data folder)")
    keys = ("editor_drawn_s", "first_ghost_s", "fully_indexed_s", "chunks", "ingest_s", "ingest_chunks_per_s")
    for key in (*keys, "ingest_speedup"):
        table.add_row(key, str(report[key]))
    console.print(table)
    write_report(report, args.out, console)


def _ingest_seconds(log: Path) -> float:
    """The background ingest's own time, from the line it logs when done."""
    for line in log.read_text(errors="replace").splitlines():
        if "background ingest of" in line and " done: " in line:
            return float(line.rsplit(" in ", 1)[1].split()[0])
    raise RuntimeError(f"the background ingest did not log its end in {log}")


def _port(data: Path) -> int:
    """The port the session's server listens on, from its log's first 'Uvicorn running' line."""
    log = data / "server.log"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if "Uvicorn running on http://127.0.0.1:" in line:
                    return int(line.split("127.0.0.1:")[1].split()[0])
        time.sleep(0.2)
    raise TimeoutError(f"no server port in {log}")


if __name__ == "__main__":
    main()
