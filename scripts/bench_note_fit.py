#!/usr/bin/env python3
"""Benchmark: can the client tell which note continues the text, at the sentence start where it must decide?

Every evaluation case starts its suggestion at a sentence start, where nothing typed
can match a note, so quoting from the memory there needs another signal of which note
fits. (Once the writer has typed a note's first words the tuned model follows it: the
oracle's keystrokes saved are 0.80.) This measures the obvious signal: the likelihood
of each note's first ``--tokens`` tokens right after the text, under the tuned model
with no memory in its prompt (a fitting note is a likely continuation), and how much
likelier the text makes the note (the same with no text before it subtracted:
pointwise mutual information). For each case of the evaluation's oracle block (the
notes plus the reference) it reports where the reference ranks, and then replays the
rule the engine would follow: quote the likeliest note when its score reaches a floor
and beats the next note's by a margin. A quoted suggestion is taken as the note's
first 24 words (about the evaluation's 32 tokens); otherwise the suggestion is the one
``--baseline`` (an evaluation report with ``hybrid-copy`` and ``oracle-copy`` on the
same cases) recorded. So one table says what the rule would give the oracle and what
it would cost real notes. Prints the table and writes reports/note_fit.json.

    .venv/bin/python scripts/bench_note_fit.py
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from llama_cpp import Llama
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.engine.adapter_file import adapter_for
from client.engine.kv_cache import continuation_logprobs
from client.engine.merged_adapter import model_and_lora
from cloud.cli import ingest_with_progress
from evaluation.cases import EvalCase, read_cases, with_oracle_note
from evaluation.cloud_side import EvaluationCloud, Holdout
from evaluation.metrics import rouge_l
from evaluation.runner import memory_block
from scripts.bench_support import argument_parser, write_report
from shared.llama_loading import load_llama
from shared.model_files import default_gguf_path
from shared.settings import PYTHON_DOCS_DIR, load_settings

QUOTED_WORDS = 24  # about SUGGESTION_TOKENS of docs prose
CONTEXT_TOKENS = 600  # of the text before the cursor, as the likelihood's context
FLOORS = (None, -3.5, -3.0, -2.5, -2.0)  # mean log-probability (nats a token) a quoted note must reach
MARGINS = (0.0, 0.5, 1.0)  # and by how much it must beat the next note
PMI_FLOORS = (1.5, 2.0, 2.5, 3.0, 3.5)  # the same, for how much likelier the text makes the note (nats a token)
console = Console()


class MemoryFreeScorer:
    """Mean log-probability of a note's first tokens right after the text, with no memory in the prompt."""

    def __init__(self, tokens: int) -> None:
        settings = load_settings()
        base = default_gguf_path(settings.cache_dir)
        # The shipped adapter as the engine loads it: merged, or applied at run time.
        model, lora = model_and_lora(base, adapter_for(settings.engine), settings.engine, settings.cache_dir)
        lora_options = {"lora_path": str(lora), "lora_scale": settings.engine.adapter_scale} if lora else {}
        self._llm = load_llama(model, Llama, n_ctx=1024, n_batch=1024, flash_attn=True, swa_full=True, **lora_options)
        self._tokens = tokens

    def __call__(self, text: str, note: str) -> float:
        llm = self._llm
        context = llm.tokenize(text.rstrip().encode(), add_bos=True)
        context = context[:1] + context[1:][-CONTEXT_TOKENS:]
        note_tokens = llm.tokenize((" " + note).encode(), add_bos=False)[: self._tokens]
        return float(continuation_logprobs(llm, context, note_tokens).mean())


def choice(scores: list[float], floor: float | None, margin: float) -> int | None:
    """The note the rule quotes: the likeliest, if it reaches ``floor`` and beats the next by ``margin``."""
    order = np.argsort(scores)[::-1]
    best = float(scores[order[0]])
    runner_up = float(scores[order[1]]) if len(order) > 1 else -np.inf
    if (floor is None or best >= floor) and best - runner_up >= margin:
        return int(order[0])
    return None


def replay(scored: list[dict], floor: float | None, margin: float, key: str = "score") -> dict[str, dict[str, float]]:
    """The rule's ROUGE-L for hybrid-copy (the real notes) and oracle-copy (the reference among them).

    ``key`` is what ranks the notes: ``score`` (the likelihood after the text) or ``pmi``
    (that minus the note's likelihood with no text before it: what the text adds).
    """
    results = {}
    for system, with_reference in (("hybrid-copy", False), ("oracle-copy", True)):
        scores, fired = [], 0
        for case in scored:
            notes = [note for note in case["notes"] if with_reference or not note["reference"]]
            chosen = choice([note[key] for note in notes], floor, margin)
            if chosen is None:
                scores.append(case["baseline"][system])
                continue
            fired += 1
            quoted = " ".join(notes[chosen]["text"].split()[:QUOTED_WORDS])
            scores.append(rouge_l(quoted, case["reference"]))
        results[system] = {"rouge_l": float(np.mean(scores)), "quoted": fired}
    return results


