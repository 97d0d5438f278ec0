#!/usr/bin/env python3
"""Benchmark passage selection: which few of the retrieved candidates should reach the prompt.

Retrieval's top 4 are the memory's passages. The top 12 hold more of what the writer
types next, so a better choice among them could lift the memory without finding
anything new. For training-split cases only (never the evaluation's), document held
out, this compares ways of choosing 4 of the top ``--candidates``:

- ``retrieval order``: the top 4, as the worker sends them;
- ``oracle``: the 4 with the most of the reference's distinctive words: the ceiling of
  any selection (it reads the answer);
- ``diversity (MMR)``: rank against words already covered (maximal marginal relevance);
- ``LM likelihood`` (``--lm``): the 4 under which the client's own model (Gemma 3 270M)
  finds the last ``--tail-tokens`` of the text likeliest (In-Context RALM's reranking).
  About 8 s a case on 2 cores.

Reported per selection: the reference's content words in the 4 passages (recall) and
the copy ceiling (evaluation/runner.py). With ``--reader``, the client reads each
selection too: the shipped adapter continues ``[passages][prefix]`` greedily, as the
evaluation's ``hybrid`` does, scored by ROUGE-L and keystrokes saved, beside the same
reader with no passages, with each selection's paired difference from retrieval order.
That says what a better selection could be worth before one is built: the oracle's
gain is the most any reranker can give. Prints a table and writes reports/selection.json.

    .venv/bin/python scripts/bench_selection.py --cases 100
    .venv/bin/python scripts/bench_selection.py --cases 30 --lm
    .venv/bin/python scripts/bench_selection.py --cases 40 --reader --out reports/selection_reader.json
"""

import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from llama_cpp import Llama
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.engine.kv_cache import continuation_logprobs
from client.memory.local_memory import LocalNote
from client.memory.memory_block import MemoryBlock
from cloud.cli import ingest_with_progress
from cloud.datastore import RetrievedChunk
from cloud.datastore.lexical import distinctive_words
from cloud.memory.processor import retrieval_focus
from cloud.writers.passage_writer import passage
from evaluation.cases import EvalCase
from evaluation.cloud_side import EvaluationCloud, Holdout
from evaluation.metrics import bootstrap_interval, replay_keystrokes, rouge_l
from evaluation.runner import SYSTEM_SPECS, copy_ceiling, evaluation_engine, replay_suggester
from scripts.bench_retrieval import recall, training_cases
from scripts.bench_support import argument_parser, write_report
from shared.llama_loading import load_llama
from shared.machine import cpu_description
from shared.model_files import default_gguf_path
from shared.settings import PYTHON_DOCS_DIR, Settings, WriterKind, load_settings

console = Console()
CHOSEN = 4  # passages a prompt holds (client.notes_in_prompt)
MMR_RELEVANCE = 0.3  # the weight of retrieval rank against redundancy; the best of 0.3, 0.5 and 0.7 here

NO_PASSAGES = "no passages (the reader alone)"

Selection = Callable[[EvalCase, str, list[RetrievedChunk]], list[RetrievedChunk]]


def retrieval_order(case: EvalCase, focus: str, candidates: list[RetrievedChunk]) -> list[RetrievedChunk]:
    return candidates[:CHOSEN]


def oracle(case: EvalCase, focus: str, candidates: list[RetrievedChunk]) -> list[RetrievedChunk]:
    return sorted(candidates, key=lambda chunk: -recall(case.reference, [chunk.text]))[:CHOSEN]


def diversity(case: EvalCase, focus: str, candidates: list[RetrievedChunk]) -> list[RetrievedChunk]:
    """Maximal marginal relevance: relevance by rank, redundancy as the share of a passage's words already chosen."""
    words = [set(distinctive_words(chunk.text)) for chunk in candidates]
    chosen: list[int] = []
    left = list(range(len(candidates)))
    while left and len(chosen) < CHOSEN:

        def value(i: int) -> float:
            redundancy = max((len(words[i] & words[j]) / max(1, len(words[i])) for j in chosen), default=0.0)
            return MMR_RELEVANCE / (1 + i) - (1 - MMR_RELEVANCE) * redundancy

        best = max(left, key=value)
        chosen.append(best)
        left.remove(best)
    return [candidates[i] for i in chosen]


class LikelihoodSelection:
    """The passages under which the client's model finds the text's last tokens likeliest."""

    def __init__(self, tail_tokens: int) -> None:
        model = default_gguf_path(load_settings().cache_dir)
        self._llm = load_llama(model, Llama, n_ctx=1024, n_batch=1024, flash_attn=True, swa_full=True)
        self._tail_tokens = tail_tokens

    def __call__(self, case: EvalCase, focus: str, candidates: list[RetrievedChunk]) -> list[RetrievedChunk]:
        tail = self._llm.tokenize(focus.encode(), add_bos=False)[-self._tail_tokens :]
        scores = [self._tail_logprob(passage(chunk.text), tail) for chunk in candidates]
        return [candidates[i] for i in np.argsort(scores)[::-1][:CHOSEN]]

    def _tail_logprob(self, text: str, tail: list[int]) -> float:
        """Mean log-probability of the tail's second half, after the passage and the tail's first half."""
        context = self._llm.tokenize((text + "\n\n").encode(), add_bos=True)
        half = len(tail) // 2
        return float(continuation_logprobs(self._llm, context + tail[:half], tail[half:]).mean())


