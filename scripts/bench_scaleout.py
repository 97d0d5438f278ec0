#!/usr/bin/env python3
"""Benchmark scale-out: memory requests completed per minute, by queue and number of workers.

For each writer (extractive, so the LLM is not the bottleneck; then the embedded
Gemma 3 270M), the same burst of memory requests (one per tenant, so none is
coalesced away) goes to:

- the in-process queue, with 1, 2 and 4 worker threads in the API process;
- Redis (Celery), with 1, 2 and 4 ``hybridrag cloud worker`` processes.

The memory log is a private PostgreSQL and Redis a private redis-server, both on
loopback. Every worker computes with one thread, so a worker is one core's worth of
work and the scaling ratio says how well work spreads over the cores. Throughput is
requests done per minute, from the first request sent to the last one done.

    .venv/bin/python scripts/bench_scaleout.py           # the full run (about 10 minutes)
    .venv/bin/python scripts/bench_scaleout.py --quick   # a smoke run: extractive, 1 and 2 workers
"""

import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.local_server import LocalServer
from cloud.local_services import fresh_postgres_database, postgres_server, redis_server, worker_process
from cloud.service import CloudService
from scripts.bench_cloud import sample_contexts
from scripts.bench_support import argument_parser, write_report
from shared.settings import PYTHON_DOCS_DIR, Settings, WriterKind, load_settings

console = Console()
CORPUS_FILES = [
    "tutorial/classes.rst.txt",
    "tutorial/datastructures.rst.txt",
    "tutorial/controlflow.rst.txt",
    "tutorial/inputoutput.rst.txt",
    "tutorial/errors.rst.txt",
    "tutorial/modules.rst.txt",
]
REQUESTS = {WriterKind.EXTRACTIVE: 48, WriterKind.EMBEDDED: 12}
WORKER_COUNTS = [1, 2, 4]
THREADS_PER_WORKER = 1
READY_TIMEOUT_S = 300
POLL_S = 0.1


def burst(server_url: str, tokens: list[str], operator: str, contexts: list[str]) -> float:
    """Send one request per tenant at once; seconds until every one is done.

    Progress is read from /metrics, one call per poll: polling every request would
    load the API (and so the cores the workers need) more than the work itself.
    """
    clients = [
        httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {token}"}, timeout=60) for token in tokens
    ]

    metrics = httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {operator}"}, timeout=60)

    def finished() -> tuple[int, int]:
        counts = metrics.get("/metrics").raise_for_status().json()["requests"]
        return counts["done"], counts["failed"]

    done_before, failed_before = finished()
    started = time.perf_counter()
    for i, client in enumerate(clients):
        client.post("/v1/memory/requests", json={"context": contexts[i % len(contexts)]}).raise_for_status()
    while True:
        done, failed = finished()
        if failed > failed_before:
            raise RuntimeError(f"{failed - failed_before} memory request(s) failed")
        if done - done_before >= len(clients):
            break
        time.sleep(POLL_S)
    seconds = time.perf_counter() - started
    for client in [*clients, metrics]:
        client.close()
    return seconds


def wait_for_workers(queue: str, count: int) -> None:
    """Until ``count`` Celery workers answer a ping: each has loaded its models."""
    from cloud.memory.celery_queue import celery_app
    from shared.settings import CloudSettings

    app = celery_app(CloudSettings(queue=queue))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while len(app.control.ping(timeout=1.0) or []) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not start in {READY_TIMEOUT_S} s")
    app.close()


