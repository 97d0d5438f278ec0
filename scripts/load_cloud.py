#!/usr/bin/env python3
"""Load test of the cloud memory service: many writers at once, on loopback.

``hybridrag cloud serve`` runs as a process of its own (the embedded in-process queue,
extractive writer, three Python-docs chapters ingested). Each simulated client is a
tenant of its own with an httpx.AsyncClient, and in a closed loop: asks for memory on
a passage of the docs, then polls that request and syncs its memory a few times, as
the TUI's sync loop does (without its pauses, to find the service's limits).

Reports per endpoint: requests, throughput, p50/p95/p99 latency, errors (5xx,
transport) and refusals (429 with Retry-After, which a client honours); plus the
requests the worker finished and their accepted-to-done latency from /metrics.

    .venv/bin/python scripts/load_cloud.py                      # 50 clients, 60 s → reports/load.json
    .venv/bin/python scripts/load_cloud.py --clients 5 --seconds 5 --quick
"""

import asyncio
import os
import platform
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.auth import TokenStore
from scripts.bench_support import argument_parser, percentile, serving_files, write_report
from shared.corpus import read_prose
from shared.settings import PYTHON_DOCS_DIR, CloudSettings

console = Console()
SERVED_FILES = ["tutorial/classes.rst.txt", "tutorial/datastructures.rst.txt", "tutorial/controlflow.rst.txt"]
SYNCS_PER_REQUEST = 3
CONTEXT_CHARS = (300, 2000)
SEED = 7


class Recorder:
    def __init__(self) -> None:
        self.latencies_ms: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.transport_errors: dict[str, int] = defaultdict(int)

    async def call(
        self, http: httpx.AsyncClient, name: str, method: str, path: str, **options: object
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await http.request(method, path, **options)  # type: ignore[arg-type]
        except httpx.HTTPError:
            self.transport_errors[name] += 1
            return None
        self.latencies_ms[name].append((time.perf_counter() - started) * 1000)
        self.statuses[name][response.status_code] += 1
        return response


async def writer_client(
    url: str, token: str, passages: list[str], until: float, recorder: Recorder, rng: random.Random
) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        version = 0
        while time.monotonic() < until:
            passage = rng.choice(passages)
            start = rng.randrange(max(1, len(passage) - CONTEXT_CHARS[1]))
            context = passage[start : start + rng.randint(*CONTEXT_CHARS)]
            accepted = await recorder.call(
                http, "POST /v1/memory/requests", "POST", "/v1/memory/requests", json={"context": context}
            )
            if accepted is not None and accepted.status_code == 429:
                await asyncio.sleep(float(accepted.headers.get("Retry-After", "1")))
                continue
            request_id = accepted.json()["request_id"] if accepted is not None and accepted.status_code == 202 else None
            for _ in range(SYNCS_PER_REQUEST):
                if request_id:
                    await recorder.call(http, "GET /v1/requests/{id}", "GET", f"/v1/requests/{request_id}")
                delta = await recorder.call(http, "GET /v1/memory", "GET", "/v1/memory", params={"since": version})
                if delta is not None and delta.status_code == 200:
                    version = delta.json()["version"]


async def run_load(
    url: str, tokens: list[str], operator: str, passages: list[str], seconds: float
) -> tuple[Recorder, dict]:
    recorder = Recorder()
    until = time.monotonic() + seconds
    rng = random.Random(SEED)
    await asyncio.gather(
        *(writer_client(url, token, passages, until, recorder, random.Random(rng.random())) for token in tokens)
    )
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {operator}"}, timeout=30) as http:
        await asyncio.sleep(2)  # let the worker finish what is queued
        metrics = (await http.get("/metrics")).json()
        healthy = (await http.get("/healthz")).status_code == 200
    return recorder, metrics | {"healthy_after": healthy}


def main() -> None:
    parser = argument_parser(__doc__, "load.json", "5 clients for 5 seconds", corpus=PYTHON_DOCS_DIR)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    clients, seconds = (5, 5.0) if args.quick else (args.clients, args.seconds)
    passages = [read_prose(args.corpus / name) for name in SERVED_FILES]
    with tempfile.TemporaryDirectory(prefix="load-cloud-") as work_dir:
        work = Path(work_dir)
        with serving_files(work, args.corpus, SERVED_FILES, console) as (url, _):
            with TokenStore.open(CloudSettings(data_dir=work / "cloud")) as store:
                tokens = [store.create(f"writer{i}") for i in range(clients)]
                operator = store.create("operator")
            with console.status(f"{clients} clients for {seconds:.0f} s"):
                started = time.perf_counter()
                recorder, metrics = asyncio.run(run_load(url, tokens, operator, passages, seconds))
                elapsed = time.perf_counter() - started

    endpoints = {}
    for name, latencies in sorted(recorder.latencies_ms.items()):
        statuses = dict(recorder.statuses[name])
        endpoints[name] = {
            "requests": len(latencies),
            "per_s": len(latencies) / seconds,
            "ms_p50": percentile(latencies, 50),
            "ms_p95": percentile(latencies, 95),
            "ms_p99": percentile(latencies, 99),
            "statuses": {str(code): count for code, count in sorted(statuses.items())},
            "errors_5xx": sum(count for code, count in statuses.items() if code >= 500),
            "refused_429": statuses.get(429, 0),
            "transport_errors": recorder.transport_errors[name],
        }
    table = Table(title=f"cloud under load: {clients} clients, {seconds:.0f} s, loopback, extractive writer")
    for column in ("endpoint", "requests", "per s", "p50", "p95", "p99", "5xx", "429", "transport"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for name, row in endpoints.items():
        table.add_row(
            name,
            str(row["requests"]),
            f"{row['per_s']:.0f}",
            f"{row['ms_p50']:.1f}",
            f"{row['ms_p95']:.1f}",
            f"{row['ms_p99']:.1f}",
            str(row["errors_5xx"]),
            str(row["refused_429"]),
            str(row["transport_errors"]),
        )
    console.print(table)
    console.print(
        f"worker: {metrics['requests']} · accepted→done p50 {metrics['request_latency_ms_p50']} ms, "
        f"p95 {metrics['request_latency_ms_p95']} ms · healthy after: {metrics['healthy_after']}"
    )
    report = {
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "clients": clients,
        "seconds": seconds,
        "elapsed_s": elapsed,
        "quick": args.quick,
        "endpoints": endpoints,
        "server_metrics": metrics,
    }
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
