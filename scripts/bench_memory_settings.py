#!/usr/bin/env python3
"""What the memory's settings do to the suggestions: the evaluation, once per setting, case by case.

The notes are short and few because of what they cost (every note is prefilled) and
because the adapter was trained on three or four of them; the drafter quotes a note's
token when the model gives it at least ``copy_min_probability``. This benchmark checks
those defaults against the alternatives on the same cases, hold-out and adapter: more
notes, notes that carry the sentence after their own, quoting more or less eagerly,
quoting at sentence starts. Each variant runs ``hybridrag eval`` with its settings as
environment overrides (so the code path is the product's) and is compared with the
defaults case by case (paired bootstrap 95% intervals).

Prints a table and writes reports/memory_settings.json.

    .venv/bin/python scripts/bench_memory_settings.py            # 30 Python-docs cases (about 15 minutes)
    .venv/bin/python scripts/bench_memory_settings.py --quick    # 3 cases, two variants
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.metrics import bootstrap_interval
from scripts.bench_support import argument_parser, write_report
from shared.settings import ENV_PREFIX, PYTHON_DOCS_DIR

console = Console()
METRICS = ("rouge_l", "keystroke_savings")


@dataclass(frozen=True)
class Variant:
    name: str
    system: str  # the evaluation system it changes: hybrid (the notes) or hybrid-copy (the quoting)
    overrides: dict[str, str] = field(default_factory=dict)  # setting path -> value


DEFAULTS = Variant("defaults", "hybrid")  # runs client, hybrid and hybrid-copy: the baselines
VARIANTS = (
    Variant(
        "6 notes a request, 8 in the prompt", "hybrid", {"cloud.notes_per_request": "6", "client.notes_in_prompt": "8"}
    ),
    Variant("notes carry the next sentence", "hybrid", {"cloud.extractive_follow_sentences": "1"}),
    Variant("quote every drafted token", "hybrid-copy", {"engine.copy_min_probability": "0.0"}),
    Variant("quote at probability 0.02", "hybrid-copy", {"engine.copy_min_probability": "0.02"}),
    Variant("quote at sentence starts", "hybrid-copy", {"engine.quote_at_sentence_start": "true"}),
)


def environment(overrides: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    for path, value in overrides.items():
        env[ENV_PREFIX + path.replace(".", "__").upper()] = value
    return env


def run_eval(corpus: Path, cases: Path, systems: list[str], overrides: dict[str, str], out: Path) -> dict:
    command = [
        str(ROOT / ".venv" / "bin" / "hybridrag"), "eval", "--corpus", str(corpus), "--cases", str(cases),
        "--writer", "extractive", "--systems", ",".join(systems), "--holdout", "document", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, env=environment(overrides), capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"hybridrag eval failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def per_case(report: dict, system: str, metric: str) -> list[float]:
    return [float(case["systems"][system][metric]) for case in report["per_case"]]


def compared(variant: dict, baseline: dict, system: str) -> dict[str, dict]:
    """Mean of each metric, and the paired difference from the defaults' same system."""
    row = {}
    for metric in METRICS:
        ours, theirs = per_case(variant, system, metric), per_case(baseline, system, metric)
        diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
        row[metric] = {
            "mean": statistics.fmean(ours),
            "delta": statistics.fmean(diffs),
            "ci95": bootstrap_interval(diffs),
        }
    return row


def main() -> None:
    parser = argument_parser(__doc__, "memory_settings.json", "3 cases, two variants", corpus=PYTHON_DOCS_DIR)
    parser.add_argument("--cases", type=Path, default=ROOT / "reports" / "eval.cases.jsonl")
    args = parser.parse_args()
    variants = VARIANTS[1:3] if args.quick else VARIANTS
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        cases = args.cases
        if args.quick:
            cases = Path(work) / "cases.jsonl"
            cases.write_text("".join(args.cases.read_text().splitlines(keepends=True)[:3]))
        with console.status("the defaults: client, hybrid, hybrid-copy"):
            baseline = run_eval(
                args.corpus, cases, ["client", "hybrid", "hybrid-copy"], {}, Path(work) / "defaults.json"
            )
        rows: dict[str, dict[str, Any]] = {}
        rows[DEFAULTS.name] = {"system": "hybrid", "overrides": {}, **compared(baseline, baseline, "hybrid")}
        rows["defaults, quoting"] = {
            "system": "hybrid-copy",
            "overrides": {},
            **compared(baseline, baseline, "hybrid-copy"),
        }
        for at, variant in enumerate(variants):
            with console.status(f"{variant.name} ({at + 1}/{len(variants)})"):
                report = run_eval(args.corpus, cases, [variant.system], variant.overrides, Path(work) / f"{at}.json")
            rows[variant.name] = {
                "system": variant.system,
                "overrides": variant.overrides,
                **compared(report, baseline, variant.system),
            }
    client = {metric: statistics.fmean(per_case(baseline, "client", metric)) for metric in METRICS}
    table = Table(title=f"Memory settings, {len(baseline['per_case'])} cases, document held out")
    for column in ("variant", "system", "ROUGE-L", "Δ ROUGE-L [95%]", "keystrokes saved", "Δ keystrokes [95%]"):
        table.add_column(column)
    for name, row in rows.items():
        cells = []
        for metric in METRICS:
            low, high = row[metric]["ci95"]
            cells += [f"{row[metric]['mean']:.3f}", f"{row[metric]['delta']:+.3f} [{low:+.3f}, {high:+.3f}]"]
        table.add_row(name, row["system"], *cells)
    console.print(table)
    console.print(f"client alone: ROUGE-L {client['rouge_l']:.3f}, keystrokes saved {client['keystroke_savings']:.3f}")
    report = {
        "what": "the evaluation per memory setting, paired against the defaults' same system",
        "cases_file": str(args.cases.relative_to(ROOT)) if args.cases.is_relative_to(ROOT) else str(args.cases),
        "cases": len(baseline["per_case"]),
        "quick": args.quick,
        "client": client,
        "engine": baseline["setup"]["engine"],
        "variants": rows,
        "seconds": time.perf_counter() - started,
    }
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
