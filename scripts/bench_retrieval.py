#!/usr/bin/env python3
"""Benchmark retrieval for memory requests: how much of what the writer types next the cloud finds.

For each evaluation case and hold-out setting, the cloud's own path runs (the retrieval
focus, the held-out datastore, the extractive writer), once with dense retrieval alone
and once with dense and BM25 fused (``cloud.retrieval``). Reported per configuration:

- content-word recall: the share of the reference's distinctive words that occur in the
  top-k chunks, in the notes written from them, and in the notes with their quotes;
- copy ceiling: the share of the reference's words a copier could quote, word by word,
  from the chunks, from the notes, and from the memory the client receives: the notes
  and the quotes beside them (evaluation/runner.py's copy_ceiling);
- retrieval time per request (the search alone, embedding the query included).

No suggestion model runs. Prints a table and writes reports/retrieval.json. With
``--writer`` another writer's notes are measured, with the default retrieval only.

    .venv/bin/python scripts/bench_retrieval.py                 # 100 Python-docs cases (a few minutes)
    .venv/bin/python scripts/bench_retrieval.py --quick         # 5 cases
    .venv/bin/python scripts/bench_retrieval.py --writer qwen --holdout document \
        --cases reports/eval.cases.jsonl --out reports/retrieval_qwen.json

Tuning the retrieval focus (how much of the text before the cursor is the query) is
done on the training split, never on the evaluation's cases:

    .venv/bin/python scripts/bench_retrieval.py --writer passages --holdout document \
        --training-cases 100 --context-chars 300 500 800 1200 2000 --out reports/retrieval_focus.json
"""

import itertools
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.cli import ingest_with_progress
from cloud.datastore.lexical import distinctive_words
from evaluation.cases import EvalCase, make_cases, read_cases
from evaluation.cloud_side import EvaluationCloud, Holdout
from evaluation.runner import copy_ceiling, memory_block
from scripts.bench_support import argument_parser, percentile, write_report
from shared.document_split import is_eval_document
from shared.settings import PYTHON_DOCS_DIR, RetrievalMode, WriterKind, load_settings

console = Console()


def recall(reference: str, texts: list[str]) -> float:
    """The share of the reference's distinctive words that occur in ``texts``."""
    wanted = set(distinctive_words(reference))
    if not wanted:
        return 0.0
    found = set(distinctive_words(" ".join(texts)))
    return len(wanted & found) / len(wanted)


SHOWN = {  # the table's figures after the configuration: column, summary key
    "chunk recall": "chunk_recall",
    "note recall": "note_recall",
    "memory recall": "memory_recall",
    "chunk copy": "chunk_copy_ceiling",
    "note copy": "note_copy_ceiling",
    "memory copy": "memory_copy_ceiling",
}


def training_cases(corpus: Path, count: int) -> list[EvalCase]:
    """``count`` cases from documents of the training split, for tuning without looking at the evaluation's."""
    made = make_cases(corpus, count * 4, seed=11, eval_split_only=False)
    return [case for case in made if not is_eval_document(case.doc_id)][:count]


def measure(cloud: EvaluationCloud, cases: list) -> dict:
    rows = []
    for case in cases:
        retrieval = cloud.retrieve(case)  # the worker's focus and the case's hold-out, timed
        written = cloud.notes_for(case, case.prefix).notes
        notes = [note.text for note in written]
        quotes = list(memory_block(written, len(written)).quotes)  # what the client drafts from
        chunk_texts = [chunk.text for chunk in retrieval.chunks]
        rows.append(
            {
                "chunk_recall": recall(case.reference, chunk_texts),
                "note_recall": recall(case.reference, notes),
                "memory_recall": recall(case.reference, notes + quotes),
                "chunk_copy_ceiling": copy_ceiling(case.prefix, case.reference, chunk_texts),
                "note_copy_ceiling": copy_ceiling(case.prefix, case.reference, notes),
                "memory_copy_ceiling": copy_ceiling(case.prefix, case.reference, notes + quotes),
                "quote_chars": sum(len(quote) for quote in quotes),
                "ms": retrieval.ms,
            }
        )
    summary = {key: statistics.fmean(row[key] for row in rows) for key in rows[0] if key != "ms"}
    summary["ms_p50"] = percentile([row["ms"] for row in rows], 50)
    return summary


def main() -> None:
    parser = argument_parser(__doc__, "retrieval.json", "5 cases", corpus=PYTHON_DOCS_DIR)
    parser.add_argument("--cases", type=Path, default=ROOT / "reports" / "eval100.cases.jsonl")
    parser.add_argument("--writer", type=WriterKind, default=WriterKind.EXTRACTIVE, choices=list(WriterKind))
    parser.add_argument("--holdout", type=Holdout, choices=list(Holdout), help="one setting (default: both)")
    parser.add_argument("--training-cases", type=int, metavar="N", help="N cases of the training split, not --cases")
    parser.add_argument(
        "--context-chars",
        type=int,
        nargs="+",
        metavar="C",
        help="retrieval focus sizes to compare (default: the setting)",
    )
    args = parser.parse_args()
    holdouts = [args.holdout] if args.holdout else list(Holdout)
    defaults = load_settings().cloud
    modes = list(RetrievalMode) if args.writer is WriterKind.EXTRACTIVE else [defaults.retrieval]
    focus_sizes = args.context_chars or [defaults.retrieval_context_chars]
    if args.training_cases:
        cases, cases_file = training_cases(args.corpus, args.training_cases), "training split, seed 11"
    else:
        cases = read_cases(args.cases)
        cases_file = str(args.cases.relative_to(ROOT) if args.cases.is_relative_to(ROOT) else args.cases)
    cases = cases[: 5 if args.quick else None]
    results: dict[str, dict] = {}
    table = Table(title=f"Retrieval for memory requests, {len(cases)} cases ({cases_file})")
    for column in ("hold-out", "retrieval", "focus", *SHOWN, "ms p50"):
        table.add_column(column, justify="left" if column in ("hold-out", "retrieval") else "right")
    for holdout, mode, focus_chars in itertools.product(holdouts, modes, focus_sizes):
        settings = load_settings(cloud={"retrieval": mode, "retrieval_context_chars": focus_chars})
        cloud = EvaluationCloud(settings, args.corpus, args.writer, holdout)
        try:
            ingest_with_progress(cloud.datastore, cloud.corpus)
            summary = measure(cloud, cases)
        finally:
            cloud.close()
        configuration = f"{holdout.value}/{mode.value}" + (f"/focus {focus_chars}" if args.context_chars else "")
        results[configuration] = summary | {"retrieval_context_chars": focus_chars}
        table.add_row(
            holdout.value,
            mode.value,
            str(focus_chars),
            *(f"{summary[key]:.3f}" for key in SHOWN.values()),
            f"{summary['ms_p50']:.1f}",
        )
    console.print(table)
    report = {
        "what": "retrieval for memory requests: content-word recall and copy ceiling of chunks and notes",
        "cases": len(cases),
        "cases_file": cases_file,
        "corpus": str(args.corpus),
        "writer": args.writer.value,
        "quick": args.quick,
        "results": results,
    }
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
