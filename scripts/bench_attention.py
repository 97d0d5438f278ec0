#!/usr/bin/env python3
"""Benchmark low-bit attention: prompt and decode speed per KV preset, with our llama.cpp patch and without.

patches/llama.cpp/ gives quantized K/V the tiled flash-attention path that upstream
keeps for F16, and paths for a decode step and for a short batch (a draft being
verified) that take the query heads of a KV head together.
``GGML_FA_QUANTIZED_TILES=0`` turns both off in the same build, so both
run side by side here, each in a process of its own (ggml reads the setting once).
For every preset: prompt tok/s of a cold prefill at 512, 1k, 2k and 4k tokens, and
decode tok/s at 64 and 1,700 tokens of context (the best of 5 rounds of 32 tokens, the presets taking turns);
each also as a ratio to F16 in the same run. The attention op alone, on the model's
shapes and free of the rest of a model step (whose matrix products are most of it and
move the end-to-end rates by ±10% on shared cores): a 512-query prompt batch over 1k
and 2k positions, in queries/s, a decode step over 1,700 and 4,096, in steps/s, and a
12-query draft batch over 1,700, in queries/s.
Prints a table and writes reports/attention.json.

    .venv/bin/python scripts/bench_attention.py            # about 12 minutes on 2 cores
    .venv/bin/python scripts/bench_attention.py --quick    # 512 and 1k prompts, f16 and q8q4
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import llama_cpp
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.engine.kv_cache import KV_CACHE_TYPES, llama_kv_options, sync_prefix
from scripts.bench_support import argument_parser, write_report
from scripts.ggml_attention import attention_inputs, attention_op, median_ms
from shared.corpus import read_prose
from shared.model_files import default_gguf_path
from shared.settings import PYTHON_DOCS_DIR, EngineSettings, KVPreset, load_settings

PROMPT_TOKENS = (512, 1024, 2048, 4096)
DECODE_CONTEXTS = (64, 1700)
DECODE_TOKENS = 32
DECODE_ROUNDS = 5  # the best round: a shared 2-core machine slows single rounds by 10-30%
DOCUMENTS = ["reference/datamodel", "library/functions", "library/stdtypes"]  # each over 4k tokens
SETTINGS = {"patched": "1", "unpatched": "0"}  # GGML_FA_QUANTIZED_TILES
OP_PROMPT_POSITIONS = (1024, 2048)  # a 512-query batch at each
OP_DECODE_POSITIONS = (1700, 4096)
OP_DRAFT_POSITIONS = 1700
OP_DRAFT_QUERIES = 12  # the engine's draft_max_tokens: a draft verified in one batch
OP_QUERIES = 512
OP_ROUNDS = 3  # the best round's median, the presets taking turns
console = Console()


def greedy_next(llm: llama_cpp.Llama) -> int:
    """The most likely next token after the last evaluated one."""
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
    return int(logits.argmax())


def cold_start(llm: llama_cpp.Llama) -> None:
    """Forget every evaluated token, so the next eval prefills from nothing."""
    llm.reset()
    llm._ctx.kv_cache_clear()


def open_model(preset: KVPreset, n_ctx: int) -> llama_cpp.Llama:
    """The shipped GGUF with ``preset``'s KV cache, as the engine opens it."""
    return llama_cpp.Llama(
        model_path=str(default_gguf_path(load_settings().cache_dir)),
        n_ctx=n_ctx,
        n_batch=512,
        **llama_kv_options(preset, EngineSettings().n_threads),
        verbose=False,
    )


def prompt_rate(llm: llama_cpp.Llama, tokens: list[int]) -> float:
    """tok/s of a cold prefill of ``tokens``, nothing reused."""
    cold_start(llm)
    began = time.perf_counter()
    llm.eval(tokens)
    return len(tokens) / (time.perf_counter() - began)


def decode_rate(llm: llama_cpp.Llama, context: list[int]) -> float:
    """tok/s of greedy decoding after ``context``; the cached part of it is reused, as the engine does."""
    sync_prefix(llm, context, chunk_tokens=512, cancelled=lambda: False)
    began = time.perf_counter()
    for _ in range(DECODE_TOKENS):
        llm.eval([greedy_next(llm)])
    return DECODE_TOKENS / (time.perf_counter() - began)


