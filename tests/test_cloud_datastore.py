"""The datastore on real files: ingest, incremental updates, crash repair, IVF, search."""

import shutil
from pathlib import Path

import numpy as np

from cloud.datastore import Datastore
from shared.settings import CloudSettings
from shared.vector_index import build_index, index_kind, nearest


def _store(folder: Path, embedder) -> Datastore:
    return Datastore(folder, CloudSettings(data_dir=folder), embedder)


def test_search_finds_the_chunk_that_answers(ingested_data: Path, embedder, tmp_path: Path) -> None:
    shutil.copytree(ingested_data, tmp_path / "data")
    store = _store(tmp_path / "data", embedder)
    hits = store.search_text("remove an item from a list by its index with the del statement", 3)
    assert hits[0].path.endswith("datastructures.rst.txt") and "del" in hits[0].text
    assert hits[0].score >= hits[-1].score
    source = Path(hits[0].path).read_text()
    assert hits[0].text.split()[0] in source[hits[0].start : hits[0].end]


def test_another_embedder_makes_the_next_ingest_embed_every_file_again(
    cloud_corpus: Path, embedder, query_embedder, tmp_path: Path
) -> None:
    store = _store(tmp_path / "data", embedder)
    first = store.ingest(cloud_corpus)
    store.close()
    assert _store(tmp_path / "data", embedder).ingest(cloud_corpus).unchanged == first.added  # same embedder
    assert embedder.identity != query_embedder.identity  # int8 over 128 pieces, float over 256
    other = _store(tmp_path / "data", query_embedder)
    again = other.ingest(cloud_corpus)
    assert (again.updated, again.unchanged, again.chunks_total) == (first.added, 0, first.chunks_total)
    assert other.ingest(cloud_corpus).unchanged == first.added
    assert "del" in other.search_text("remove an item from a list by its index with the del statement", 1)[0].text


def test_int8_chunk_vectors_stay_close_to_float(embedder, torch_embedder) -> None:
    texts = [
        "Lists are mutable sequences, typically used to store collections of homogeneous items.",
        "The with statement is used to wrap the execution of a block with methods defined by a context manager.",
    ]
    assert (embedder.embed(texts) * torch_embedder.embed(texts)).sum(axis=1).min() >= 0.97


def test_ingest_is_incremental(cloud_corpus: Path, embedder, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(cloud_corpus, corpus)
    (corpus / "notes.md").write_text("# Walrus\n\nThe walrus operator assigns a value inside an expression.\n")
    (corpus / "blob.txt").write_bytes(b"\0\1\2")
    store = _store(tmp_path / "data", embedder)
    first = store.ingest(corpus)
    assert (first.added, first.unchanged, len(first.skipped)) == (4, 0, 1)
    assert first.skipped[0].reason == "binary content"

    again = store.ingest(corpus)
    assert (again.added, again.updated, again.unchanged, again.chunks_added) == (0, 0, 4, 0)

    kept = {hit.chunk_id for hit in store.search_text("class inheritance and methods", 5)}
    (corpus / "notes.md").write_text("# Walrus\n\nThe walrus operator := names a value in a comprehension.\n")
    changed = store.ingest(corpus)
    assert (changed.updated, changed.chunks_added, changed.chunks_removed) == (1, 1, 1)
    assert {hit.chunk_id for hit in store.search_text("class inheritance and methods", 5)} == kept
    assert "comprehension" in store.search_text("walrus operator", 1)[0].text

    (corpus / "notes.md").unlink()
    removed = store.ingest(corpus)
    assert (removed.removed, removed.chunks_removed) == (1, 1)
    assert all(not hit.path.endswith("notes.md") for hit in store.search_text("walrus operator", 5))


def test_a_lost_or_damaged_index_is_rebuilt_from_sqlite(ingested_data: Path, embedder, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ingested_data, data)
    expected = [hit.chunk_id for hit in _store(data, embedder).search_text("for loops over a sequence", 4)]
    for index_file in data.glob("chunks-*.faiss"):
        index_file.unlink()  # as if killed between the SQLite commit and the index write
    assert [hit.chunk_id for hit in _store(data, embedder).search_text("for loops over a sequence", 4)] == expected
    [index_file] = data.glob("chunks-*.faiss")
    index_file.write_bytes(b"not an index")  # damaged on disk
    assert [hit.chunk_id for hit in _store(data, embedder).search_text("for loops over a sequence", 4)] == expected


def test_a_serving_process_sees_another_process_ingest(ingested_data: Path, embedder, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ingested_data, data)
    serving, ingesting = _store(data, embedder), _store(data, embedder)
    serving.search_text("warm", 1)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "zen.txt").write_text("Beautiful is better than ugly. Explicit is better than implicit.\n")
    ingesting.ingest(extra)
    assert serving.search_text("beautiful is better than ugly", 1)[0].path.endswith("zen.txt")


def test_large_indexes_are_ivf_and_still_find_their_vectors() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((3000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(100, 3100, dtype=np.int64)
    assert index_kind(build_index(ids, vectors, ivf_threshold=5000, nprobe=8)) == "flat"
    ivf = build_index(ids, vectors, ivf_threshold=1000, nprobe=8)
    assert index_kind(ivf) == "ivf"
    assert [nearest(ivf, vectors[i], 1)[0][0] for i in (0, 1234, 2999)] == [100, 1334, 3099]


def test_bf16_embeddings_agree_with_float32(torch_embedder) -> None:
    from shared.embeddings import SentenceEmbedder
    from shared.settings import EmbeddingPrecision

    texts = [
        "Lists are mutable sequences, typically used to store collections of homogeneous items.",
        "The with statement is used to wrap the execution of a block with methods defined by a context manager.",
        "def f(x):\n    return x * 2",
    ]
    fp32 = SentenceEmbedder(precision=EmbeddingPrecision.FP32).embed(texts)
    bf16 = SentenceEmbedder(precision=EmbeddingPrecision.BF16).embed(texts)
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert (fp32 * bf16).sum(axis=1).min() >= 0.999
