"""The scale-out benchmark still runs and writes the report shape the README promises (never its timings)."""

from pathlib import Path

import pytest

from tests.processes import run_quick_benchmark


@pytest.mark.slow
def test_quick_benchmark_writes_scaleout_report(tmp_path: Path, model_cache: Path) -> None:
    run, report = run_quick_benchmark("bench_scaleout.py", tmp_path / "scaleout.json", model_cache)
    assert {(row["queue"], row["workers"]) for row in report["rows"]} == {
        ("in-process", 1),
        ("in-process", 2),
        ("redis", 1),
        ("redis", 2),
    }
    for row in report["rows"]:
        assert {"writer", "requests", "seconds", "per_minute", "scaling_vs_one"} <= set(row) and row["per_minute"] > 0
    assert "memory requests per minute" in run.stdout
