#!/usr/bin/env python3
"""Benchmark low-bit attention: prompt and decode speed per KV preset, with our llama.cpp patch and without.

patches/llama.cpp/ gives quantized K/V the tiled flash-attention path that upstream
keeps for F16, and a decode path that takes the query heads of a KV head together.
``GGML_FA_QUANTIZED_TILES=0`` turns both off in the same build, so both
run side by side here, each in a process of its own (ggml reads the setting once).
For every preset: prompt tok/s of a cold prefill at 512, 1k, 2k and 4k tokens, and
decode tok/s at 64 and 1,700 tokens of context (the best of 3 rounds of 32 tokens);
each also as a ratio to F16 in the same run. Prints a table and writes reports/attention.json.

    .venv/bin/python scripts/bench_attention.py            # about 8 minutes on 2 cores
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

from client.engine.kv_cache import llama_kv_options
from scripts.bench_support import argument_parser, write_report
from shared.corpus import read_prose
from shared.model_files import default_gguf_path
from shared.settings import PYTHON_DOCS_DIR, EngineSettings, KVPreset, load_settings

PROMPT_TOKENS = (512, 1024, 2048, 4096)
DECODE_CONTEXTS = (64, 1700)
DECODE_TOKENS = 32
DECODE_ROUNDS = 3  # the best round: a shared 2-core machine slows single rounds by 10-20%
DOCUMENTS = ["reference/datamodel", "library/functions", "library/stdtypes"]  # each over 4k tokens
SETTINGS = {"patched": "1", "unpatched": "0"}  # GGML_FA_QUANTIZED_TILES
console = Console()


def greedy_next(llm: llama_cpp.Llama) -> int:
    """The most likely next token after the last evaluated one."""
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
    return int(logits.argmax())


def cold_start(llm: llama_cpp.Llama) -> None:
    """Forget every evaluated token, so the next eval prefills from nothing."""
    llm.reset()
    llm._ctx.kv_cache_clear()


def measure(preset: KVPreset, prompts: tuple[int, ...], runs: int) -> dict[str, float]:
    """Prompt tok/s (median of ``runs`` documents, nothing reused) and decode tok/s for one preset."""
    llm = llama_cpp.Llama(
        model_path=str(default_gguf_path(load_settings().cache_dir)),
        n_ctx=max(prompts) + 64,
        n_batch=512,
        **llama_kv_options(preset, EngineSettings().n_threads),
        verbose=False,
    )
    try:
        docs = [
            llm.tokenize(read_prose(PYTHON_DOCS_DIR / f"{name}.rst.txt").encode(), add_bos=True) for name in DOCUMENTS
        ]
        row: dict[str, float] = {}
        for n in prompts:
            rates = []
            for tokens in docs[:runs]:
                cold_start(llm)
                began = time.perf_counter()
                llm.eval(tokens[:n])
                rates.append(n / (time.perf_counter() - began))
            row[f"prompt_tok_s_{n}"] = statistics.median(rates)
        for context in DECODE_CONTEXTS:
            rates = []
            for _ in range(DECODE_ROUNDS):
                cold_start(llm)
                llm.eval(docs[0][:context])
                began = time.perf_counter()
                for _ in range(DECODE_TOKENS):
                    llm.eval([greedy_next(llm)])
                rates.append(DECODE_TOKENS / (time.perf_counter() - began))
            row[f"decode_tok_s_{context}"] = max(rates)
        return row
    finally:
        llm.close()


def worker(presets: list[KVPreset], prompts: tuple[int, ...], runs: int) -> None:
    """One setting of GGML_FA_QUANTIZED_TILES (this process's): a JSON row per preset on stdout."""
    print(json.dumps({str(preset): measure(preset, prompts, runs) for preset in presets}))


def main() -> None:
    parser = argument_parser(__doc__, "attention.json", "f16 and q8q4, 512 and 1k prompts")
    parser.add_argument("--presets", default=",".join(KVPreset))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    presets = [KVPreset(name) for name in ("f16,q8q4" if args.quick else args.presets).split(",")]
    prompts = PROMPT_TOKENS[:2] if args.quick else PROMPT_TOKENS
    runs = 1 if args.quick else 2
    if args.worker:
        worker(presets, prompts, runs)
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
    table = Table(title="attention: tok/s (and × f16 in the same setting)")
    table.add_column("preset")
    table.add_column("llama.cpp")
    for key in keys:
        table.add_column(key.replace("_tok_s_", " @"), justify="right")
    for preset, entry in report["presets"].items():
        for setting, row in entry.items():
            ratios = row["vs_f16"]
            table.add_row(preset, setting, *(f"{row[key]:.0f} ({ratios.get(key, float('nan')):.2f}×)" for key in keys))
    Console(width=180).print(table)


if __name__ == "__main__":
    main()
