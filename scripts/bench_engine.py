#!/usr/bin/env python3
"""Benchmark the client engine for each KV-cache preset, on the Python docs.

Measures KV bytes per token, perplexity (tokens with >= 256 tokens of context),
prompt and decode throughput, warm keystroke-to-first-token latency on a
1,000-token prompt, and the time of a whole 16-token suggestion. Prints a table and
writes reports/engine.json.

    .venv/bin/python scripts/bench_engine.py            # the full run (about 10 minutes)
    .venv/bin/python scripts/bench_engine.py --quick    # a smoke run of every stage
"""

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.engine import Suggestion, SuggestionEngine
from client.engine.kv_cache import decode_with_logits, llama_kv_options
from client.memory.memory_block import memory_block_text
from scripts.bench_support import argument_parser, percentile, write_report
from shared.corpus import read_prose
from shared.machine import cpu_description
from shared.settings import EngineSettings, KVPreset, load_settings
from training.corpora import PERPLEXITY_DOCUMENTS

DEFAULT_PRESET = KVPreset.Q8Q4
PPL_DOCUMENTS = list(PERPLEXITY_DOCUMENTS)  # the adapter's plain-text training never reads them
PPL_WINDOW = 1024
PPL_MIN_CONTEXT = 256
TYPING_PROMPT_TOKENS = 1000
SUGGESTION_TOKENS = 16
DECODE_CONTEXTS = (64, 1700)
DECODE_TOKENS = 48
PASSAGE_SENTENCES = 4  # sentences per note in the drafting benchmark's memory, as passages
LONG_DOCUMENT = "reference/datamodel"
TOKENIZER_SIZES = (4_000, 16_000, 120_000)
console = Console(stderr=True)


def document_tokens(engine: SuggestionEngine, corpus: Path, names: list[str]) -> list[list[int]]:
    return [engine.tokenize(read_prose(corpus / f"{name}.rst.txt")) for name in names]


def text_of(engine: SuggestionEngine, tokens: list[int]) -> str:
    return engine._llm.detokenize(tokens[1:]).decode("utf-8", errors="replace")  # without BOS


def perplexity(
    model_path: Path,
    preset: KVPreset,
    docs: list[list[int]],
    windows_per_doc: int,
    threads: int,
    adapter: Path | None = None,
    window_tokens: int = PPL_WINDOW,
    adapter_scale: float = 1.0,
) -> float:
    """exp(mean NLL) over tokens that have at least PPL_MIN_CONTEXT tokens before them in their window.

    Only the scored positions ask for logits: the 262k-row output layer is most of the
    cost of a position. Log-softmax runs a few rows at a time, in memory that is reused.
    """
    llm = llama_cpp.Llama(
        model_path=str(model_path),
        n_ctx=window_tokens,
        n_batch=window_tokens,
        n_ubatch=512,
        **llama_kv_options(preset, threads),
        verbose=False,
        lora_path=str(adapter) if adapter else None,
        lora_scale=adapter_scale,
    )
    nll, count = 0.0, 0
    try:
        for tokens in docs:
            bos, body = tokens[0], tokens[1:]
            for w in range(windows_per_doc):
                window = [bos] + body[w * (window_tokens - 1) : (w + 1) * (window_tokens - 1)]
                if len(window) < window_tokens:
                    break
                targets = np.asarray(window[PPL_MIN_CONTEXT + 1 :])
                llm.n_tokens = 0  # the window starts from an empty cache
                logits = decode_with_logits(llm, window[:-1], PPL_MIN_CONTEXT)
                for start in range(0, len(targets), 8):
                    rows = logits[start : start + 8].astype(np.float64)
                    top = rows.max(axis=1, keepdims=True)
                    log_norm = np.log(np.exp(rows - top).sum(axis=1)) + top[:, 0]
                    nll += float((log_norm - rows[np.arange(len(rows)), targets[start : start + 8]]).sum())
                    count += len(rows)
    finally:
        llm.close()
    return math.exp(nll / count)


