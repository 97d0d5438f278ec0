"""The cloud benchmark still runs and writes the report shape the README promises (never its timings)."""

from pathlib import Path

import pytest

from tests.processes import run_quick_benchmark


@pytest.mark.slow
def test_quick_benchmark_writes_cloud_report(tmp_path: Path, model_cache: Path) -> None:
    run, report = run_quick_benchmark("bench_cloud.py", tmp_path / "cloud.json", model_cache)
    assert report["ingest"]["chunks"] > 0 and report["ingest"]["index_kind"] == "flat"
    assert {"search_ms_p50", "search_ms_p95", "query_embedding_ms_p50"} <= set(report["retrieval"])
    embedders = report["embedders"]
    assert embedders["speedup"] > 0 and embedders["default"] in embedders["paths"]
    assert all({"chunks_per_s", "min_cosine", "mean_cosine"} <= set(row) for row in embedders["paths"].values())
    assert {"flat_ms_p50", "ivf_ms_p50", "ivf_recall_at_10"} <= set(report["index_kinds"][0])
    assert set(report["requests"]) == {"extractive", "embedded", "qwen"}
    for row in report["requests"].values():
        assert {
            "visible_ms_p50",
            "visible_ms_p95",
            "notes_per_request",
            "tokens_per_note_mean",
            "gemma_tokens_per_note_mean",
        } <= set(row)
    assert "memory request → notes visible" in run.stdout
