#!/usr/bin/env python3
"""Fuzz the cloud API from its own OpenAPI spec (schemathesis), against a real server on loopback.

The service runs in this process on a fresh data folder (extractive writer, so
generated contexts really become notes); schemathesis reads the spec the server
serves (behind a token, like every route but /healthz) and sends schema-shaped and
schema-breaking requests with the token. The check: no response is a 5xx, and the
server still answers /healthz afterwards.

    .venv/bin/python scripts/fuzz_cloud.py                    # about 10,000 requests → reports/fuzz.json
    .venv/bin/python scripts/fuzz_cloud.py --max-examples 350 # about 1,000 (the CI test)
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.local_server import LocalServer
from cloud.service import CloudService
from scripts.bench_support import argument_parser, write_report
from shared.settings import WriterKind, load_settings

console = Console()
SEED = 1


def fuzz(max_examples: int, work: Path) -> dict:
    settings = load_settings(cloud={"data_dir": work / "cloud"})
    service = CloudService(settings, writer_kind=WriterKind.EXTRACTIVE)
    token = service.tokens.create("fuzz")
    started = time.perf_counter()
    with LocalServer(service) as server:
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{server.url}/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                str(max_examples),
                "--seed",
                str(SEED),
                "--no-color",
            ],
            capture_output=True,
            text=True,
            cwd=work,  # its cache folder (.schemathesis) goes with the run
        )
        healthy = httpx.get(f"{server.url}/healthz").status_code == 200
    cases = re.search(r"Test cases:\s*\n\s*(\d+) generated", run.stdout)
    return {
        "max_examples": max_examples,
        "seed": SEED,
        "exit_code": run.returncode,
        "test_cases": int(cases.group(1)) if cases else 0,
        "no_issues": run.returncode
        == 0,  # schemathesis exits non-zero on any failed check (its summary wording varies)
        "healthy_after": healthy,
        "seconds": time.perf_counter() - started,
        "summary": run.stdout[-1500:],
    }


def main() -> None:
    parser = argument_parser(__doc__, "fuzz.json", "about 250 requests")
    parser.add_argument("--max-examples", type=int, default=3500, help="per operation and phase (5 operations)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-cloud-") as work:
        result = fuzz(50 if args.quick else args.max_examples, Path(work))
    console.print(result["summary"])
    console.print(
        f"{result['test_cases']} requests, exit code {result['exit_code']}, healthy after: {result['healthy_after']}"
    )
    write_report(result, args.out, console)
    sys.exit(0 if result["exit_code"] == 0 and result["healthy_after"] else 1)


if __name__ == "__main__":
    main()
