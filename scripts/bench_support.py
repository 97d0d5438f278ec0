"""What every benchmark script shares: percentiles, and writing its JSON report."""

import json
from pathlib import Path

import numpy as np
from rich.console import Console


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def write_report(report: dict, out: Path, console: Console) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out}")