def worker(presets: list[KVPreset], prompts: tuple[int, ...], quick: bool) -> None:
    """One setting of GGML_FA_QUANTIZED_TILES (this process's): a JSON object of rows per preset on stdout.

    Every preset's model is open at once and the presets take turns within each round,
    each round starting with the next preset, so a slow spell of a shared machine (or
    whatever going first costs) falls on all of them, not on one preset's figures.
    """
    n_ctx = max(*prompts, *DECODE_CONTEXTS) + DECODE_TOKENS + 32
    runs = 1 if quick else len(DOCUMENTS)  # prompts: the median over the documents
    models = {str(preset): open_model(preset, n_ctx) for preset in presets}
    try:
        first = next(iter(models.values()))
        docs = [
            first.tokenize(read_prose(PYTHON_DOCS_DIR / f"{name}.rst.txt").encode(), add_bos=True) for name in DOCUMENTS
        ]
        rows: dict[str, dict[str, float]] = {name: {} for name in models}
        names = list(models)
        for n in prompts:
            rates: dict[str, list[float]] = {name: [] for name in models}
            for turn, tokens in enumerate(docs[:runs]):
                for name in taking_turns(names, turn):
                    rates[name].append(prompt_rate(models[name], tokens[:n]))
            for name in models:
                rows[name][f"prompt_tok_s_{n}"] = statistics.median(rates[name])
        for context in DECODE_CONTEXTS:
            rates = {name: [] for name in models}
            for turn in range(DECODE_ROUNDS):
                for name in taking_turns(names, turn):
                    rates[name].append(decode_rate(models[name], docs[0][:context]))
            for name in models:
                rows[name][f"decode_tok_s_{context}"] = max(rates[name])
        for name, op_rates in attention_op_rates(list(models), quick).items():
            rows[name] |= op_rates
        print(json.dumps(rows))
    finally:
        for llm in models.values():
            llm.close()


def taking_turns(names: list[str], turn: int) -> list[str]:
    """``names`` in the order of round ``turn``: each round starts with the next, so none is always first."""
    start = turn % len(names)
    return names[start:] + names[:start]


def attention_op_rates(presets: list[str], quick: bool) -> dict[str, dict[str, float]]:
    """The flash-attention op alone per preset: prompt queries/s and decode steps/s, this process's setting."""
    shapes = [
        ("op_prompt_tok_s", n, OP_QUERIES, 3 if quick else 10) for n in OP_PROMPT_POSITIONS[: 1 if quick else None]
    ]
    shapes += [("op_decode_tok_s", n, 1, 50 if quick else 300) for n in OP_DECODE_POSITIONS[: 1 if quick else None]]
    shapes += [("op_draft_tok_s", OP_DRAFT_POSITIONS, OP_DRAFT_QUERIES, 20 if quick else 100)]
    rows: dict[str, dict[str, float]] = {name: {} for name in presets}
    threads = EngineSettings().n_threads
    for key, positions, queries, runs in shapes:
        q, k, v, mask = attention_inputs(positions, queries, seed=positions)
        best = {name: float("inf") for name in presets}
        for _ in range(OP_ROUNDS):
            for name in presets:
                k_type, v_type = KV_CACHE_TYPES[KVPreset(name)]
                with attention_op(q, k, v, mask, k_type, v_type, reference=False, threads=threads) as run:
                    best[name] = min(best[name], median_ms(run, runs))
        for name in presets:
            rows[name][f"{key}_{positions}"] = queries * 1000 / best[name]
    return rows


def main() -> None:
    parser = argument_parser(__doc__, "attention.json", "f16 and q8q4, 512 and 1k prompts")
    parser.add_argument("--presets", default=",".join(KVPreset))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    presets = [KVPreset(name) for name in ("f16,q8q4" if args.quick else args.presets).split(",")]
    prompts = PROMPT_TOKENS[:2] if args.quick else PROMPT_TOKENS
    if args.worker:
        worker(presets, prompts, args.quick)
        return
    results: dict[str, dict] = {}
    for setting, value in SETTINGS.items():
        with console.status(f"{setting}: {', '.join(presets)}"):
            run = subprocess.run(
                [sys.executable, __file__, "--worker", "--presets", ",".join(presets)]
                + (["--quick"] if args.quick else []),
                env=os.environ | {"GGML_FA_QUANTIZED_TILES": value},
                capture_output=True,
                text=True,
                check=True,
            )
        results[setting] = json.loads(run.stdout.splitlines()[-1])
    report: dict = {"what": __doc__.splitlines()[0], "quick": args.quick, "presets": {}}
    for preset in presets:
        entry = report["presets"][str(preset)] = {}
        for setting, rows in results.items():
            row = rows[str(preset)]
            f16 = rows.get(str(KVPreset.F16))
            ratios = {key: value / f16[key] for key, value in row.items()} if f16 else {}
            entry[setting] = row | {"vs_f16": ratios}
    print_table(report)
    write_report(report, args.out, console)


def print_table(report: dict) -> None:
    first = next(iter(report["presets"].values()))["patched"]
    keys = [key for key in first if key != "vs_f16"]
    table = Table(title="attention: tok/s of the model, and queries/s of the op alone (× f16 in the same setting)")
    table.add_column("preset")
    table.add_column("llama.cpp")
    for key in keys:
        table.add_column(key.replace("_tok_s_", " @").replace("op_", "op "), justify="right")
    for preset, entry in report["presets"].items():
        for setting, row in entry.items():
            ratios = row["vs_f16"]
            table.add_row(preset, setting, *(f"{row[key]:.0f} ({ratios.get(key, float('nan')):.2f}×)" for key in keys))
    Console(width=240).print(table)


if __name__ == "__main__":
    main()
