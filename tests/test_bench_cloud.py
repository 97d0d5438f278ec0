"""The cloud benchmark still runs and writes the report shape the README promises (never its timings)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import hermetic_env
from tests.test_bench_engine import ROOT


@pytest.mark.slow
def test_quick_benchmark_writes_cloud_report(tmp_path: Path, model_cache: Path) -> None:
    out = tmp_path / "cloud.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_cloud.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
        env=hermetic_env(HYBRIDRAG_CACHE_DIR=str(model_cache), HYBRIDRAG_CONFIG=str(tmp_path / "none.toml")),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["ingest"]["chunks"] > 0 and report["ingest"]["index_kind"] == "flat"
    assert {"search_ms_p50", "search_ms_p95", "query_embedding_ms_p50"} <= set(report["retrieval"])
    assert {"fp32_chunks_per_s", "bf16_chunks_per_s", "min_cosine"} <= set(report["embedding_precision"])
    assert {"flat_ms_p50", "ivf_ms_p50", "ivf_recall_at_10"} <= set(report["index_kinds"][0])
    assert set(report["requests"]) == {"extractive", "embedded"}
    for row in report["requests"].values():
        assert {"visible_ms_p50", "visible_ms_p95", "notes_per_request", "tokens_per_note_mean",
                "gemma_tokens_per_note_mean"} <= set(row)
    assert "memory request → notes visible" in run.stdout
