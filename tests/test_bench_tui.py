"""The TUI benchmark still runs and writes the report shape the README promises (never its timings)."""

from pathlib import Path

import pytest

from tests.processes import run_quick_benchmark


@pytest.mark.slow
def test_quick_benchmark_writes_tui_report(tmp_path: Path, client_cache: Path) -> None:
    run, report = run_quick_benchmark("bench_tui.py", tmp_path / "tui.json", client_cache)
    assert [r["label"] for r in report["runs"]] == ["model alone", "with synced memory"]
    for row in report["runs"]:
        assert {
            "key_to_ghost_ms_p50",
            "first_token_ms_p50",
            "first_text_ms_p50",
            "frame_gap_ms_max",
            "pauses_with_ghost",
            "suggestions_started",
        } <= set(row)
        assert row["pauses_with_ghost"] >= 1  # a writer who pauses sees a suggestion
    assert "composition TUI" in run.stdout
