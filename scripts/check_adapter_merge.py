#!/usr/bin/env python3
"""Check the merged memory adapter: the merged model predicts what the run-time LoRA predicts.

The engine merges the adapter into the weights once (client/engine/merged_adapter.py),
its projections re-stored as Q8_0, instead of having llama.cpp add the LoRA at every
token. On the evaluation's cases (text continued by its reference, the memory block the
case's passages would give being left out: the adapter's own change is what is checked),
each model's greedy next token at every reference position (teacher-forced) is compared:

- merged against the run-time LoRA;
- the base model against itself with its projections re-stored as Q8_0 the same way
  (the merge at scale 0): how often the storage type alone tips a near tie. The merge
  adds no disagreement of its own when the first figure is within a point of this one
  (the same reading as the LoRA's conversion check, reports/adapter_conversion.json);
- the base model against the run-time LoRA: how much the adapter changes the
  predictions at all.

Prints a table and writes reports/adapter_merge.json.

    .venv/bin/python scripts/check_adapter_merge.py [--cases 40]
"""

import sys
from pathlib import Path

import llama_cpp
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.engine.adapter_file import shipped_adapter
from client.engine.kv_cache import decode_with_logits
from client.engine.merged_adapter import merged_model
from evaluation.cases import read_cases
from scripts.bench_support import REPORTS_DIR, argument_parser, write_report
from shared.llama_loading import load_llama
from shared.model_files import default_gguf_path
from shared.settings import load_settings

console = Console()
OWN_DISAGREEMENT_ALLOWED = 0.01  # merged vs run-time may agree this much less than Q8_0 storage alone does


def greedy_tokens(model: Path, lora: Path | None, prompts: list[tuple[list[int], int]], threads: int) -> list[int]:
    """The argmax next token at every scored position of every prompt (teacher-forced), in order."""
    llm = load_llama(
        model,
        llama_cpp.Llama,
        n_ctx=2048,
        n_batch=2048,
        n_threads=threads,
        flash_attn=True,
        swa_full=True,
        **({"lora_path": str(lora)} if lora else {}),
    )
    try:
        chosen: list[int] = []
        for tokens, scored_from in prompts:
            llm.n_tokens = 0
            chosen += np.argmax(decode_with_logits(llm, tokens[:-1], scored_from - 1), axis=1).tolist()
        return chosen
    finally:
        llm.close()


def main() -> None:
    parser = argument_parser(__doc__, "adapter_merge.json", "5 cases")
    parser.add_argument("--cases", type=int, default=40, help="cases of reports/eval100.cases.jsonl")
    args = parser.parse_args()
    settings = load_settings()
    base = default_gguf_path(settings.cache_dir)
    adapter = shipped_adapter()
    merged = merged_model(base, adapter, 1.0, settings.cache_dir)
    requantized = merged_model(base, adapter, 0.0, settings.cache_dir)  # the base, projections as Q8_0
    cases = read_cases(REPORTS_DIR / "eval100.cases.jsonl")[: 5 if args.quick else args.cases]
    tokenizer = load_llama(base, llama_cpp.Llama, n_ctx=64, vocab_only=True)
    prompts = []
    for case in cases:
        prefix = tokenizer.tokenize(case.prefix.encode(), add_bos=True)
        whole = tokenizer.tokenize((case.prefix + " " + case.reference).encode(), add_bos=True)
        prompts.append((whole, len(prefix)))
    threads = settings.engine.n_threads
    with console.status("the run-time LoRA"):
        run_time = greedy_tokens(base, adapter, prompts, threads)
    with console.status("the merged model"):
        merged_tokens = greedy_tokens(merged, None, prompts, threads)
    with console.status("the base model"):
        base_tokens = greedy_tokens(base, None, prompts, threads)
    with console.status("the base model, projections as Q8_0"):
        requantized_tokens = greedy_tokens(requantized, None, prompts, threads)
    positions = len(run_time)

    def share(ours: list[int], theirs: list[int]) -> float:
        return sum(a == b for a, b in zip(ours, theirs, strict=True)) / positions

    agreement = {
        "merged vs run-time LoRA": share(merged_tokens, run_time),
        "base, projections as Q8_0, vs base": share(requantized_tokens, base_tokens),
        "base vs run-time LoRA": share(base_tokens, run_time),
    }
    table = Table(title=f"greedy next token, {positions} teacher-forced positions of {len(cases)} cases")
    table.add_column("models")
    table.add_column("agree", justify="right")
    for name, agreed in agreement.items():
        table.add_row(name, f"{agreed:.1%}")
    console.print(table)
    storage_alone = agreement["base, projections as Q8_0, vs base"]
    met = agreement["merged vs run-time LoRA"] >= storage_alone - OWN_DISAGREEMENT_ALLOWED
    console.print(f"the merge adds no disagreement beyond Q8_0 storage's own (a point): {'yes' if met else 'NO'}")
    report = {
        "what": "greedy next-token agreement, teacher-forced over each case's reference: the adapter merged into "
        "the weights (Q8_0 projections) against llama.cpp applying the LoRA at run time; the base model against "
        "itself with Q8_0 projections (storage's own disagreement); the base model against the run-time LoRA",
        "cases": len(cases),
        "positions": positions,
        "merged_model": merged.name,
        "merged_bytes": merged.stat().st_size,
        "base_bytes": base.stat().st_size,
        "agreement": agreement,
        "own_disagreement_allowed": OWN_DISAGREEMENT_ALLOWED,
        "met": met,
        "quick": args.quick,
    }
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
