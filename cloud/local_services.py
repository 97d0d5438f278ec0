"""Private PostgreSQL and Redis servers on loopback, for tests, benchmarks and demos; gone when done.

Each is started from the Debian package's binaries into a temporary folder, so
nothing touches a system service. PostgreSQL refuses to run as root: as root, the
cluster belongs to the ``postgres`` user the package creates.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud.local_server import free_loopback_port

STARTUP_S = 60
INSTALL_HINT = "apt-get install postgresql redis-server"


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True) + ([found] if found else [])
    for candidate in candidates:
        folder = Path(candidate).parent
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


@contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh PostgreSQL cluster; yields the URL of its ``postgres`` database (trust auth, loopback only)."""
    binaries = _postgres_bin()
    if binaries is None:
        raise RuntimeError(f"PostgreSQL is not installed: {INSTALL_HINT}.")
    folder = Path(tempfile.mkdtemp(prefix="hybridrag-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_loopback_port()
    subprocess.run(
        [
            *run_as,
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder} -c fsync=off"
    subprocess.run(
        [
            *run_as,
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-t",
            str(STARTUP_S),
            "-l",
            str(folder / "server.log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


def fresh_postgres_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    import psycopg

    name = f"test_{time.monotonic_ns()}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def redis_server() -> Iterator[str]:
    """A fresh Redis, memory only; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(f"Redis is not installed: {INSTALL_HINT}.")
    port = free_loopback_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def worker_process(
    queue: str, database_url: str, data_dir: Path, env: dict[str, str], llm: str = "extractive"
) -> Iterator[subprocess.Popen[str]]:
    """``hybridrag cloud worker`` as a process of its own, as on another machine; stopped when the block ends.

    Its stderr (the log of each request) is the caller's to read after the block.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "client.cli",
            "cloud",
            "worker",
            "--queue",
            queue,
            "--llm",
            llm,
            "--database-url",
            database_url,
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=60)
