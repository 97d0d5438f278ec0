#!/usr/bin/env python3
"""Benchmark the client's memory: embeddings, retrieval, delta apply, sync, memory switch.

- Query embedding: ONNX Runtime (the client) against sentence-transformers on torch
  (fp32, the cloud's library), the same 100 Python-docs sentences, one at a time, 2
  threads; and the client's real query, the last 500 characters before the cursor.
- Retrieval through LocalMemory.search (FAISS + SQLite) at 1k, 10k and 100k notes.
  Large memories are made of real sentence vectors plus noise (embedding 100k texts
  would take minutes and measure the embedder again), with IVF recall against exact.
- Applying a delta of 100 real notes (ONNX embedding, SQLite, index file, fsync).
- Sync round trips against the real API on loopback (extractive writer).
- Suggestion first-token latency in the 10 s after the memory block changed, with the
  new block prefilled in the background and without, while a writer types a word
  every 250 ms.

Prints tables and writes reports/client_memory.json.

    .venv/bin/python scripts/bench_client_memory.py           # the full run (about 5 minutes)
    .venv/bin/python scripts/bench_client_memory.py --quick   # a smoke run of every stage
"""

import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.engine import SuggestionEngine
from client.memory.local_memory import LocalMemory, LocalNote
from client.memory.memory_block import MemoryBlock
from client.sync.cloud_client import CloudClient
from client.sync.memory_sync import sync_memory
from scripts.bench_support import argument_parser, percentile, serving_files, write_report
from shared.corpus import read_prose
from shared.embeddings import SentenceEmbedder
from shared.onnx_embedder import OnnxEmbedder
from shared.protocol import MAX_NOTE_CHARS, MemoryDelta, MemoryNote, NoteSource
from shared.settings import PYTHON_DOCS_DIR, EmbeddingPrecision, EngineSettings, load_settings

console = Console()
THREADS = 2
MEMORY_SIZES = [1_000, 10_000, 100_000]
NOISE = 0.35  # of a synthetic note's vector around the real sentence it is made from
APPLY_NOTES = 100
SYNC_FILES = ["tutorial/classes.rst.txt", "tutorial/datastructures.rst.txt", "tutorial/controlflow.rst.txt"]
SWITCH_DOCUMENT = "tutorial/classes.rst.txt"
SWITCH_TEXT_CHARS = 3500  # about 800 Gemma tokens before the cursor
TYPING_PAUSE_S = 0.25  # a word, then a pause long enough for a suggestion
NOTES_PER_BLOCK = 4
SERVER_STARTUP_S = 180


