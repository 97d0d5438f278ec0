#!/usr/bin/env python3
"""Benchmark the composition TUI as a writer uses it: suggestion latency and UI smoothness.

The real app (Textual, headless: it composes every frame but writes none to a
terminal) on the real engine. A simulated writer types a Python-docs passage a key
every 150 ms (about 65 words a minute) and pauses a second after every few words;
suggestions come in the pauses and are cancelled by the next key. Two runs: the model
alone, and with memory synced from a memory service on loopback (extractive writer),
so note choice, background prefill and sync run alongside.

Measured per pause: last key to first ghost text on screen (debounce included), and
the engine's first-token and total latency. During streaming: the largest gap
between 60 Hz event-loop ticks, i.e. the longest the UI could not draw.

    .venv/bin/python scripts/bench_tui.py           # about 5 minutes
    .venv/bin/python scripts/bench_tui.py --quick   # a smoke run
"""

import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.assistant import CompositionAssistant
from client.engine import SuggestionEngine
from client.memory.local_memory import LocalMemory
from client.sync.cloud_client import CloudClient
from client.tui.app import ComposeApp
from scripts.bench_support import argument_parser, percentile, serving_files, write_report
from shared.corpus import read_prose
from shared.onnx_embedder import OnnxEmbedder
from shared.settings import PYTHON_DOCS_DIR, Settings, load_settings

console = Console()
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
KEY_GAP_S = 0.15  # Pilot itself takes about 0.1 s per key here: faster is not reachable headless
WORDS_PER_BURST = 4
PAUSE_S = 1.0
TYPED_DOCUMENT = "tutorial/inputoutput.rst.txt"
SERVED_FILES = [
    "tutorial/classes.rst.txt",
    "tutorial/datastructures.rst.txt",
    "tutorial/controlflow.rst.txt",
]  # not the typed one
OPENING_CHARS = 1500  # already in the file when the writer opens it


async def write_passage(app: ComposeApp, opening: str, words: list[str], key_gaps: list[float]) -> list[dict]:
    """Type ``words`` after ``opening`` in bursts; one record per pause (and the gaps between keys)."""
    pauses = []
    async with app.run_test(headless=True, size=(120, 30)) as pilot:
        app.editor.load_text(opening)
        app.editor.move_cursor(app.editor.document.end)
        await pilot.pause(PAUSE_S)
        for start in range(0, len(words), WORDS_PER_BURST):
            burst = " " + " ".join(words[start : start + WORDS_PER_BURST])
            for char in burst:
                pressed_at = time.perf_counter()
                await pilot.press("space" if char == " " else char)  # Pilot waits for the app to take the key
                key_gaps.append(time.perf_counter() - pressed_at)
                await asyncio.sleep(max(0.0, KEY_GAP_S - key_gaps[-1]))
                key_gaps[-1] = time.perf_counter() - pressed_at
            last_key_at = time.perf_counter()
            before = app.last_suggestion
            await asyncio.sleep(PAUSE_S)
            ghost_at = app.last_ghost_at
            served = app.last_suggestion if app.last_suggestion is not before else None
            pauses.append(
                {
                    "ghost_shown": bool(app.editor.suggestion),  # new, or the rest of one typed through, or cached
                    "key_to_ghost_ms": (ghost_at - last_key_at) * 1000 if ghost_at and ghost_at > last_key_at else None,
                    "first_token_ms": served.first_token_ms if served else None,  # the model's first (healing) token
                    "first_text_ms": served.first_text_ms if served else None,  # the first text that shows
                    "total_ms": served.total_ms if served else None,
                    "memory_tokens": served.memory_tokens if served else None,
                    "debounce_ms": app.editor.debounce.delay_s * 1000,
                }
            )
    return pauses


def summarize(label: str, app: ComposeApp, pauses: list[dict], key_gaps: list[float], seconds: float) -> dict:
    def values(key: str) -> list[float]:
        return [p[key] for p in pauses if p[key] is not None]

    gaps = app.frames.gaps_ms
    return {
        "label": label,
        "key_gap_ms_mean": 1000 * sum(key_gaps) / max(1, len(key_gaps)),
        "pauses": len(pauses),
        "pauses_with_ghost": sum(p["ghost_shown"] for p in pauses),
        "pauses_with_new_suggestion": len(values("key_to_ghost_ms")),
        "key_to_ghost_ms_p50": percentile(values("key_to_ghost_ms"), 50),
        "key_to_ghost_ms_p95": percentile(values("key_to_ghost_ms"), 95),
        "first_token_ms_p50": percentile(values("first_token_ms"), 50),
        "first_token_ms_p95": percentile(values("first_token_ms"), 95),
        "first_text_ms_p50": percentile(values("first_text_ms"), 50),
        "first_text_ms_p95": percentile(values("first_text_ms"), 95),
        "total_ms_p50": percentile(values("total_ms"), 50),
        "memory_tokens_max": max(values("memory_tokens"), default=0),
        "suggestions_started": app.suggestions_started,
        "suggestions_cancelled": app.suggestions_cancelled,
        "frame_gap_ms_max": max(gaps, default=float("nan")),
        "frame_gap_ms_p99": percentile(gaps, 99),
        "frame_ticks_while_streaming": len(gaps),
        "seconds": seconds,
        "per_pause": pauses,
    }