def first_token_ms(result: Suggestion) -> float:
    """The time to the first token of a suggestion that made one."""
    assert result.first_token_ms is not None, "the suggestion made no token"
    return result.first_token_ms


def prompt_throughput(engine: SuggestionEngine, docs: list[list[int]], n_tokens: int) -> float:
    """Cold prefill tok/s: each run starts from another document, so nothing is reused."""
    rates = []
    for tokens in docs:
        result = engine.suggest(text_of(engine, tokens[:n_tokens]), max_tokens=1)
        rates.append(result.evaluated_tokens / (first_token_ms(result) / 1000))
    return statistics.median(rates)


def decode_throughput(engine: SuggestionEngine, tokens: list[int], context: int, runs: int) -> float:
    """Generated tok/s after ``context`` tokens, timing the tokens after the first (median of ``runs``)."""
    rates = []
    for run in range(runs):
        text = text_of(engine, tokens[run * 8 : run * 8 + context])  # another start each run: no reuse
        result = engine.suggest(text, max_tokens=DECODE_TOKENS, stop_at_sentence_end=False)
        rates.append((result.generated_tokens - 1) / ((result.total_ms - first_token_ms(result)) / 1000))
    return statistics.median(rates)


def typing_session(
    engine: SuggestionEngine, tokens: list[int], args: argparse.Namespace, seed: int, memory: str = ""
) -> tuple[list[float], list[float], list[float]]:
    """Warm a prompt (1,000 tokens), then type on: 1-3 more tokens of the real text, request, repeat.

    Each request asks for a whole 16-token suggestion (stops off), as a writer pausing
    would get; returns the times to the first token, to the first visible text (one
    token later when healing re-spells a whole word) and to the whole suggestion.
    """
    rng = random.Random(seed)
    typed = args.prompt_tokens
    engine.set_memory(memory)
    engine.suggest(text_of(engine, tokens[:typed]), max_tokens=1)  # the cold prefill is not a keystroke
    first, visible, whole = [], [], []
    for _ in range(args.keystrokes):
        typed += rng.randint(1, 3)
        result = engine.suggest(
            text_of(engine, tokens[:typed]), max_tokens=SUGGESTION_TOKENS, stop_at_sentence_end=False
        )
        first.append(first_token_ms(result))
        visible.append(result.first_text_ms if result.first_text_ms is not None else result.total_ms)
        whole.append(result.total_ms)
    return first, visible, whole


def tokenizer_costs(cache_dir: Path, corpus: Path, keystrokes: int) -> dict:
    """Per-keystroke tokenization, whole text vs incremental, at three document sizes."""
    engine = SuggestionEngine(EngineSettings(), cache_dir)
    try:
        text = read_prose(corpus / f"{LONG_DOCUMENT}.rst.txt")
        rows = {}
        for chars in TOKENIZER_SIZES:
            base = text[:chars]
            engine.tokenize(base)  # the document as opened
            whole, incremental = [], []
            for typed in range(1, keystrokes + 1):
                edited = base + " typing" * typed
                started = time.perf_counter()
                engine._llm.tokenize(edited.encode("utf-8"), add_bos=True, special=False)
                whole.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                engine.tokenize(edited)
                incremental.append((time.perf_counter() - started) * 1000)
            rows[str(chars)] = {
                "tokens": len(engine.tokenize(base)),
                "whole_ms_p50": percentile(whole, 50),
                "incremental_ms_p50": percentile(incremental, 50),
            }
        return rows
    finally:
        engine.close()


def upcoming_notes(
    engine: SuggestionEngine, tokens: list[int], typed: int, count: int = 12, per_note: int = PASSAGE_SENTENCES
) -> str:
    """A memory block holding the sentences the typing session is about to type: drafts that get accepted.

    ``per_note`` sentences make one note: passages, as the default writer sends them
    (a draft may then run on into the next sentence), or one sentence each.
    """
    ahead = text_of(engine, tokens[: typed + 400])[len(text_of(engine, tokens[:typed])) :]
    sentences = [s.strip() for s in ahead.replace("\n", " ").split(". ") if len(s.split()) >= 4][:count]
    sentences = [s if s.endswith(".") else s + "." for s in sentences]
    return memory_block_text([" ".join(sentences[i : i + per_note]) for i in range(0, len(sentences), per_note)])


