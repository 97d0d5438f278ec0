"""Make the memory adapter's training and validation examples from the real corpora.

    python -m training.make_examples --out ~/.cache/hybridrag/training/examples [--seed 0]

Each corpus's training-split sample is ingested into a datastore of its own (once,
incrementally), and notes are written by the cloud's default writer (``--writer`` to
choose another), as the evaluation's are. Documents are split by a second hash into training and validation,
so validation scores text the training never saw. Writes ``train.jsonl``,
``validation.jsonl`` and ``manifest.json`` (corpora, package versions, documents,
counts, seed), and ``plain.jsonl``/``plain_validation.jsonl``: the same documents' plain
text, on which training holds the adapter close to the base model (never the pages whose
perplexity the engine benchmark measures).
"""

import argparse
import hashlib
import json
import random
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

from cloud.cli import ingest_with_progress
from cloud.datastore import Datastore
from cloud.writers import make_writer
from shared.embeddings import chunk_embedder
from shared.settings import Settings, WriterKind
from training.corpora import PERPLEXITY_DOCUMENTS, TRAINING_CORPORA, copy_documents, training_documents
from training.examples import NoteMaker, TrainingExample, examples_from_document, plain_text, write_examples

VALIDATION_SHARE = 0.06  # of each corpus's training-split documents, for choosing lr and epochs
CUTS_PER_DOCUMENT = 8


def is_validation(corpus: str, doc_id: str) -> bool:
    digest = hashlib.sha256(f"validation:{corpus}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < VALIDATION_SHARE


def debian_version(package: str) -> str | None:
    try:
        return (
            subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True
            ).stdout
            or None
        )
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cuts-per-document", type=int, default=CUTS_PER_DOCUMENT)
    parser.add_argument(
        "--writer", type=WriterKind, choices=list(WriterKind), help="who writes the notes (default: cloud.llm)"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    embedder = chunk_embedder(settings)
    writer = make_writer(settings, args.writer)
    work = settings.cache_dir / "training"
    train: list[TrainingExample] = []
    validation: list[TrainingExample] = []
    plain: dict[str, list[dict]] = {"plain": [], "plain_validation": []}  # whole-document text, for the KL term
    manifest: dict[str, object] = {
        "seed": args.seed,
        "cuts_per_document": args.cuts_per_document,
        "writer": writer.name,
        "corpora": {},
    }
    began = time.perf_counter()
    for corpus in TRAINING_CORPORA:
        documents = training_documents(corpus, args.seed)
        folder = copy_documents(corpus, documents, work / "corpora" / corpus.name)
        store = Datastore(
            work / "datastores" / corpus.name, settings.cloud.model_copy(update={"corpus_root": None}), embedder
        )
        report = ingest_with_progress(store, folder)
        notes = NoteMaker(settings, store, writer)
        rng = random.Random(f"{args.seed}:{corpus.name}")
        made = 0
        for number, path in enumerate(sorted(folder.rglob("*")), start=1):
            if not path.is_file():
                continue
            examples = examples_from_document(corpus.name, folder, path, notes, args.cuts_per_document, rng)
            doc_id = str(path.relative_to(folder))
            held_out = is_validation(corpus.name, doc_id)
            (validation if held_out else train).extend(examples)
            text = plain_text(path)
            if text and not (corpus.name == "python" and doc_id.removesuffix(".rst.txt") in PERPLEXITY_DOCUMENTS):
                plain["plain_validation" if held_out else "plain"].append(
                    {"corpus": corpus.name, "doc_id": doc_id, "text": text}
                )
            made += len(examples)
            if number % 25 == 0:
                print(
                    f"{corpus.name}: {number}/{len(documents)} documents, {made} examples, "
                    f"{time.perf_counter() - began:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
        store.close()
        manifest["corpora"][corpus.name] = {  # type: ignore[index]
            "debian_package": corpus.debian_package,
            "version": debian_version(corpus.debian_package),
            "documents": [str(path.relative_to(corpus.root)) for path in documents],
            "examples": made,
            "chunks": report.chunks_total,
        }
    rng = random.Random(args.seed)
    rng.shuffle(train)
    write_examples(args.out / "train.jsonl", train)
    write_examples(args.out / "validation.jsonl", validation)
    for name, rows in plain.items():
        (args.out / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    manifest["counts"] = {
        "train": dict(Counter(e.condition for e in train)),
        "validation": dict(Counter(e.condition for e in validation)),
        **{f"{name}_documents": len(rows) for name, rows in plain.items()},
    }
    manifest["packages"] = {name: metadata.version(name) for name in ("sentence-transformers", "faiss-cpu", "torch")}
    manifest["seconds"] = round(time.perf_counter() - began, 1)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(manifest["counts"]), file=sys.stderr)


if __name__ == "__main__":
    main()