def run_case(label: str, assistant: CompositionAssistant, settings: Settings, opening: str, words: list[str]) -> dict:
    app = ComposeApp(assistant, settings, None)
    started, key_gaps = time.perf_counter(), list[float]()
    with console.status(f"{label}: typing {len(words)} words"):
        pauses = asyncio.run(write_passage(app, opening, words, key_gaps))
    return summarize(label, app, pauses, key_gaps, time.perf_counter() - started)


def main() -> None:
    parser = argument_parser(__doc__, "tui.json", "eight words per run", corpus=PYTHON_DOCS_DIR)
    args = parser.parse_args()
    prose = read_prose(args.corpus / TYPED_DOCUMENT)
    opening = prose[:OPENING_CHARS]
    words = prose[OPENING_CHARS:].split()[: 8 if args.quick else 120]  # quick: two bursts
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as work_dir:
        work = Path(work_dir)
        settings = load_settings(
            engine={"n_threads": THREADS},
            compose={"recovery_dir": work / "recovery"},
            client={"data_dir": work / "client", "sync_interval_s": 2.0, "min_request_interval_s": 5.0},
        )
        engine = SuggestionEngine.from_settings(settings)
        try:
            alone = CompositionAssistant(settings, engine, None, None, None)
            runs.append(run_case("model alone", alone, settings, opening, words))
            embedder = OnnxEmbedder(settings.cache_dir, settings.client.embed_threads)
            with serving_files(work, args.corpus, SERVED_FILES, console) as (url, token):
                memory = LocalMemory(work / "memory", embedder, settings.client.note_ivf_threshold)
                with_memory = CompositionAssistant(
                    settings, engine, embedder, memory, CloudClient(url, token, timeout_s=10, max_retries=0)
                )
                with_memory.start()
                try:
                    runs.append(run_case("with synced memory", with_memory, settings, opening, words))
                    runs[-1]["notes_synced"] = with_memory.sync_status.notes if with_memory.sync_status else 0
                finally:
                    with_memory.close()
        finally:
            engine.close()

    key_gap_ms = runs[0]["key_gap_ms_mean"]
    table = Table(
        title=f"composition TUI: a key every {key_gap_ms:.0f} ms, a {PAUSE_S:.0f} s pause every "
        f"{WORDS_PER_BURST} words ({len(words)} words; headless Textual, {THREADS} threads)"
    )
    for column in (
        "run",
        "pauses with ghost (new)",
        "key→ghost p50 / p95",
        "first token p50 / p95",
        "first text p50 / p95",
        "total p50",
        "largest frame gap (p99)",
        "started / cancelled",
    ):
        table.add_column(column, justify="right" if column != "run" else "left")
    for run in runs:
        table.add_row(
            run["label"],
            f"{run['pauses_with_ghost']}/{run['pauses']} ({run['pauses_with_new_suggestion']})",
            f"{run['key_to_ghost_ms_p50']:.0f} / {run['key_to_ghost_ms_p95']:.0f} ms",
            f"{run['first_token_ms_p50']:.0f} / {run['first_token_ms_p95']:.0f} ms",
            f"{run['first_text_ms_p50']:.0f} / {run['first_text_ms_p95']:.0f} ms",
            f"{run['total_ms_p50']:.0f} ms",
            f"{run['frame_gap_ms_max']:.0f} ms ({run['frame_gap_ms_p99']:.0f})",
            f"{run['suggestions_started']} / {run['suggestions_cancelled']}",
        )
    console.print(table)
    report = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "threads": THREADS,
        },
        "typing": {
            "key_gap_ms": KEY_GAP_S * 1000,
            "words_per_burst": WORDS_PER_BURST,
            "pause_s": PAUSE_S,
            "words": len(words),
            "document": TYPED_DOCUMENT,
            "opening_chars": OPENING_CHARS,
        },
        "quick": args.quick,
        "runs": runs,
    }
    write_report(report, args.out, console)


if __name__ == "__main__":
    main()