def drafting_session(preset: KVPreset, args: argparse.Namespace, cache_dir: Path, tokens: list[int]) -> dict:
    """Whole 16-token suggestions with drafting: from notes that hold what comes next, and from none.

    The same keystrokes with the same notes in the prompt and drafting off give the
    time drafting is measured against: the prompt is the same length, only drafting differs.
    """
    settings = bench_settings(kv_preset=preset, memory_adapter=False, background_prefill=False, prompt_lookup=True)
    engine = SuggestionEngine(settings, cache_dir)
    undrafted = SuggestionEngine(
        settings.model_copy(update={"copy_from_memory": False, "prompt_lookup": False}), cache_dir
    )
    try:
        notes = upcoming_notes(engine, tokens, args.prompt_tokens)
        first, _, whole = typing_session(engine, tokens, args, seed=7, memory=notes)
        _, _, whole_undrafted = typing_session(undrafted, tokens, args, seed=7, memory=notes)
        sentence_notes = upcoming_notes(engine, tokens, args.prompt_tokens, per_note=1)
        _, _, whole_sentence_notes = typing_session(engine, tokens, args, seed=7, memory=sentence_notes)
        lookup_first, _, no_draft = typing_session(engine, tokens, args, seed=7, memory="")
        return {
            "suggestion16_draft_ms_p50": percentile(whole, 50),  # passages notes, the default writer's
            "suggestion16_draft_ms_p95": percentile(whole, 95),
            "suggestion16_undrafted_ms_p50": percentile(whole_undrafted, 50),  # the same notes, drafting off
            "suggestion16_undrafted_ms_p95": percentile(whole_undrafted, 95),
            "suggestion16_draft_sentence_notes_ms_p50": percentile(whole_sentence_notes, 50),  # one sentence a note
            "first_token_draft_ms_p50": percentile(first, 50),  # with the notes in the prompt
            "first_token_lookup_only_ms_p50": percentile(lookup_first, 50),  # the same prompt as without drafting
            "suggestion16_lookup_only_ms_p50": percentile(no_draft, 50),
            "suggestion16_lookup_only_ms_p95": percentile(no_draft, 95),
        }
    finally:
        engine.close()
        undrafted.close()


def bench_settings(**changes: Any) -> EngineSettings:
    """The engine as measured: suggestions of SUGGESTION_TOKENS that stop at no newline, no word completion."""
    return EngineSettings(
        stop_at_newline=False, word_completion_tokens=0, max_suggestion_tokens=SUGGESTION_TOKENS, **changes
    )


def adapter_cost(args: argparse.Namespace, corpus: Path, cache_dir: Path) -> dict:
    """The memory adapter against the base model (default preset, no drafting): speed and plain-text perplexity.

    Merged into the weights (the default) and applied by llama.cpp at every token
    (``merge_adapter`` off), each against the base model.
    """
    rows = {}
    variants = {"base": {"memory_adapter": False}, "adapter": {}, "adapter at run time": {"merge_adapter": False}}
    for name, changes in variants.items():
        settings = bench_settings(copy_from_memory=False, prompt_lookup=False, background_prefill=False, **changes)
        engine = SuggestionEngine(settings, cache_dir)
        try:
            docs = document_tokens(engine, corpus, PPL_DOCUMENTS)
            first, _, whole = typing_session(engine, docs[0], args, seed=7)
            rows[name] = {
                "ppl": perplexity(
                    engine.model_path,
                    DEFAULT_PRESET,
                    docs[: args.ppl_docs],
                    args.ppl_windows,
                    settings.n_threads,
                    engine.lora_path,
                    args.ppl_window,
                ),
                "first_token_ms_p50": percentile(first, 50),
                "suggestion16_ms_p50": percentile(whole, 50),
                "decode_tok_s_64": decode_throughput(engine, max(docs, key=len), 64, args.decode_runs),
            }
        finally:
            engine.close()
    rows["ratios"] = {key: rows["adapter"][key] / rows["base"][key] for key in rows["base"]}
    rows["ratios at run time"] = {key: rows["adapter at run time"][key] / rows["base"][key] for key in rows["base"]}
    return rows


