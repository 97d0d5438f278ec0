"""The client memory benchmark still runs and writes the report shape the README promises (never its timings)."""

from pathlib import Path

import pytest

from tests.processes import run_quick_benchmark


@pytest.mark.slow
def test_quick_benchmark_writes_client_memory_report(tmp_path: Path, client_cache: Path) -> None:
    run, report = run_quick_benchmark("bench_client_memory.py", tmp_path / "client_memory.json", client_cache)
    assert {
        "onnx_ms_p50",
        "onnx_ms_p95",
        "torch_fp32_ms_p50",
        "torch_fp32_ms_p95",
        "min_cosine",
        "cursor_query_ms_p50",
    } <= set(report["embedding"])
    assert report["embedding"]["min_cosine"] >= 0.999
    assert {"notes", "index", "search_ms_p50", "search_ms_p95"} <= set(report["retrieval"][0])
    assert {"apply_ms_p50", "of_which_embedding_ms_p50"} <= set(report["delta_apply"])
    assert {"empty_delta_ms_p50", "changed_delta_ms_p50"} <= set(report["sync"])
    assert set(report["memory_switch"]["rows"]) == {
        "steady",
        "switch, background prefill",
        "switch, no background prefill",
        "switch to passages, background prefill",
    }
    assert "first token in the" in run.stdout