def docs_sentences(corpus: Path, count: int) -> list[str]:
    text = " ".join(read_prose(path) for path in sorted((corpus / "tutorial").glob("*.rst.txt")))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if 30 <= len(s) <= 400]
    step = max(1, len(sentences) // count)
    return sentences[::step][:count]


T = TypeVar("T")


def timed_ms(function: Callable[..., T], *args: object) -> tuple[float, T]:
    started = time.perf_counter()
    result = function(*args)
    return (time.perf_counter() - started) * 1000, result


def bench_onnx_embedding(onnx: OnnxEmbedder, sentences: list[str], cursor_queries: list[str], rounds: int) -> dict:
    """Before torch is loaded: its idle OpenMP threads spin and would slow whatever runs next to them."""
    onnx.embed_one("warm up")
    sentence_ms = [timed_ms(onnx.embed_one, s)[0] for _ in range(rounds) for s in sentences]
    query_ms = [timed_ms(onnx.embed_one, q)[0] for _ in range(rounds) for q in cursor_queries]
    return {
        "sentences": len(sentences),
        "rounds": rounds,
        "threads": THREADS,
        "onnx_ms_p50": percentile(sentence_ms, 50),
        "onnx_ms_p95": percentile(sentence_ms, 95),
        "cursor_query_chars": len(cursor_queries[0]),
        "cursor_query_ms_p50": percentile(query_ms, 50),
        "cursor_query_ms_p95": percentile(query_ms, 95),
    }


def bench_torch_embedding(onnx: OnnxEmbedder, sentences: list[str], rounds: int) -> dict:
    """sentence-transformers on torch (fp32), the same sentences one at a time, and how close the vectors are."""
    torch_embedder = SentenceEmbedder(THREADS, EmbeddingPrecision.FP32)
    torch_embedder.embed_one("warm up")
    torch_ms = [timed_ms(torch_embedder.embed_one, s)[0] for _ in range(rounds) for s in sentences]
    cosines = (onnx.embed(sentences) * torch_embedder.embed(sentences)).sum(axis=1)
    return {
        "torch_fp32_ms_p50": percentile(torch_ms, 50),
        "torch_fp32_ms_p95": percentile(torch_ms, 95),
        "min_cosine": float(cosines.min()),
    }


class NoisyCopies:
    """An embedder for synthetic notes ``"note N"``: real sentence vectors plus noise, normalized."""

    def __init__(self, base: np.ndarray, seed: int = 0) -> None:
        self._base = base
        self._rng = np.random.default_rng(seed)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.array([int(text.split()[1]) % len(self._base) for text in texts])
        noisy = self._base[rows] + self._rng.normal(
            0, NOISE / np.sqrt(self._base.shape[1]), (len(rows), self._base.shape[1])
        )
        return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def synthetic_notes(start: int, count: int, version: int) -> list[MemoryNote]:
    return [
        MemoryNote(
            note_id=f"{i:032x}",
            version=version,
            text=f"note {i}",
            sources=[NoteSource(chunk_id=i, path="synthetic", start=0, end=1)],
        )
        for i in range(start, start + count)
    ]


def grow_memory(memory: LocalMemory, size: int, page: int = 10_000) -> None:
    while memory.note_count < size:
        start, version = memory.note_count, memory.version
        count = min(page, size - start)
        memory.apply_delta(
            MemoryDelta(
                since=version,
                version=version + 1,
                latest_version=version + 1,
                added=synthetic_notes(start, count, version + 1),
                removed=[],
                has_more=False,
            )
        )


def bench_retrieval(work: Path, base: np.ndarray, queries: np.ndarray, sizes: list[int], k: int) -> list[dict]:
    rows = []
    for size in sizes:
        exact = LocalMemory(work / f"exact-{size}", NoisyCopies(base), ivf_threshold=10**9)
        with console.status(f"retrieval: {size:,} notes"):
            grow_memory(exact, size)
        latencies = [timed_ms(exact.search, query, k)[0] for query in queries for _ in range(3)]
        row = {
            "notes": size,
            "index": exact.index_kind,
            "search_ms_p50": percentile(latencies, 50),
            "search_ms_p95": percentile(latencies, 95),
        }
        if size > 50_000:  # where the client switches to IVF (client.note_ivf_threshold)
            ivf = LocalMemory(work / f"ivf-{size}", NoisyCopies(base), ivf_threshold=50_000)
            grow_memory(ivf, size)
            ivf_ms = [timed_ms(ivf.search, query, k)[0] for query in queries for _ in range(3)]
            hits = [
                len({n.note_id for n in ivf.search(q, k)} & {n.note_id for n in exact.search(q, k)}) / k
                for q in queries
            ]
            row |= {
                "ivf_search_ms_p50": percentile(ivf_ms, 50),
                "ivf_search_ms_p95": percentile(ivf_ms, 95),
                f"ivf_recall_at_{k}": float(np.mean(hits)),
            }
            ivf.close()
        exact.close()
        rows.append(row)
        shutil.rmtree(work / f"exact-{size}", ignore_errors=True)
        shutil.rmtree(work / f"ivf-{size}", ignore_errors=True)
    return rows


def bench_delta_apply(work: Path, onnx: OnnxEmbedder, sentences: list[str], runs: int) -> dict:
    memory = LocalMemory(work / "apply", onnx, ivf_threshold=50_000)
    total_ms, embed_ms = [], []
    for run in range(runs):
        texts = [f"{sentences[(run * APPLY_NOTES + i) % len(sentences)]} ({run}.{i})" for i in range(APPLY_NOTES)]
        notes = [
            MemoryNote(
                note_id=f"{run:016x}{i:016x}",
                version=run + 1,
                text=text,
                sources=[NoteSource(chunk_id=i, path="docs", start=0, end=1)],
            )
            for i, text in enumerate(texts)
        ]
        delta = MemoryDelta(since=run, version=run + 1, latest_version=run + 1, added=notes, removed=[], has_more=False)
        embed_ms.append(timed_ms(onnx.embed, texts)[0])
        total_ms.append(timed_ms(memory.apply_delta, delta)[0])
    memory.close()
    return {
        "notes_per_delta": APPLY_NOTES,
        "runs": runs,
        "apply_ms_p50": percentile(total_ms, 50),
        "apply_ms_p95": percentile(total_ms, 95),
        "of_which_embedding_ms_p50": percentile(embed_ms, 50),
    }


def bench_sync(work: Path, onnx: OnnxEmbedder, corpus: Path, contexts: list[str]) -> dict:
    """Against ``hybridrag cloud serve`` as a process of its own (extractive writer), on loopback."""
    memory = LocalMemory(work / "sync-memory", onnx, ivf_threshold=50_000)
    empty_ms, changed_ms, notes = [], [], []
    with (
        serving_files(work, corpus, SYNC_FILES, console, SERVER_STARTUP_S) as (url, token),
        console.status("sync round trips"),
    ):
        client = CloudClient(url, token, timeout_s=30, max_retries=0)
        sync_memory(client, memory)  # the connection stays open from here on, as in the background loop
        for context in contexts:
            request = client.request_memory(context)
            while client.request_status(request.request_id).state in ("queued", "running"):
                time.sleep(0.01)
            ms, report = timed_ms(sync_memory, client, memory)
            changed_ms.append(ms)
            notes.append(len(report.added))
            empty_ms.append(timed_ms(sync_memory, client, memory)[0])
        client.close()
    memory.close()
    return {
        "empty_delta_ms_p50": percentile(empty_ms, 50),
        "empty_delta_ms_p95": percentile(empty_ms, 95),
        "changed_delta_ms_p50": percentile(changed_ms, 50),
        "changed_delta_ms_p95": percentile(changed_ms, 95),
        "notes_per_changed_delta": float(np.mean(notes)),
        "syncs": len(empty_ms) + len(changed_ms),
    }


def passage_of(sentences: list[str], chars: int = MAX_NOTE_CHARS) -> str:
    """Consecutive sentences up to a note's size, as the passages writer's notes are."""
    text = ""
    for sentence in sentences:
        if len(text) + len(sentence) + 1 > chars:
            break
        text = f"{text} {sentence}".strip()
    return text


def bench_memory_switch(
    cache_dir: Path, corpus: Path, sentences: list[str], window_s: float, text_chars: int = SWITCH_TEXT_CHARS
) -> dict:
    """First-token latency while a writer types, in the window after the memory block changed."""
    prose = read_prose(corpus / SWITCH_DOCUMENT)
    text, words = prose[:text_chars], prose[text_chars:].split()
    blocks = [
        MemoryBlock(
            tuple(LocalNote(f"{b}{i}", b, sentences[b * NOTES_PER_BLOCK + i], ()) for i in range(NOTES_PER_BLOCK))
        ).text
        for b in range(2)
    ]
    passages = MemoryBlock(
        tuple(LocalNote(f"p{i}", 2, passage_of(sentences[100 + 40 * i :]), ()) for i in range(NOTES_PER_BLOCK))
    ).text  # what the passages writer sends: a retrieved chunk's worth of text a note
    rows = {}
    for label, background, switch_to in [
        ("steady", True, None),
        ("switch, background prefill", True, blocks[1]),
        ("switch, no background prefill", False, blocks[1]),
        ("switch to passages, background prefill", True, passages),
    ]:
        engine = SuggestionEngine(EngineSettings(background_prefill=background, n_threads=THREADS), cache_dir)
        engine.suggest(text)
        engine.set_memory(blocks[0])
        engine.wait_for_memory(timeout_s=120)
        engine.suggest(text)  # warm: block A and the text cached
        typed = text
        if switch_to is not None:
            engine.set_memory(switch_to)
        started, first_ms, switched_at, word = time.perf_counter(), [], None, 0
        while time.perf_counter() - started < window_s:
            time.sleep(TYPING_PAUSE_S)
            typed += " " + words[word % len(words)]
            word += 1
            result = engine.suggest(typed, max_tokens=8)
            first_ms.append(result.first_token_ms if result.first_token_ms is not None else result.total_ms)
            if switch_to is not None and switched_at is None and engine.active_memory == switch_to:
                switched_at = time.perf_counter() - started
        rows[label] = {
            "suggestions": len(first_ms),
            "first_token_ms_p50": percentile(first_ms, 50),
            "first_token_ms_p95": percentile(first_ms, 95),
            "first_token_ms_max": max(first_ms),
            "switched_after_s": switched_at,
            "prompt_tokens": result.prompt_tokens,
            "memory_tokens": result.memory_tokens,
        }
        engine.close()
    return {"window_s": window_s, "text_chars": text_chars, "typing_pause_s": TYPING_PAUSE_S, "rows": rows}


def main() -> None:
    parser = argument_parser(__doc__, "client_memory.json", "small sizes, short windows", PYTHON_DOCS_DIR)
    args = parser.parse_args()
    settings = load_settings()
    work = Path(tempfile.mkdtemp(prefix="bench-client-memory-"))
    started = time.perf_counter()
    try:
        with console.status("loading the ONNX query embedder (exporting it on first use)"):
            onnx = OnnxEmbedder(settings.cache_dir, THREADS)
        sentences = docs_sentences(args.corpus, 2000)
        prose = read_prose(args.corpus / SWITCH_DOCUMENT)
        chars = settings.client.memory_query_chars
        cursor_queries = [prose[i : i + chars] for i in range(0, len(prose) - chars, max(1, len(prose) // 20))]
        probe = sentences[:20] if args.quick else sentences[:100]
        rounds = 1 if args.quick else 3
        with console.status("query embeddings: ONNX"):
            embedding = bench_onnx_embedding(onnx, probe, cursor_queries[:3] if args.quick else cursor_queries, rounds)
        base = onnx.embed(sentences)
        queries = onnx.embed(docs_sentences(args.corpus, 2200)[-200:])
        retrieval = bench_retrieval(
            work,
            base,
            queries[:20] if args.quick else queries,
            MEMORY_SIZES[:1] if args.quick else MEMORY_SIZES,
            settings.client.notes_in_prompt,
        )
        with console.status("delta apply"):
            apply = bench_delta_apply(work, onnx, sentences, 3 if args.quick else 20)
        sync = bench_sync(work, onnx, args.corpus, sentences[:3] if args.quick else sentences[:20])
        window_s, text_chars = (2.0, 1000) if args.quick else (10.0, SWITCH_TEXT_CHARS)
        with console.status("memory switch while typing"):
            switch = bench_memory_switch(settings.cache_dir, args.corpus, sentences, window_s, text_chars)
        with console.status("query embeddings: sentence-transformers on torch"):
            embedding |= bench_torch_embedding(onnx, probe, rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "embedding": embedding,
        "retrieval": retrieval,
        "delta_apply": apply,
        "sync": sync,
        "memory_switch": switch,
        "meta": {
            "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "quick": args.quick,
            "seconds": round(time.perf_counter() - started, 1),
            "command": "python scripts/bench_client_memory.py" + (" --quick" if args.quick else ""),
        },
    }
    write_report(report, args.out, console)
    print_tables(report)


def print_tables(report: dict) -> None:
    embedding, apply, sync = report["embedding"], report["delta_apply"], report["sync"]
    table = Table(title="client memory", show_header=False, title_justify="left")
    table.add_row(
        "query embedding, ONNX (p50 / p95)", f"{embedding['onnx_ms_p50']:.2f} / {embedding['onnx_ms_p95']:.2f} ms"
    )
    table.add_row(
        "query embedding, sentence-transformers fp32",
        f"{embedding['torch_fp32_ms_p50']:.2f} / {embedding['torch_fp32_ms_p95']:.2f} ms",
    )
    table.add_row("ONNX vs sentence-transformers, min cosine", f"{embedding['min_cosine']:.5f}")
    table.add_row(
        f"cursor query ({embedding['cursor_query_chars']} chars), ONNX",
        f"{embedding['cursor_query_ms_p50']:.2f} / {embedding['cursor_query_ms_p95']:.2f} ms",
    )
    table.add_row(
        f"delta apply, {apply['notes_per_delta']} notes (p50 / p95)",
        f"{apply['apply_ms_p50']:.0f} / {apply['apply_ms_p95']:.0f} ms "
        f"(embedding {apply['of_which_embedding_ms_p50']:.0f} ms)",
    )
    table.add_row(
        "sync round trip, nothing new", f"{sync['empty_delta_ms_p50']:.1f} / {sync['empty_delta_ms_p95']:.1f} ms"
    )
    table.add_row(
        f"sync round trip, {sync['notes_per_changed_delta']:.1f} new notes",
        f"{sync['changed_delta_ms_p50']:.1f} / {sync['changed_delta_ms_p95']:.1f} ms",
    )
    console.print(table)
    retrieval = Table(title="retrieval (LocalMemory.search, top notes_in_prompt)", title_justify="left")
    for column in ("notes", "index", "p50", "p95", "IVF p50", "IVF recall"):
        retrieval.add_column(column, justify="right")
    for row in report["retrieval"]:
        recall = next((v for key, v in row.items() if key.startswith("ivf_recall")), None)
        retrieval.add_row(
            f"{row['notes']:,}",
            row["index"],
            f"{row['search_ms_p50']:.3f} ms",
            f"{row['search_ms_p95']:.3f} ms",
            f"{row['ivf_search_ms_p50']:.3f} ms" if "ivf_search_ms_p50" in row else "-",
            f"{recall:.3f}" if recall is not None else "-",
        )
    console.print(retrieval)
    switch = report["memory_switch"]
    table = Table(
        title=f"first token in the {switch['window_s']:.0f} s after the memory block changed "
        f"(a word every {switch['typing_pause_s'] * 1000:.0f} ms)",
        title_justify="left",
    )
    for column in ("case", "suggestions", "p50", "p95", "max", "switched after"):
        table.add_column(column, justify="right")
    for label, row in switch["rows"].items():
        switched = f"{row['switched_after_s']:.1f} s" if row["switched_after_s"] is not None else "-"
        table.add_row(
            label,
            str(row["suggestions"]),
            f"{row['first_token_ms_p50']:.0f} ms",
            f"{row['first_token_ms_p95']:.0f} ms",
            f"{row['first_token_ms_max']:.0f} ms",
            switched,
        )
    console.print(table)


if __name__ == "__main__":
    main()
