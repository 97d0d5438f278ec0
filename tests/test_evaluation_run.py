"""The evaluation end to end, small: real corpus, real datastore and writer, the real client model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.datastore import Datastore
from evaluation.cloud_side import FilteredSearch, chunk_holdout, document_holdout
from shared.settings import CloudSettings
from tests.test_cli import hybridrag

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_cases_own_document_is_held_out_of_retrieval(
    ingested_data: Path,
    cloud_corpus: Path,
    embedder,
    tmp_path: Path,
) -> None:
    import shutil

    shutil.copytree(ingested_data, tmp_path / "data")
    store = Datastore(tmp_path / "data", CloudSettings(data_dir=tmp_path / "data"), embedder)
    own = cloud_corpus / "classes.rst.txt"
    query = own.read_text()[2000:3000]
    assert store.search_text(query, 4)[0].path == str(own)  # without holding it out, the answer is a lookup
    held_out = FilteredSearch(store, document_holdout(str(own))).search_text(query, 4)
    assert len(held_out) == 4 and all(chunk.path != str(own) for chunk in held_out)
    overlapping = store.search_text(query, 1)[0]
    chunk_held = FilteredSearch(store, chunk_holdout(query)).search_text(query, 4)
    assert len(chunk_held) == 4 and overlapping.chunk_id not in {chunk.chunk_id for chunk in chunk_held}
    assert any(chunk.path == str(own) for chunk in chunk_held)  # the document's other parts stay
    store.close()


@pytest.mark.slow
@pytest.mark.timeout(2700)  # two evaluation runs of a few minutes each; room for a busy machine
def test_eval_scores_four_systems_and_reuses_its_notes(cloud_corpus: Path, client_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "eval.json"
    first = hybridrag(
        "eval",
        "--corpus",
        str(cloud_corpus),
        "--make-cases",
        "2",
        "--all-documents",
        "--writer",
        "extractive",
        "--systems",
        "client,hybrid,hybrid-stale,rag",
        "--out",
        str(out),
        cache=client_cache,
        timeout_s=1200,
    )
    assert first.returncode == 0, first.stderr
    report = json.loads(out.read_text())
    assert report["cases"] == 2 and list(report["summary"]) == ["client", "hybrid", "hybrid-stale", "rag"]
    for entry in report["summary"].values():
        assert all(0 <= entry[metric]["mean"] <= 1 for metric in ("rouge_l", "bleu", "gleu", "keystroke_savings"))
        low, high = entry["rouge_l"]["ci95"]
        assert low <= entry["rouge_l"]["mean"] <= high
        assert 0 < entry["first_token_ms"]["p50"] <= entry["total_ms"]["p50"]
    cases = [json.loads(line) for line in out.with_suffix(".cases.jsonl").read_text().splitlines()]
    for case, result in zip(cases, report["per_case"], strict=True):
        systems = result["systems"]
        assert systems["client"]["memory_tokens"] == 0 and systems["hybrid"]["notes"]
        assert systems["rag"]["retrieval_ms"] > 0 and len(systems["rag"]["source_paths"]) >= 1
        for system in systems.values():  # retrieval never saw the case's own document
            assert str(cloud_corpus / case["doc_id"]) not in system["source_paths"]
        # RAG evaluates its retrieved chunks at request time; hybrid's notes were evaluated when they arrived.
        assert systems["rag"]["evaluated_tokens"] > systems["hybrid"]["evaluated_tokens"] + 100
    assert report["setup"]["notes_written"]["written"] == 4 and "targets" in report
    assert set(report["summary"]["hybrid"]["vs_client"]) == {"rouge_l", "gleu", "keystroke_savings"}

    again = hybridrag(
        "eval",
        "--corpus",
        str(cloud_corpus),
        "--cases",
        str(out.with_suffix(".cases.jsonl")),
        "--writer",
        "extractive",
        "--systems",
        "hybrid",  # one system is enough to show its notes come from the cache
        "--out",
        str(out),
        cache=client_cache,
        timeout_s=1200,
    )
    assert again.returncode == 0, again.stderr
    rerun = json.loads(out.read_text())
    assert rerun["setup"]["notes_written"] == {"written": 0, "cached": 2, "seconds": 0.0}
    assert [case["systems"]["hybrid"]["notes"] for case in rerun["per_case"]] == [
        case["systems"]["hybrid"]["notes"] for case in report["per_case"]
    ]

    drawn = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "eval_report.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert drawn.returncode == 0, drawn.stderr
    assert "| `hybrid` |" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
