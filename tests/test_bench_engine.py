"""The engine benchmark still runs and writes the report shape the README promises.

Shape only: tests never judge timings.
"""

from pathlib import Path

import pytest

from tests.processes import run_quick_benchmark

PRESET_FIELDS = {
    "kv_bytes_per_token",
    "ppl",
    "ppl_delta_pct",
    "prompt_tok_s",
    "decode_tok_s_64",
    "decode_tok_s_1700",
    "first_token_ms_p50",
    "first_token_ms_p95",
    "suggestion16_ms_p50",
    "first_text_ms_p50",
    "first_text_ms_p95",
    "suggestion16_draft_ms_p50",
    "suggestion16_draft_ms_p95",
    "suggestion16_undrafted_ms_p50",
    "suggestion16_lookup_only_ms_p95",
}


@pytest.mark.slow
@pytest.mark.timeout(2400)  # about 5 minutes alone; give a busy machine room (the process's own limit is 1,800 s)
def test_quick_benchmark_writes_engine_report(tmp_path: Path, model_cache: Path) -> None:
    run, report = run_quick_benchmark("bench_engine.py", tmp_path / "engine.json", model_cache, "--presets", "f16,q8q4")
    assert report["default"] == "q8q4"
    assert set(report["presets"]) == {"f16", "q8q4"}
    for row in report["presets"].values():
        assert PRESET_FIELDS <= set(row)
        assert all(isinstance(row[field], float) and row[field] == row[field] for field in PRESET_FIELDS)  # no NaN
    assert report["presets"]["f16"]["ppl_delta_pct"] == 0.0
    assert report["presets"]["q8q4"]["kv_bytes_per_token"] < report["presets"]["f16"]["kv_bytes_per_token"]
    assert "q8q4 (default)" in run.stdout  # the printed table
    assert set(report["memory_adapter"]) == {"base", "adapter", "adapter at run time", "ratios", "ratios at run time"}
    assert report["memory_adapter"]["adapter"]["ppl"] > 1 and "model" in report["meta"]["cpu"]
    for row in report["tokenizer_per_keystroke"].values():
        assert {"tokens", "whole_ms_p50", "incremental_ms_p50"} <= set(row)
