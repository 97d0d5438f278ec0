"""scripts/run's job: the composition TUI with a memory service of its own on loopback.

Starts the service at once with the corpus ingesting in the background (incrementally:
a re-run reads only what changed, a killed ingest goes on from its last commit), keeps
one token for a local tenant, serves on a loopback port (8765 when free, so the local memory is
reused between runs), runs ``hybridrag compose`` in this terminal with that service
set, and stops the server when the TUI exits. The writer's own ``hybridrag login`` is
left alone: the TUI gets the local service through its environment.
"""

import argparse
import os
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import platformdirs
from rich.console import Console

from client.sync.cloud_client import CloudClient, CloudRefused
from cloud.local_server import free_loopback_port, server_process
from shared.durable_files import replace_atomically
from shared.settings import APP_NAME, WriterKind, load_settings

PREFERRED_PORT = 8765
SERVER_STARTUP_S = 180.0  # the embedded writer loads a model first
SERVER_NICENESS = 10  # the service shares the writer's cores: its indexing gives way to their suggestions
TENANT = "local"
err = Console(stderr=True)


def hybridrag(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", *args], text=True, **options)  # type: ignore[call-overload]


def local_port() -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", PREFERRED_PORT))
            return PREFERRED_PORT
        except OSError:
            return free_loopback_port()


def new_token(data_dir: Path, token_file: Path) -> str:
    made = hybridrag(
        "cloud", "token", "create", TENANT, "--data-dir", str(data_dir), stdout=subprocess.PIPE, check=True
    )
    token = made.stdout.strip()

    def write(partial: Path) -> None:
        partial.write_text(token)
        partial.chmod(0o600)

    replace_atomically(token_file, write)
    return token


def working_token(url: str, data_dir: Path) -> str:
    """The kept token if the service still takes it (same token, same local memory), else a new one."""
    token_file = data_dir / "local-token"
    if token_file.exists():
        token = token_file.read_text().strip()
        client = CloudClient(url, token, timeout_s=10, max_retries=0)
        try:
            client.memory_delta(0)
            return token
        except CloudRefused:
            pass
        finally:
            client.close()
    return new_token(data_dir, token_file)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", help="the file to write in (created on the first save)")
    parser.add_argument(
        "--corpus", type=Path, help="folder the cloud retrieves from (default: the Python docs if installed)"
    )
    parser.add_argument(
        "--llm",
        choices=[kind.value for kind in WriterKind],
        default=WriterKind.EXTRACTIVE.value,
        help="who writes the notes; extractive keeps this machine's cores for the suggestions",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=platformdirs.user_data_path(APP_NAME) / "local-cloud",
        help="the local service's data (datastore, memory log, token, server.log)",
    )
    args = parser.parse_args()
    settings = load_settings()
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus or settings.corpus_dir
    ingest: list[str] = []
    if corpus.is_dir():  # in the background: the editor opens at once, memory fills in behind it
        ingest = ["--ingest", str(corpus)]
    elif args.corpus:
        err.print(f"[red]No folder {corpus}: give --corpus a folder of text, Markdown, reST or HTML files.[/]")
        return 2
    else:
        err.print(
            f"[yellow]note: the Python docs are not installed ({corpus}); notes need a corpus: "
            "apt-get install python3.11-doc, or give --corpus DIR.[/]"
        )

    port = local_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    serve = [
        *("-m", "client.cli", "cloud", "serve", "--port", str(port)),
        *("--data-dir", str(data_dir), "--llm", args.llm, *ingest),
    ]
    with ExitStack() as stack:
        with err.status(f"Starting the memory service on {url} ({args.llm} writer; log: {log})…"):
            server = stack.enter_context(
                server_process(serve, f"{url}/healthz", SERVER_STARTUP_S, log_path=log, niceness=SERVER_NICENESS)
            )
            token = working_token(url, data_dir)
        env = os.environ | {"HYBRIDRAG_CLIENT__CLOUD_URL": url, "HYBRIDRAG_CLIENT__TOKEN": token}
        compose = hybridrag("compose", *([args.file] if args.file else []), env=env)
        if server.poll() is not None:
            err.print(f"[red]The memory service stopped during the session; see {log}.[/]")
    return compose.returncode


if __name__ == "__main__":
    sys.exit(main())
