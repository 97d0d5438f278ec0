#!/usr/bin/env python3
"""Benchmark the cloud memory service on the Python docs.

Measures ingest (chunks/s, total time, index and database size), retrieval latency
at that size, exact vs IVF search at larger sizes (the setting cloud.ivf_threshold
rests on this), and, through the real API on loopback, the time from a memory request
to its notes being visible in GET /v1/memory, with the extractive writer and the
embedded LLM: notes per request and word pieces per note. Prints a table and writes
reports/cloud.json.

    .venv/bin/python scripts/bench_cloud.py           # the full run (about 20 minutes)
    .venv/bin/python scripts/bench_cloud.py --quick   # a smoke run of every stage
"""

import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import llama_cpp
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.local_server import LocalServer
from cloud.service import CloudService
from scripts.bench_support import argument_parser, bench_embedders, chunk_texts, percentile, write_report
from shared.corpus import corpus_files, cut_at_sentence, read_prose
from shared.embeddings import EMBEDDING_DIM, WordPieceCounter
from shared.llama_loading import load_llama
from shared.model_files import default_gguf_path
from shared.settings import PYTHON_DOCS_DIR, Settings, WriterKind, load_settings
from shared.vector_index import build_index, nearest

QUICK_FILES = ["tutorial/classes.rst.txt", "tutorial/datastructures.rst.txt", "tutorial/controlflow.rst.txt"]
INDEX_SIZES = [10_000, 50_000, 200_000]
INDEX_QUERIES = 100
POLL_S = 0.05
REQUEST_TIMEOUT_S = 300
console = Console()


def sample_contexts(corpus: Path, count: int, seed: int) -> list[str]:
    """Writers' contexts: the opening of random documents, cut at a sentence (about 600 characters)."""
    files = corpus_files(corpus, "**/*.txt")
    rng = random.Random(seed)
    contexts = []
    for path in rng.sample(files, min(len(files), count * 3)):
        prose = read_prose(path)
        if len(prose) > 1500:
            contexts.append(cut_at_sentence(prose, 600))
        if len(contexts) == count:
            break
    return contexts


def bench_ingest(service: CloudService, corpus: Path) -> dict:
    console.print(f"ingest {corpus} …")
    report = service.datastore.ingest(corpus)
    folder = service.settings.cloud.data_dir
    index_files = list(folder.glob("chunks-*.faiss"))
    return {
        "files": report.files_seen - len(report.skipped),
        "skipped": len(report.skipped),
        "chunks": report.chunks_total,
        "seconds": report.seconds,
        "chunks_per_s": report.chunks_added / report.seconds if report.seconds else 0.0,
        "index_kind": report.index_kind,
        "embedder": service.embedder.identity,
        "index_mb": sum(f.stat().st_size for f in index_files) / 1e6,
        "database_mb": (folder / "datastore.sqlite").stat().st_size / 1e6,
    }


def bench_retrieval(service: CloudService, contexts: list[str], k: int) -> dict:
    embed_ms, search_ms = [], []
    service.datastore.search_text("warm up", k)
    for context in contexts:
        began = time.perf_counter()
        vector = service.embedder.embed_one(context[-service.settings.cloud.retrieval_context_chars :])
        embedded = time.perf_counter()
        service.datastore.search(vector, k)
        embed_ms.append((embedded - began) * 1000)
        search_ms.append((time.perf_counter() - embedded) * 1000)
    return {
        "queries": len(contexts),
        "k": k,
        "search_ms_p50": percentile(search_ms, 50),
        "search_ms_p95": percentile(search_ms, 95),
        "query_embedding_ms_p50": percentile(embed_ms, 50),
    }


