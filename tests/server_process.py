"""A server started as a real process for a test, ready once a URL answers 200, stopped after."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

POLL_S = 0.5


@contextmanager
def server_process(args: list[str], ready_url: str, startup_s: float, headers: dict[str, str] | None = None,
                   env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """``python ARGS`` running until the block ends; fails with the server's stderr if it never got ready."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDRAG_")} | (env or {})
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
