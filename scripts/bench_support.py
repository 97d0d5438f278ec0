"""What every benchmark script shares: percentiles, and writing its JSON report."""

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich.console import Console

from shared.machine import cpu_description


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"


def argument_parser(
    doc: str | None, report_name: str, quick_help: str, corpus: Path | None = None
) -> argparse.ArgumentParser:
    """The options every benchmark has: --quick (a smoke run of every stage), --out, and --corpus where it reads one."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if corpus is not None:
        parser.add_argument("--corpus", type=Path, default=corpus)
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {quick_help}")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR / report_name)
    return parser


def write_report(report: dict, out: Path, console: Console) -> None:
    """Write ``report`` as JSON, with the CPU it was measured on (speed holds for that CPU only)."""
    report.setdefault("cpu", cpu_description())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out}")


@contextmanager
def serving_files(
    work: Path, corpus: Path, files: list[str], console: Console, startup_s: float = 120.0
) -> Iterator[tuple[str, str]]:
    """``hybridrag cloud serve`` (extractive writer) as a process of its own over ``files`` of ``corpus``.

    Returns (url, token).
    """
    from cloud.local_server import free_loopback_port, server_process

    source = work / "served-corpus"
    source.mkdir()
    for name in files:
        (source / Path(name).name).write_text((corpus / name).read_text())
    data = str(work / "cloud")
    cli = [sys.executable, "-m", "client.cli", "cloud"]
    with console.status(f"ingesting {len(files)} files for the memory service"):
        subprocess.run([*cli, "ingest", str(source), "--data-dir", data], check=True, capture_output=True)
    token = subprocess.run(
        [*cli, "token", "create", "bench", "--data-dir", data], check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_loopback_port()
    serve = ["-m", "client.cli", "cloud", "serve", "--llm", "extractive", "--port", str(port), "--data-dir", data]
    with server_process(serve, f"http://127.0.0.1:{port}/healthz", startup_s):
        yield f"http://127.0.0.1:{port}", token
