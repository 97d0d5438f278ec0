"""Serving on loopback for tests, benchmarks and demos: in a thread, or as a process of its own."""

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import httpx
import uvicorn

from cloud.api import create_app
from cloud.service import CloudService

STARTUP_TIMEOUT_S = 60.0
_POLL_S = 0.02
_PROCESS_POLL_S = 0.5


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """``with LocalServer(service) as server: httpx.get(server.url + "/healthz")``."""

    def __init__(self, service: CloudService, port: int | None = None, run_worker: bool = True) -> None:
        self.service = service
        self.port = port or free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(service, run_worker), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="local-api", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The local API did not start on port {self.port}.")
            time.sleep(_POLL_S)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join()


@contextmanager
def server_process(
    args: list[str],
    ready_url: str,
    startup_s: float,
    headers: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    niceness: int = 0,
) -> Iterator[subprocess.Popen[str]]:
    """A server, ``python ARGS``, ready once ``ready_url`` answers 200 and stopped when the block ends.

    Its output goes to ``log_path`` when given (a long session's logs would fill a pipe
    and stall it), else to a pipe read only on failure. Fails with the server's last
    output if it never got ready. ``niceness`` > 0 runs it below the caller's priority.
    """
    log = log_path.open("a", encoding="utf-8") if log_path is not None else None
    command = [sys.executable, *args] if niceness == 0 else ["nice", "-n", str(niceness), sys.executable, *args]
    process = subprocess.Popen(
        command, env=env, stdout=log or subprocess.DEVNULL, stderr=log or subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + startup_s
    try:
        while True:
            try:
                if httpx.get(ready_url, headers=headers).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                output = log_path.read_text(errors="replace") if log_path is not None else process.stderr.read()  # type: ignore[union-attr]
                raise RuntimeError(f"{' '.join(args)} did not start: {output[-2000:]}")
            time.sleep(_PROCESS_POLL_S)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        if log is not None:
            log.close()
