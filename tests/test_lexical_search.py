"""Lexical search beside the dense one: FTS5 in the datastore's SQLite, fused by reciprocal rank."""

import shutil
import sqlite3
from pathlib import Path

from cloud.datastore import Datastore
from cloud.datastore.datastore import DATABASE_NAME
from cloud.datastore.lexical import fts_query, fuse_rankings
from shared.settings import CloudSettings, RetrievalMode

RARE_NAME = "PyZebra_FrobnicateKeys"


def _store(folder: Path, embedder, retrieval: RetrievalMode = RetrievalMode.HYBRID) -> Datastore:
    return Datastore(folder, CloudSettings(data_dir=folder, retrieval=retrieval), embedder)


def _corpus_with_a_rare_name(cloud_corpus: Path, folder: Path) -> Path:
    shutil.copytree(cloud_corpus, folder)
    (folder / "zebra.md").write_text(
        f"# Keys\n\nCall {RARE_NAME}() to reorder the keys of a mapping before it is written out.\n"
    )
    return folder


def test_the_query_keeps_distinctive_words_latest_first_and_cannot_inject_syntax() -> None:
    assert fts_query('the walrus operator: NEAR("x") OR AND *') == '"near" OR "operator" OR "walrus"'
    assert fts_query("the and of a") is None
    assert fts_query(f"use {RARE_NAME}") == f'"{RARE_NAME.lower()}" OR "use"'


def test_fusion_favours_what_both_rankings_place_high() -> None:
    fused = fuse_rankings([[1, 2, 3], [3, 1, 4]], 3)
    assert [item for item, _ in fused] == [1, 3, 2]
    assert fused[0][1] > fused[1][1] > fused[2][1]


def test_an_exact_name_is_found_by_bm25_and_hybrid_search(cloud_corpus: Path, embedder, tmp_path: Path) -> None:
    store = _store(tmp_path / "data", embedder)
    store.ingest(_corpus_with_a_rare_name(cloud_corpus, tmp_path / "corpus"))
    [lexical] = store.lexical_search(f"then I call {RARE_NAME} on the dictionary", 1)
    assert RARE_NAME in lexical.text
    assert any(RARE_NAME in hit.text for hit in store.search_text(f"then I call {RARE_NAME} on it", 2))


def test_the_lexical_index_follows_every_change_of_the_chunks(cloud_corpus: Path, embedder, tmp_path: Path) -> None:
    corpus = _corpus_with_a_rare_name(cloud_corpus, tmp_path / "corpus")
    store = _store(tmp_path / "data", embedder)
    store.ingest(corpus)
    (corpus / "zebra.md").write_text("# Keys\n\nKeys are reordered by sorted() before writing.\n")
    store.ingest(corpus)
    assert store.lexical_search(RARE_NAME, 5) == []
    assert any("sorted()" in hit.text for hit in store.lexical_search("reordered keys sorted", 3))
    (corpus / "zebra.md").unlink()
    store.ingest(corpus)
    assert store.lexical_search("reordered", 5) == []


def test_a_datastore_from_before_lexical_search_is_indexed_once_on_open(
    cloud_corpus: Path, embedder, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    store = _store(data, embedder, RetrievalMode.DENSE)
    store.ingest(_corpus_with_a_rare_name(cloud_corpus, tmp_path / "corpus"))
    store.close()
    with sqlite3.connect(data / DATABASE_NAME) as db:  # as the datastore was before FTS5
        db.executescript(
            "DROP TRIGGER chunks_fts_insert; DROP TRIGGER chunks_fts_delete; DROP TABLE chunks_fts;"
            "DELETE FROM meta WHERE key = 'fts_built';"
        )
    reopened = _store(data, embedder)
    assert RARE_NAME in reopened.lexical_search(RARE_NAME, 1)[0].text