def bench_preset(preset: KVPreset, args: argparse.Namespace, corpus: Path, cache_dir: Path) -> dict:
    """Today's engine path for one preset: the base model, no drafting (the adapter and drafting are measured apart)."""
    settings = bench_settings(kv_preset=preset, memory_adapter=False, copy_from_memory=False, prompt_lookup=False)
    engine = SuggestionEngine(settings, cache_dir)
    try:
        ppl_docs = document_tokens(engine, corpus, PPL_DOCUMENTS)
        long_doc = max(ppl_docs, key=len)
        with console.status(f"{preset}: perplexity"):
            docs = ppl_docs[: args.ppl_docs]
            ppl = perplexity(
                engine.model_path, preset, docs, args.ppl_windows, settings.n_threads, window_tokens=args.ppl_window
            )
        with console.status(f"{preset}: prompt and decode throughput"):
            prompt_tok_s = prompt_throughput(engine, ppl_docs[: args.prompt_docs], args.prompt_tokens)
            decode = {ctx: decode_throughput(engine, long_doc, ctx, args.decode_runs) for ctx in DECODE_CONTEXTS}
        with console.status(f"{preset}: {args.keystrokes} keystrokes on a {args.prompt_tokens}-token prompt"):
            first, visible, whole = typing_session(engine, ppl_docs[0], args, seed=7)
        with console.status(f"{preset}: the same keystrokes with drafting"):
            drafting = drafting_session(preset, args, cache_dir, ppl_docs[0])
        return drafting | {
            "kv_bytes_per_token": engine.kv_bytes_per_token,
            "ppl": ppl,
            "prompt_tok_s": prompt_tok_s,
            "decode_tok_s_64": decode[64],
            "decode_tok_s_1700": decode[1700],
            "first_token_ms_p50": percentile(first, 50),
            "first_token_ms_p95": percentile(first, 95),
            "suggestion16_ms_p50": percentile(whole, 50),
            "suggestion16_ms_p95": percentile(whole, 95),
            "first_text_ms_p50": percentile(visible, 50),
            "first_text_ms_p95": percentile(visible, 95),
        }
    finally:
        engine.close()


def print_table(report: dict) -> None:
    table = Table(title=f"engine benchmark ({report['meta']['model']}, {report['meta']['threads']} threads)")
    columns = [
        ("KV B/tok", "kv_bytes_per_token"),
        ("ppl", "ppl"),
        ("Δppl %", "ppl_delta_pct"),
        ("prompt tok/s", "prompt_tok_s"),
        ("decode@64", "decode_tok_s_64"),
        ("decode@1700", "decode_tok_s_1700"),
        ("1st tok p50 ms", "first_token_ms_p50"),
        ("1st tok p95 ms", "first_token_ms_p95"),
        ("16-tok p50 ms", "suggestion16_ms_p50"),
        ("16-tok drafted p50", "suggestion16_draft_ms_p50"),
        ("same notes undrafted p50", "suggestion16_undrafted_ms_p50"),
        ("16-tok no-match p95", "suggestion16_lookup_only_ms_p95"),
        ("1st text p50 ms", "first_text_ms_p50"),
        ("1st text p95 ms", "first_text_ms_p95"),
    ]
    table.add_column("preset", justify="right", no_wrap=True)
    for title, _ in columns:
        table.add_column(title, justify="right")
    for name, row in report["presets"].items():
        marker = " (default)" if name == report["default"] else ""
        table.add_row(
            name + marker,
            *(f"{row[key]:.2f}" if key.startswith("ppl") else f"{row[key]:.1f}" for _, key in columns),
        )
    Console(width=160).print(table)
    tokens = Table(title="tokenization per keystroke (p50)")
    for title in ("document chars", "tokens", "whole text ms", "incremental ms"):
        tokens.add_column(title, justify="right")
    for chars, row in report["tokenizer_per_keystroke"].items():
        tokens.add_row(chars, str(row["tokens"]), f"{row['whole_ms_p50']:.2f}", f"{row['incremental_ms_p50']:.2f}")
    Console(width=160).print(tokens)
    adapter = Table(title="memory adapter vs base model (default preset)")
    for title in ("", "ppl", "1st tok p50 ms", "16-tok p50 ms", "decode@64 tok/s"):
        adapter.add_column(title, justify="right")
    for name, row in report["memory_adapter"].items():
        adapter.add_row(
            name,
            *(f"{row[key]:.3f}" for key in ("ppl", "first_token_ms_p50", "suggestion16_ms_p50", "decode_tok_s_64")),
        )
    Console(width=160).print(adapter)


