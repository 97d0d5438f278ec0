"""The client memory benchmark still runs and writes the report shape the README promises (never its timings)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import hermetic_env
from tests.test_bench_engine import ROOT


@pytest.mark.slow
def test_quick_benchmark_writes_client_memory_report(tmp_path: Path, client_cache: Path) -> None:
    out = tmp_path / "client_memory.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_client_memory.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
        env=hermetic_env(HYBRIDRAG_CACHE_DIR=str(client_cache), HYBRIDRAG_CONFIG=str(tmp_path / "none.toml")),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert {"onnx_ms_p50", "onnx_ms_p95", "torch_fp32_ms_p50", "torch_fp32_ms_p95", "min_cosine",
            "cursor_query_ms_p50"} <= set(report["embedding"])
    assert report["embedding"]["min_cosine"] >= 0.999
    assert {"notes", "index", "search_ms_p50", "search_ms_p95"} <= set(report["retrieval"][0])
    assert {"apply_ms_p50", "of_which_embedding_ms_p50"} <= set(report["delta_apply"])
    assert {"empty_delta_ms_p50", "changed_delta_ms_p50"} <= set(report["sync"])
    assert set(report["memory_switch"]["rows"]) == {"steady", "switch, background prefill", "switch, no background prefill"}
    assert "first token in the" in run.stdout
