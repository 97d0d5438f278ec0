"""What the benchmark scripts share: percentiles, their JSON report, and the embedding paths side by side."""

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console

from shared.embeddings import SentenceEmbedder, TextEmbedder, cpu_has_native_bf16
from shared.machine import cpu_description
from shared.onnx_embedder import OnnxEmbedder
from shared.settings import EmbeddingPrecision, Settings

if TYPE_CHECKING:
    from cloud.datastore import Datastore


EMBEDDERS = {  # name: (ONNX Runtime?, precision, word pieces read); the first is the reference for cosines
    "torch fp32, 256": (False, EmbeddingPrecision.FP32, 256),
    "torch auto, 256 (before)": (False, EmbeddingPrecision.AUTO, 256),
    "onnx fp32, 256": (True, EmbeddingPrecision.FP32, 256),
    "onnx int8, 256": (True, EmbeddingPrecision.INT8, 256),
    "onnx int8, 128 (default)": (True, EmbeddingPrecision.INT8, 128),
}
BEFORE, DEFAULT = "torch auto, 256 (before)", "onnx int8, 128 (default)"


def chunk_texts(datastore: "Datastore", count: int) -> list[str]:
    """``count`` real chunks of an ingested datastore (those nearest a broad query)."""
    return [hit.text for hit in datastore.search_text("functions, classes and modules", count)]


def bench_embedders(texts: list[str], settings: Settings) -> dict:
    """Chunks/s of each embedding path on the same real chunks, side by side, and each one's cosine to fp32.

    ``before`` is the path the cloud used until int8 (sentence-transformers, bf16 where
    native); ``speedup`` is the default path's chunks/s over it.
    """
    threads = settings.engine.n_threads
    rows: dict[str, dict] = {}
    reference = None
    for name, (onnx, precision, max_tokens) in EMBEDDERS.items():
        embedder: TextEmbedder = (
            # Threads that spin between batches, as the cloud's bulk chunk embedder runs (torch's spin too).
            OnnxEmbedder(settings.cache_dir, threads, precision is EmbeddingPrecision.INT8, max_tokens, spin=True)
            if onnx
            else SentenceEmbedder(threads, precision, max_tokens)
        )
        embedder.embed(texts[:8])  # load and warm up
        began = time.perf_counter()
        vectors = embedder.embed(texts, settings.cloud.embed_batch_size)  # unset: each embedder's best
        rows[name] = {"chunks_per_s": len(texts) / (time.perf_counter() - began), "identity": embedder.identity}
        reference = vectors if reference is None else reference
        cosines = (vectors * reference).sum(axis=1)
        rows[name] |= {"min_cosine": float(cosines.min()), "mean_cosine": float(cosines.mean())}
        Console().print(f"  {name}: {rows[name]['chunks_per_s']:.1f} chunks/s")
    return {
        "chunks": len(texts),
        "bf16_native": cpu_has_native_bf16(),
        "paths": rows,
        "before": BEFORE,
        "default": DEFAULT,
        "speedup": rows[DEFAULT]["chunks_per_s"] / rows[BEFORE]["chunks_per_s"],
    }


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"


def argument_parser(
    doc: str | None, report_name: str, quick_help: str, corpus: Path | None = None
) -> argparse.ArgumentParser:
    """The options every benchmark has: --quick (a smoke run of every stage), --out, and --corpus where it reads one."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if corpus is not None:
        parser.add_argument("--corpus", type=Path, default=corpus)
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {quick_help}")
    parser.add_argument("--out", type=Path, default=REPORTS_DIR / report_name)
    return parser


def write_report(report: dict, out: Path, console: Console) -> None:
    """Write ``report`` as JSON, with the CPU it was measured on (speed holds for that CPU only)."""
    report.setdefault("cpu", cpu_description())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out}")


@contextmanager
def serving_files(
    work: Path, corpus: Path, files: list[str], console: Console, startup_s: float = 120.0
) -> Iterator[tuple[str, str]]:
    """``hybridrag cloud serve`` (extractive writer) as a process of its own over ``files`` of ``corpus``.

    Returns (url, token).
    """
    from cloud.local_server import free_loopback_port, server_process

    source = work / "served-corpus"
    source.mkdir()
    for name in files:
        (source / Path(name).name).write_text((corpus / name).read_text())
    data = str(work / "cloud")
    cli = [sys.executable, "-m", "client.cli", "cloud"]
    with console.status(f"ingesting {len(files)} files for the memory service"):
        subprocess.run([*cli, "ingest", str(source), "--data-dir", data], check=True, capture_output=True)
    token = subprocess.run(
        [*cli, "token", "create", "bench", "--data-dir", data], check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_loopback_port()
    serve = ["-m", "client.cli", "cloud", "serve", "--llm", "extractive", "--port", str(port), "--data-dir", data]
    with server_process(serve, f"http://127.0.0.1:{port}/healthz", startup_s):
        yield f"http://127.0.0.1:{port}", token