def main() -> None:
    parser = argument_parser(__doc__, "engine.json", "few keystrokes, one perplexity window")
    parser.add_argument(
        "--presets", default=",".join(KVPreset), help="comma-separated presets (f16 first is the reference)"
    )
    parser.add_argument("--keystrokes", type=int, default=60)
    parser.add_argument("--ppl-docs", type=int, default=len(PPL_DOCUMENTS))
    parser.add_argument("--ppl-windows", type=int, default=2, help="1,024-token windows per document")
    parser.add_argument("--decode-runs", type=int, default=3, help="decode measurements per context (median)")
    args = parser.parse_args()
    args.prompt_tokens, args.prompt_docs, args.ppl_window = TYPING_PROMPT_TOKENS, 3, PPL_WINDOW
    if args.quick:  # every stage on less text: shorter prompts, one perplexity window of 512
        args.keystrokes, args.ppl_docs, args.ppl_windows, args.decode_runs = 5, 1, 1, 1
        args.prompt_tokens, args.prompt_docs, args.ppl_window = 300, 1, 512

    settings = load_settings()
    presets = [KVPreset(name) for name in args.presets.split(",")]
    started = time.perf_counter()
    rows = {}
    for preset in presets:
        rows[str(preset)] = bench_preset(preset, args, settings.corpus_dir, settings.cache_dir)
        console.log(f"{preset} done")
    with console.status("tokenizer: whole text vs incremental"):
        tokenizer = tokenizer_costs(settings.cache_dir, settings.corpus_dir, args.keystrokes)
    with console.status("the memory adapter against the base model"):
        adapter = adapter_cost(args, settings.corpus_dir, settings.cache_dir)
    reference = rows.get(str(KVPreset.F16))
    for row in rows.values():
        row["ppl_delta_pct"] = 100 * (row["ppl"] / reference["ppl"] - 1) if reference else float("nan")
    report = {
        "default": str(DEFAULT_PRESET),
        "presets": rows,
        "tokenizer_per_keystroke": tokenizer,
        "memory_adapter": adapter,
        "meta": {
            "model": "gemma-3-270m Q4_K_M",
            "threads": EngineSettings().n_threads,
            "cpu": cpu_description(),
            "llama_cpp_python": llama_cpp.__version__,
            "keystrokes": args.keystrokes,
            "token_healing": EngineSettings().token_healing,
            "typing_prompt_tokens": args.prompt_tokens,
            "ppl_documents": PPL_DOCUMENTS[: args.ppl_docs],
            "ppl_windows_per_document": args.ppl_windows,
            "ppl_window_tokens": args.ppl_window,
            "ppl_min_context_tokens": PPL_MIN_CONTEXT,
            "seconds": round(time.perf_counter() - started, 1),
            "command": "python scripts/bench_engine.py" + (" --quick" if args.quick else ""),
        },
    }
    write_report(report, args.out, console)
    print_table(report)


if __name__ == "__main__":
    main()
