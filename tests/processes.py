"""Running the project's programs as real processes in tests, free of the developer's settings."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

POLL_S = 0.5


def hermetic_env(**settings: str) -> dict[str, str]:
    """This process's environment without any HYBRIDRAG_* variable, plus ``settings``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDRAG_")} | settings


@contextmanager
def server_process(args: list[str], ready_url: str, startup_s: float, headers: dict[str, str] | None = None,
                   env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """A server, ``python ARGS``, ready once ``ready_url`` answers 200 and stopped when the block ends.

    Fails with the server's stderr if it never got ready.
    """
    environment = hermetic_env(**(env or {}))
    process = subprocess.Popen([sys.executable, *args], env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
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
                raise RuntimeError(f"{' '.join(args)} did not start: {process.stderr.read()[-2000:]}")
            time.sleep(POLL_S)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
