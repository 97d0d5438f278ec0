"""What every benchmark script shares: percentiles, and writing its JSON report."""

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"


def argument_parser(doc: str | None, report_name: str, quick_help: str, corpus: Path | None = None) -> argparse.ArgumentParser:
    """The options every benchmark has: --quick (a smoke run of every stage), --out, and --corpus where it reads one."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if corpus is not None:
        parser.add_argument("--corpus", type=Path, default=corpus)
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {quick_help}")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR / report_name)
    return parser


def write_report(report: dict, out: Path, console: Console) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out}")