def score_cases(cloud: EvaluationCloud, cases: list[EvalCase], scorer: MemoryFreeScorer, baseline: dict) -> list[dict]:
    notes_in_prompt = cloud.settings.client.notes_in_prompt
    scored = []
    for number, case in enumerate(cases, start=1):
        recorded = baseline[(case.doc_id, case.reference)]
        notes = [note.text for note in memory_block(cloud.notes_for(case, case.prefix).notes, notes_in_prompt).notes]
        block = with_oracle_note(notes, case.reference, case.prefix)  # the oracle's block, as the evaluation builds it
        scored.append(
            {
                "doc_id": case.doc_id,
                "reference": case.reference,
                "baseline": {system: recorded[system]["rouge_l"] for system in ("hybrid-copy", "oracle-copy")},
                "notes": [
                    {"text": text, "reference": text == case.reference, "score": after, "pmi": after - scorer("", text)}
                    for text in block
                    for after in [scorer(case.prefix, text)]
                ],
            }
        )
        console.print(f"{number}/{len(cases)} {case.doc_id}", highlight=False)
    return scored


def reference_ranks(scored: list[dict], key: str) -> list[int]:
    """Where the reference ranks among the oracle block's notes by ``key`` (0: first)."""
    ranks = []
    for case in scored:
        order = sorted(case["notes"], key=lambda note: -note[key])
        ranks.append(next(i for i, note in enumerate(order) if note["reference"]))
    return ranks


def separation_of(scored: list[dict], key: str) -> dict:
    """Where the reference ranks by ``key`` (a count per rank), and its quartiles beside the best real note's.

    A rule can quote the reference without quoting wrong notes only where the two sit apart.
    """
    ranks = reference_ranks(scored, key)
    reference = [next(note[key] for note in case["notes"] if note["reference"]) for case in scored]
    best_real = [max(note[key] for note in case["notes"] if not note["reference"]) for case in scored]
    return {
        "reference_rank_counts": np.bincount(ranks).tolist(),
        "reference_quartiles": np.percentile(reference, [25, 50, 75]).round(2).tolist(),
        "best_real_note_quartiles": np.percentile(best_real, [25, 50, 75]).round(2).tolist(),
    }


def main() -> None:
    parser = argument_parser(__doc__, "note_fit.json", "3 cases", corpus=PYTHON_DOCS_DIR)
    parser.add_argument("--cases", type=Path, default=Path("reports/eval40.cases.jsonl"))
    parser.add_argument("--baseline", type=Path, default=Path("reports/eval40_quote_start_off.json"))
    parser.add_argument("--holdout", choices=[h.value for h in Holdout], default="document")
    parser.add_argument("--tokens", type=int, default=12, help="a note's first tokens scored")
    args = parser.parse_args()

    began = time.perf_counter()
    cases = read_cases(args.cases)[: 3 if args.quick else None]
    baseline = {
        (case["doc_id"], case["reference"]): case["systems"]
        for case in json.loads(args.baseline.read_text())["per_case"]
    }
    settings = load_settings()
    cloud = EvaluationCloud(settings, args.corpus, settings.cloud.llm, Holdout(args.holdout))
    try:
        ingest_with_progress(cloud.datastore, cloud.corpus)
        scored = score_cases(cloud, cases, MemoryFreeScorer(args.tokens), baseline)
    finally:
        cloud.close()
    rules = {
        f"floor {floor if floor is not None else 'none'}, margin {margin}": replay(scored, floor, margin)
        for floor in FLOORS
        for margin in MARGINS
    } | {f"pmi floor {floor}": replay(scored, floor, 0.0, "pmi") for floor in PMI_FLOORS}
    separation = {key: separation_of(scored, key) for key in ("score", "pmi")}
    table = Table(title=f"Quoting the likeliest note at a sentence start ({len(scored)} cases, ROUGE-L)")
    for column in ("rule", "hybrid-copy", "quoted", "oracle-copy", "quoted "):
        table.add_column(column)
    table.add_row(
        "never (the baseline)",
        f"{np.mean([c['baseline']['hybrid-copy'] for c in scored]):.3f}",
        "0",
        f"{np.mean([c['baseline']['oracle-copy'] for c in scored]):.3f}",
        "0",
    )
    for name, result in rules.items():
        hybrid, oracle = result["hybrid-copy"], result["oracle-copy"]
        table.add_row(
            name, f"{hybrid['rouge_l']:.3f}", str(hybrid["quoted"]), f"{oracle['rouge_l']:.3f}", str(oracle["quoted"])
        )
    console.print(table)
    for key, found in separation.items():
        console.print(
            f"{key}: the reference ranks first in {found['reference_rank_counts'][0]} of {len(scored)} oracle blocks; "
            f"its quartiles {found['reference_quartiles']}, the best real note's {found['best_real_note_quartiles']}"
        )
    report = {
        "what": __doc__.split("\n\n")[0],
        "cases_file": str(args.cases),
        "baseline": str(args.baseline),
        "holdout": args.holdout,
        "scored_tokens": args.tokens,
        "separation": separation,
        "rules": rules,
        "per_case": scored,
        "seconds": time.perf_counter() - began,
    }
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