def run_case(
    base: Settings,
    work: Path,
    writer: WriterKind,
    workers: int,
    queue: str,
    database_url: str,
    contexts: list[str],
    requests: int,
) -> dict:
    data = work / "data"
    cloud = base.cloud.model_copy(
        update={
            "data_dir": data,
            "queue": queue,
            "database_url": database_url,
            "worker_threads": workers,
            "llm": writer,
            "fallback_to_extractive": False,
        }
    )
    settings = base.model_copy(
        update={"cloud": cloud, "engine": base.engine.model_copy(update={"n_threads": THREADS_PER_WORKER})}
    )
    service = CloudService(settings)
    tokens = [service.tokens.create(f"tenant-{i}") for i in range(requests)]
    operator = service.tokens.create("operator")
    env = {**os.environ, "HYBRIDRAG_ENGINE__N_THREADS": str(THREADS_PER_WORKER), "OMP_NUM_THREADS": "1"}
    with ExitStack() as stack:
        if cloud.uses_redis_queue:
            for number in range(workers):
                copy = work / f"worker-{number}"
                if not copy.exists():
                    shutil.copytree(data, copy, ignore=shutil.ignore_patterns("memory.sqlite*", "tokens.sqlite*"))
                stack.enter_context(worker_process(queue, database_url, copy, env, llm=str(writer)))
            wait_for_workers(queue, workers)
        else:
            service.warm_up()
        server = stack.enter_context(LocalServer(service))
        burst(server.url, tokens[:workers], operator, contexts)  # warm: every worker has run once
        seconds = burst(server.url, tokens, operator, contexts[workers:])
    return {
        "writer": str(writer),
        "queue": "redis" if cloud.uses_redis_queue else "in-process",
        "workers": workers,
        "requests": requests,
        "seconds": seconds,
        "per_minute": requests / seconds * 60,
    }


def main() -> None:
    parser = argument_parser(__doc__, "scaleout.json", "extractive writer, 1 and 2 workers", PYTHON_DOCS_DIR)
    args = parser.parse_args()
    base = load_settings()
    writers = [WriterKind.EXTRACTIVE] if args.quick else [WriterKind.EXTRACTIVE, WriterKind.EMBEDDED]
    counts = WORKER_COUNTS[:2] if args.quick else WORKER_COUNTS
    work = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    rows = []
    started = time.perf_counter()
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        for name in CORPUS_FILES:
            (corpus / Path(name).name).write_text((args.corpus / name).read_text())
        ingest_settings = base.model_copy(update={"cloud": base.cloud.model_copy(update={"data_dir": work / "data"})})
        with console.status("ingesting six tutorial chapters"):
            CloudService(ingest_settings, writer_kind=WriterKind.EXTRACTIVE).datastore.ingest(corpus)
        contexts = sample_contexts(args.corpus, 80, seed=11)
        with postgres_server() as postgres, redis_server() as redis:
            for writer in writers:
                requests = 8 if args.quick else REQUESTS[writer]
                for queue in ("memory", redis):
                    for workers in counts:
                        with console.status(
                            f"{writer}, {'redis' if queue != 'memory' else 'in-process'}, {workers} worker(s)"
                        ):
                            row = run_case(
                                base,
                                work,
                                writer,
                                workers,
                                queue,
                                fresh_postgres_database(postgres),
                                contexts,
                                requests,
                            )
                        console.print(
                            f"{row['writer']:>10} {row['queue']:>10} {workers} worker(s): {row['per_minute']:.0f}/min"
                        )
                        rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        one = next(r for r in rows if r["writer"] == row["writer"] and r["queue"] == row["queue"] and r["workers"] == 1)
        row["scaling_vs_one"] = row["per_minute"] / one["per_minute"]
    report = {
        "rows": rows,
        "meta": {
            "cpus": os.cpu_count(),
            "threads_per_worker": THREADS_PER_WORKER,
            "log": "PostgreSQL",
            "quick": args.quick,
            "seconds": round(time.perf_counter() - started, 1),
            "command": "python scripts/bench_scaleout.py" + (" --quick" if args.quick else ""),
        },
    }
    write_report(report, args.out, console)
    print_table(report)


def print_table(report: dict) -> None:
    table = Table(
        title=f"memory requests per minute ({report['meta']['cpus']} cores, one thread per worker)",
        title_justify="left",
    )
    for column in ("writer", "queue", "workers", "requests", "per minute", "× one worker"):
        table.add_column(column, justify="right")
    for row in report["rows"]:
        table.add_row(
            row["writer"],
            row["queue"],
            str(row["workers"]),
            str(row["requests"]),
            f"{row['per_minute']:.0f}",
            f"{row['scaling_vs_one']:.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