def bench_index_kinds(sizes: list[int]) -> list[dict]:
    """Exact vs IVF on clustered synthetic vectors: latency and IVF's recall@10 against exact."""
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        centres = rng.standard_normal((max(1, size // 50), EMBEDDING_DIM)).astype(np.float32)
        vectors = centres[rng.integers(0, len(centres), size)] + 0.5 * rng.standard_normal(
            (size, EMBEDDING_DIM)
        ).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        queries = vectors[rng.integers(0, size, INDEX_QUERIES)]
        ids = np.arange(size, dtype=np.int64)
        row: dict = {"vectors": size}
        found: dict[str, list] = {}
        for kind, threshold in (("flat", size), ("ivf", 0)):
            began = time.perf_counter()
            index = build_index(ids, vectors, threshold, nprobe=Settings().cloud.ivf_nprobe)
            row[f"{kind}_build_s"] = time.perf_counter() - began
            latencies, found[kind] = [], []
            for query in queries:
                began = time.perf_counter()
                found[kind].append({i for i, _ in nearest(index, query, 10)})
                latencies.append((time.perf_counter() - began) * 1000)
            row[f"{kind}_ms_p50"] = percentile(latencies, 50)
        row["ivf_recall_at_10"] = float(
            np.mean([len(a & b) / 10 for a, b in zip(found["flat"], found["ivf"], strict=True)])
        )
        rows.append(row)
    return rows


def bench_requests(service: CloudService, contexts: list[str]) -> dict:
    """Memory request to notes visible in the delta, through the real API on loopback."""
    tenant = "bench"
    token = service.tokens.create(tenant)
    counter = WordPieceCounter()
    client_model = default_gguf_path(service.settings.cache_dir)
    gemma = load_llama(client_model, llama_cpp.Llama, vocab_only=True)  # the client's tokens
    latencies, notes_per_request, tokens_per_note, gemma_tokens_per_note = [], [], [], []
    with (
        LocalServer(service) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http,
    ):
        version = http.get("/v1/memory").json()["latest_version"]
        for context in contexts:
            began = time.perf_counter()
            request_id = (
                http.post("/v1/memory/requests", json={"context": context}).raise_for_status().json()["request_id"]
            )
            while True:
                status = http.get(f"/v1/requests/{request_id}").json()
                if status["state"] in ("done", "failed"):
                    break
                if time.perf_counter() - began > REQUEST_TIMEOUT_S:
                    raise TimeoutError(f"memory request {request_id} took over {REQUEST_TIMEOUT_S} s")
                time.sleep(POLL_S)
            delta = http.get("/v1/memory", params={"since": version}).json()
            latencies.append((time.perf_counter() - began) * 1000)
            version = delta["version"]
            notes_per_request.append(len(delta["added"]))
            tokens_per_note += [counter.count(note["text"]) for note in delta["added"]]
            gemma_tokens_per_note += [
                len(gemma.tokenize(note["text"].encode(), add_bos=False)) for note in delta["added"]
            ]
            examples = [note["text"] for note in delta["added"]]
    return {
        "writer": service.writer.name if service.writer is not None else "none",
        "requests": len(contexts),
        "visible_ms_p50": percentile(latencies, 50),
        "visible_ms_p95": percentile(latencies, 95),
        "notes_per_request": statistics.mean(notes_per_request) if notes_per_request else 0.0,
        "tokens_per_note_mean": statistics.mean(tokens_per_note) if tokens_per_note else 0.0,
        "tokens_per_note_max": max(tokens_per_note, default=0),
        "gemma_tokens_per_note_mean": statistics.mean(gemma_tokens_per_note) if gemma_tokens_per_note else 0.0,
        "example_notes": examples,
    }


def main() -> None:
    parser = argument_parser(__doc__, "cloud.json", "three documents, few queries", PYTHON_DOCS_DIR)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--requests", type=int, default=10, help="memory requests per writer")
    parser.add_argument("--writers", default="extractive,embedded,qwen")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cloud-"))
    corpus = args.corpus
    if args.quick:
        corpus = work / "corpus"
        corpus.mkdir()
        for name in QUICK_FILES:
            (corpus / Path(name).name).write_text((args.corpus / name).read_text())
        args.queries, args.requests = 5, 1
    base = load_settings()
    settings = base.model_copy(update={"cloud": base.cloud.model_copy(update={"data_dir": work / "data"})})
    contexts = sample_contexts(args.corpus, max(args.queries, args.requests), seed=7)

    report: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "corpus": str(args.corpus),
        "quick": args.quick,
    }
    service = CloudService(settings, writer_kind=WriterKind.EXTRACTIVE)
    report["ingest"] = bench_ingest(service, corpus)
    report["embedders"] = bench_embedders(chunk_texts(service.datastore, 32 if args.quick else 1000), settings)
    report["retrieval"] = bench_retrieval(service, contexts[: args.queries], settings.cloud.top_k_chunks)
    report["index_kinds"] = bench_index_kinds(INDEX_SIZES[:1] if args.quick else INDEX_SIZES)
    report["requests"] = {}
    for kind in [WriterKind(name) for name in args.writers.split(",")]:
        console.print(f"memory requests with the {kind} writer …")
        if kind is not WriterKind.EXTRACTIVE:
            service.stop()
            service = CloudService(settings, writer_kind=kind)
        report["requests"][kind] = bench_requests(service, contexts[: args.requests])
    service.stop()
    write_report(report, args.out, console)
    print_tables(report)


def print_tables(report: dict) -> None:
    ingest, retrieval, embedders = report["ingest"], report["retrieval"], report["embedders"]
    table = Table(title="cloud memory service", show_header=False, title_justify="left")
    for label, value in [
        (
            "ingest",
            (
                f"{ingest['files']} files → {ingest['chunks']} chunks in {ingest['seconds']:.1f} s "
                f"({ingest['chunks_per_s']:.1f} chunks/s, {ingest['embedder']}); {ingest['skipped']} skipped"
            ),
        ),
        ("index", f"{ingest['index_kind']}, {ingest['index_mb']:.1f} MB; SQLite {ingest['database_mb']:.1f} MB"),
        (
            "retrieval",
            (
                f"search p50 {retrieval['search_ms_p50']:.2f} ms, p95 {retrieval['search_ms_p95']:.2f} ms "
                f"(k={retrieval['k']}); query embedding p50 {retrieval['query_embedding_ms_p50']:.1f} ms"
            ),
        ),
    ]:
        table.add_row(label, value)
    console.print(table)
    paths = Table(
        title=f"embedding {embedders['chunks']} chunks (native bf16: {embedders['bf16_native']}); "
        f"default {embedders['speedup']:.2f}x before",
        title_justify="left",
    )
    for column in ("path", "chunks/s", "min cosine to fp32", "mean cosine"):
        paths.add_column(column, justify="left" if column == "path" else "right")
    for name, row in embedders["paths"].items():
        paths.add_row(name, f"{row['chunks_per_s']:.1f}", f"{row['min_cosine']:.4f}", f"{row['mean_cosine']:.5f}")
    console.print(paths)
    kinds = Table(title="exact vs IVF search (synthetic clustered vectors)", title_justify="left")
    for column in ("vectors", "exact p50 ms", "IVF p50 ms", "IVF recall@10", "IVF build s"):
        kinds.add_column(column, justify="right")
    for row in report["index_kinds"]:
        kinds.add_row(
            f"{row['vectors']:,}",
            f"{row['flat_ms_p50']:.2f}",
            f"{row['ivf_ms_p50']:.2f}",
            f"{row['ivf_recall_at_10']:.3f}",
            f"{row['ivf_build_s']:.1f}",
        )
    console.print(kinds)
    requests = Table(title="memory request → notes visible (real API on loopback)", title_justify="left")
    for column in ("writer", "requests", "p50 ms", "p95 ms", "notes/req", "pieces/note", "Gemma tok/note"):
        requests.add_column(column, justify="right")
    for kind, row in report["requests"].items():
        requests.add_row(
            kind,
            str(row["requests"]),
            f"{row['visible_ms_p50']:.0f}",
            f"{row['visible_ms_p95']:.0f}",
            f"{row['notes_per_request']:.1f}",
            f"{row['tokens_per_note_mean']:.1f}, {row['tokens_per_note_max']}",
            f"{row['gemma_tokens_per_note_mean']:.1f}",
        )
    console.print(requests)


if __name__ == "__main__":
    main()
