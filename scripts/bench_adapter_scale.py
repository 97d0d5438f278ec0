#!/usr/bin/env python3
"""The memory adapter's cost to plain text at several LoRA scales, on the engine benchmark's documents.

The adapter is trained to keep plain text as the base model had it (a KL term on plain
text). This measures what its LoRA scale costs plain text, below 1 and above it (a
stronger LoRA may read its notes better); whether it reads its notes at a scale is the
evaluation's to say, e.g.

    HYBRIDRAG_ENGINE__ADAPTER_SCALE=0.6 .venv/bin/hybridrag eval --corpus CORPUS \\
        --cases reports/eval.cases.jsonl --systems client,client-tuned,hybrid,oracle \\
        --out reports/eval_adapter_scale_0.6.json

    .venv/bin/python scripts/bench_adapter_scale.py            # scales 0, 0.5, 0.75, 1.0, 1.25, 1.5
    .venv/bin/python scripts/bench_adapter_scale.py --quick    # two scales, one 512-token window
"""

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from client.engine import SuggestionEngine
from scripts.bench_engine import DEFAULT_PRESET, PPL_DOCUMENTS, PPL_WINDOW, bench_settings, document_tokens, perplexity
from scripts.bench_support import argument_parser, write_report
from shared.settings import load_settings

SCALES = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5)  # above 1: does a stronger LoRA read its notes better, at what cost
console = Console(stderr=True)


def main() -> None:
    args = argument_parser(__doc__, "adapter_scale.json", "two scales, one 512-token window").parse_args()
    scales, windows, window_tokens, documents = (
        ((0.0, 1.0), 1, 512, PPL_DOCUMENTS[:1]) if args.quick else (SCALES, 2, PPL_WINDOW, PPL_DOCUMENTS)
    )
    settings = load_settings()
    started = time.perf_counter()
    at_run_time = bench_settings(memory_adapter=True, merge_adapter=False, background_prefill=False)
    engine = SuggestionEngine(at_run_time, settings.cache_dir)
    try:
        docs = document_tokens(engine, settings.corpus_dir, documents)
        model, adapter, threads = engine.model_path, engine.adapter_path, engine.settings.n_threads
    finally:
        engine.close()
    assert adapter is not None, "the memory adapter is off in the settings"
    rows = {}
    for scale in scales:
        with console.status(f"perplexity at adapter scale {scale}"):
            rows[str(scale)] = perplexity(
                model, DEFAULT_PRESET, docs, windows, threads, adapter if scale else None, window_tokens, scale
            )
    base = rows[str(scales[0])]
    report = {
        "scales": {label: {"ppl": ppl, "ppl_delta_pct": 100 * (ppl / base - 1)} for label, ppl in rows.items()},
        "meta": {
            "adapter": adapter.name,
            "kv_preset": str(DEFAULT_PRESET),
            "ppl_documents": documents,
            "ppl_windows_per_document": windows,
            "ppl_window_tokens": window_tokens,
            "quick": args.quick,
            "seconds": round(time.perf_counter() - started, 1),
            "command": "python scripts/bench_adapter_scale.py" + (" --quick" if args.quick else ""),
        },
    }
    table = Table(title="memory adapter: plain-text perplexity by LoRA scale (scale 0 = the base model)")
    for column in ("scale", "perplexity", "vs base"):
        table.add_column(column, justify="right")
    for label, row in report["scales"].items():
        table.add_row(label, f"{row['ppl']:.3f}", f"{row['ppl_delta_pct']:+.1f}%")
    Console().print(table)
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
