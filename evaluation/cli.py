"""``hybridrag eval``: the evaluation drives both sides, so it lives outside the client.

Registered with the ``hybridrag`` command as a plugin (pyproject.toml's
``hybridrag.commands`` entry points), like the cloud's commands.
"""

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from shared.errors import InputError
from shared.settings import WriterKind, load_settings

out = Console()
err = Console(stderr=True)
DEFAULT_EVAL_SYSTEMS = "client,client-lookup,client-tuned,hybrid,hybrid-copy,rag,oracle"


def evaluate(
    corpus: Annotated[Path, typer.Option(help="The corpus folder: cases come from it, and retrieval reads it.")],
    cases: Annotated[Path | None, typer.Option(help="A JSONL file of cases {doc_id, prefix, reference}.")] = None,
    make_cases: Annotated[
        int | None, typer.Option(min=1, help="Make this many cases from the corpus (seeded).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for --make-cases.")] = 0,
    systems: Annotated[
        str,
        typer.Option(
            help="Comma-separated, of: client, client-lookup, client-tuned, hybrid, hybrid-copy, "
            "hybrid-mix, hybrid-stale, rag, oracle, oracle-copy (evaluation/runner.py)."
        ),
    ] = DEFAULT_EVAL_SYSTEMS,
    writer: Annotated[WriterKind | None, typer.Option(help="Who writes the memory notes (default: cloud.llm).")] = None,
    holdout: Annotated[
        str,
        typer.Option(
            help="document: the case's document is out of the datastore; chunk: only "
            "the chunks overlapping its prefix or reference are."
        ),
    ] = "document",
    all_documents: Annotated[
        bool,
        typer.Option(
            help="Make cases from every document, not only the evaluation "
            "split (for a corpus the adapter was never trained on)."
        ),
    ] = False,
    report_path: Annotated[Path, typer.Option("--out", help="Where the JSON report goes.")] = Path("reports/eval.json"),
) -> None:
    """Score the client alone, hybrid memory and synchronous RAG on the same cases: utility and latency."""
    from rich.markdown import Markdown
    from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    from client.engine import SuggestionEngine
    from client.engine.adapter_file import adapter_description
    from cloud.cli import ingest_with_progress
    from evaluation.cases import make_cases as cases_from_corpus
    from evaluation.cases import read_cases, write_cases
    from evaluation.cloud_side import EvaluationCloud, Holdout
    from evaluation.report import build_report, markdown_table, memory_table, paired_table, targets_table
    from evaluation.runner import EvaluationRunner, SystemSpec, check_systems, evaluation_engine, timed_run
    from shared.machine import cpu_description

    if (cases is None) == (make_cases is None):
        raise InputError("Give exactly one of --cases FILE or --make-cases N.")
    if not corpus.is_dir():
        raise InputError(f"No corpus folder {corpus}: give --corpus a folder of text, Markdown, reST or HTML files.")
    chosen_systems = check_systems([name.strip() for name in systems.split(",") if name.strip()])
    settings = load_settings()
    if holdout not in {h.value for h in Holdout}:
        raise InputError(f"Unknown --holdout {holdout!r}: choose document or chunk.")
    chosen = (
        read_cases(cases)
        if cases is not None
        else cases_from_corpus(corpus, make_cases or 0, seed, eval_split_only=not all_documents)
    )
    missing = [case.doc_id for case in chosen if not (corpus / case.doc_id).is_file()]
    if missing:
        raise InputError(
            f"{len(missing)} case(s) name documents not in {corpus} (first: {missing[0]}): "
            "give the corpus the cases were made from."
        )
    cases_path = report_path.with_suffix(".cases.jsonl")
    if make_cases is not None:
        write_cases(cases_path, chosen)
    began = time.perf_counter()
    engines: dict[tuple[bool, bool, bool, bool], SuggestionEngine] = {}

    def engine_for(spec: SystemSpec) -> SuggestionEngine:
        if spec.engine_key not in engines:
            engines[spec.engine_key] = evaluation_engine(settings, spec)
        return engines[spec.engine_key]

    with err.status("Loading the models…"):
        cloud = EvaluationCloud(settings, corpus, writer or settings.cloud.llm, Holdout(holdout))
        engine = evaluation_engine(settings)  # the base model, for the report's engine facts
    try:
        ingested = ingest_with_progress(cloud.datastore, cloud.corpus)
        runner = EvaluationRunner(engine_for, cloud, chosen_systems)
        columns = (
            *Progress.get_default_columns()[:-1],
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("cases", total=len(chosen))
            results, seconds = timed_run(runner, chosen, lambda done: progress.update(task, completed=done))
        setup: dict[str, Any] = {
            "corpus": str(cloud.corpus),
            "cases_file": str(cases if cases is not None else cases_path),
            "seed": seed if make_cases is not None else None,
            "systems": chosen_systems,
            "holdout": holdout,
            "cpu": cpu_description(),  # speed claims hold for this CPU; compare ratios across machines
            "engine": {
                "model": engine.model_path.name,
                "kv_preset": engine.kv_preset.value,
                "memory_adapter": adapter_description(settings.engine),
                "loop_ngram_tokens": engine.settings.loop_ngram_tokens,
                "copy_min_probability": engine.settings.copy_min_probability,
                "draft_max_tokens": engine.settings.draft_max_tokens,
                "threads": engine.settings.n_threads,
                "max_suggestion_tokens": engine.settings.max_suggestion_tokens,
                "decoding": "greedy",
                "notes_in_prompt": settings.client.notes_in_prompt,
            },
            "memory": cloud.writer_settings,
            "notes_written": dataclasses.asdict(runner.notes_spent),
            "ingest_seconds": ingested.seconds,
            "total_seconds": time.perf_counter() - began,
            "cpus": os.cpu_count(),
        }
    finally:
        for made in (engine, *engines.values()):
            made.close()
        cloud.close()
    report = build_report(results, chosen_systems, setup, seconds)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    out.print(Markdown(markdown_table(report)))
    out.print(Markdown(paired_table(report)))
    out.print(Markdown(memory_table(report)))
    out.print(Markdown(targets_table(report)))
    out.print(
        f"{len(chosen)} cases in {seconds / 60:.1f} min ({setup['notes_written']['written']} note requests written, "
        f"{setup['notes_written']['cached']} from the cache); wrote {report_path}"
    )