class Reader:
    """The client as the evaluation's ``hybrid`` runs it: the shipped adapter, greedy, the passages as its notes."""

    def __init__(self, settings: Settings) -> None:
        self._engine = evaluation_engine(settings, SYSTEM_SPECS["hybrid"])

    def __call__(self, case: EvalCase, texts: list[str]) -> dict[str, float]:
        block = MemoryBlock(tuple(LocalNote(f"passage-{i}", 0, passage(text), ()) for i, text in enumerate(texts)))
        self._engine.set_memory(block.text, block.quotes)
        self._engine.prefill(case.prefix)
        first = self._engine.suggest(case.prefix).text
        replay = replay_keystrokes(case.prefix, case.reference, replay_suggester(self._engine, case, first))
        return {"rouge_l": rouge_l(first, case.reference), "keystroke_savings": replay.savings}


def measure(
    cloud: EvaluationCloud,
    cases: Sequence[EvalCase],
    selections: dict[str, Selection],
    candidates: int,
    reader: Reader | None,
) -> dict[str, dict[str, float]]:
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in selections}
    if reader:
        rows[NO_PASSAGES] = []
    for number, case in enumerate(cases, 1):
        focus = retrieval_focus(cloud.request_for(case.prefix), cloud.settings.cloud.retrieval_context_chars)
        found = cloud.held_out_search(case).search_text(focus, candidates)
        for name, select in selections.items():
            texts = [chunk.text for chunk in select(case, focus, found)]
            row = {
                "recall": recall(case.reference, texts),
                "copy_ceiling": copy_ceiling(case.prefix, case.reference, texts),
            }
            rows[name].append(row | (reader(case, texts) if reader else {}))
        if reader:
            rows[NO_PASSAGES].append({"recall": 0.0, "copy_ceiling": 0.0} | reader(case, []))
        console.print(f"case {number}/{len(cases)}", end="\r")
    return {name: summary(got, rows["retrieval order"]) for name, got in rows.items()}


def summary(got: list[dict[str, float]], baseline: list[dict[str, float]]) -> dict[str, float]:
    """Means of each figure, and for the reader's, the paired difference from retrieval order with its interval."""
    figures: dict[str, float] = {key: statistics.fmean(row[key] for row in got) for key in got[0]}
    for key in ("rouge_l", "keystroke_savings"):
        if key in got[0]:
            differences = [row[key] - base[key] for row, base in zip(got, baseline, strict=True)]
            low, high = bootstrap_interval(differences)
            figures |= {
                f"{key}_delta": statistics.fmean(differences),
                f"{key}_delta_low": low,
                f"{key}_delta_high": high,
            }
    return figures


def results_table(results: dict[str, dict[str, float]], title: str) -> Table:
    reading = "rouge_l" in results["retrieval order"]
    columns = ["selection", "recall", "copy ceiling"]
    if reading:
        columns += ["ROUGE-L", "Δ vs order [95%]", "keystrokes", "Δ vs order [95%] "]
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == "selection" else "right")
    for name, figures in results.items():
        cells = [name, f"{figures['recall']:.3f}", f"{figures['copy_ceiling']:.3f}"]
        for key in ("rouge_l", "keystroke_savings") if reading else ():
            low, high = figures[key + "_delta_low"], figures[key + "_delta_high"]
            cells += [f"{figures[key]:.3f}", f"{figures[key + '_delta']:+.3f} [{low:+.3f}, {high:+.3f}]"]
        table.add_row(*cells)
    return table


def main() -> None:
    parser = argument_parser(__doc__, "selection.json", "5 cases", corpus=PYTHON_DOCS_DIR)
    parser.add_argument("--cases", type=int, default=100, help="training-split cases (seed 11)")
    parser.add_argument("--candidates", type=int, default=12, help="retrieved candidates to choose from")
    parser.add_argument("--lm", action="store_true", help="also the language model's choice (slow)")
    parser.add_argument("--tail-tokens", type=int, default=96)
    parser.add_argument("--reader", action="store_true", help="also the client's suggestions from each selection")
    args = parser.parse_args()
    cases = training_cases(args.corpus, 5 if args.quick else args.cases)
    selections: dict[str, Selection] = {
        "retrieval order": retrieval_order,
        "oracle (reads the reference)": oracle,
        f"diversity (MMR, {MMR_RELEVANCE})": diversity,
    }
    if args.lm:
        selections["LM likelihood of the text's tail"] = LikelihoodSelection(args.tail_tokens)
    settings = load_settings()
    cloud = EvaluationCloud(settings, args.corpus, WriterKind.PASSAGES, Holdout.DOCUMENT)
    try:
        ingest_with_progress(cloud.datastore, cloud.corpus)
        results = measure(cloud, cases, selections, args.candidates, Reader(settings) if args.reader else None)
    finally:
        cloud.close()
    console.print(
        results_table(results, f"{CHOSEN} of the top {args.candidates} passages, {len(cases)} training-split cases")
    )
    report = {
        "what": f"choosing {CHOSEN} of the top {args.candidates} retrieved passages: content-word recall and copy "
        "ceiling of the reference, document held out, training-split cases",
        "cases": len(cases),
        "cases_source": "scripts/bench_retrieval.py training_cases (seed 11)",
        "corpus": str(args.corpus),
        "candidates": args.candidates,
        "tail_tokens": args.tail_tokens if args.lm else None,
        "reader": "the shipped memory adapter, greedy, 32 tokens (evaluation system hybrid)" if args.reader else None,
        "cpu": cpu_description(),
        "quick": args.quick,
        "results": results,
    }
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
