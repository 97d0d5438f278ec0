"""The cloud's datastore: corpus chunks in SQLite, their vectors in a FAISS index, their words in FTS5.

SQLite is the truth (chunk text, offsets, vectors); the index is derived from it and
named by the SQLite generation it reflects, so a crash between the two is seen on the
next open (no index for the current generation) and repaired by a rebuild. A process
that serves searches picks up another process's ingest the same way. The FTS5 index
lives in SQLite itself (lexical.py), so it commits with the chunks.
"""

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from cloud.datastore.chunking import Chunk, chunk_document
from cloud.datastore.documents import Document, Skipped, read_document
from cloud.datastore.lexical import FTS_BUILT_KEY, FTS_SCHEMA, fts_query, fuse_rankings
from shared.durable_files import SQLiteFile
from shared.embeddings import EMBEDDING_DIM, MAX_SEQUENCE_TOKENS, TextEmbedder, WordPieceCounter, embedder_identity
from shared.errors import InputError
from shared.settings import CloudSettings, RetrievalMode
from shared.vector_index import GenerationIndexFiles, build_index, index_kind, nearest

DATABASE_NAME = "datastore.sqlite"
EMBEDDER_KEY = "embedder"  # meta row: the identity of the embedder the chunks' vectors came from
LEGACY_EMBEDDER = embedder_identity(int8=False, max_tokens=MAX_SEQUENCE_TOKENS)  # datastores made before the row
BATCHES_PER_COMMIT = 4  # embedding batches per SQLite commit: files in a group commit together
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks(file_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', '0');
"""


class IngestProgress(Protocol):
    def phase(self, description: str, total: int) -> None: ...
    def advance(self, done: int) -> None: ...


@dataclass
class IngestReport:
    files_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0
    index_kind: str = "flat"
    seconds: float = 0.0


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: int
    path: str
    start: int
    end: int
    text: str
    score: float


class Datastore:
    def __init__(self, folder: Path, settings: CloudSettings, embedder: TextEmbedder) -> None:
        self.folder = folder
        self._settings = settings
        self._embedder = embedder
        self._batch_size = settings.embed_batch_size or embedder.batch_size
        self._db = SQLiteFile(folder / DATABASE_NAME, _SCHEMA + FTS_SCHEMA)
        self._index_chunks_made_before_fts()
        self._embed_again_if_the_embedder_changed()
        self._index: faiss.Index | None = None
        self._index_generation = -1
        self._index_lock = threading.Lock()
        self._index_files = GenerationIndexFiles(folder, "chunks", settings.ivf_nprobe)

    # -- ingest ---------------------------------------------------------------------------

    def ingest(self, corpus_dir: Path, progress: IngestProgress | None = None) -> IngestReport:
        """Bring the chunks of every file under ``corpus_dir`` up to date; only changed files are embedded."""
        began = time.perf_counter()
        if not corpus_dir.is_dir():
            raise InputError(f"Not a folder: {corpus_dir}. Give the folder of documents to ingest.")
        corpus_dir = corpus_dir.resolve()
        root = self._settings.corpus_root
        if root is not None and not corpus_dir.is_relative_to(root.resolve()):
            raise InputError(
                f"{corpus_dir} is outside the corpus root {root} (cloud.corpus_root): "
                "ingest only folders inside it, or change the setting."
            )
        report = IngestReport()
        known = self._known_files(corpus_dir)
        paths = sorted(p for p in corpus_dir.rglob("*") if p.is_file())
        report.files_seen = len(paths)
        if progress:
            progress.phase("reading", len(paths))
        changed: list[Path] = []
        present: set[str] = set()
        for path in paths:
            result = (
                read_document(path, self._settings.max_file_bytes)
                if path.resolve().is_relative_to(corpus_dir)
                else Skipped(path, "a link to a file outside the corpus folder")
            )
            if progress:
                progress.advance(1)
            if isinstance(result, Skipped):
                report.skipped.append(result)
                continue
            present.add(str(path))
            if known.get(str(path)) == result.sha256:
                report.unchanged += 1
            else:
                changed.append(path)  # its text is read again when its turn comes: memory stays bounded
                report.updated += str(path) in known
                report.added += str(path) not in known
        gone = [path for path in known if path not in present]
        if gone:
            report.removed = len(gone)
            report.chunks_removed += self._remove_files(gone)
        self._ingest_files(changed, report, progress)
        report.chunks_total = self.chunk_count()
        report.index_kind = index_kind(self._load_current_index())
        report.seconds = time.perf_counter() - began
        return report

    def _known_files(self, corpus_dir: Path) -> dict[str, str]:
        prefix = str(corpus_dir).rstrip("/") + "/"
        with self._db.reading() as db:
            rows = db.execute("SELECT path, sha256 FROM files WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))
            return {row["path"]: row["sha256"] for row in rows}

    def _ingest_files(self, paths: list[Path], report: IngestReport, progress: IngestProgress | None) -> None:
        """Chunk, embed and commit files a group at a time; each group commits whole."""
        counter = WordPieceCounter()
        if progress:
            progress.phase("embedding", len(paths))
        group: list[tuple[Document, list[Chunk]]] = []
        for path in paths:
            document = read_document(path, self._settings.max_file_bytes)
            if isinstance(document, Skipped):  # changed since it was first read
                report.skipped.append(document)
                continue
            chunks = chunk_document(
                document, counter.count_many, self._settings.chunk_min_tokens, self._settings.chunk_max_tokens
            )
            group.append((document, chunks))
            if sum(len(c) for _, c in group) >= self._batch_size * BATCHES_PER_COMMIT:
                self._embed_and_commit(group, report, progress)
                group = []
        if group:
            self._embed_and_commit(group, report, progress)

    def _embed_and_commit(
        self, group: list[tuple[Document, list[Chunk]]], report: IngestReport, progress: IngestProgress | None
    ) -> None:
        texts = [chunk.text for _, chunks in group for chunk in chunks]
        self._replace_files(group, self._embedder.embed(texts, self._batch_size), report)
        if progress:
            progress.advance(len(group))

    def _replace_files(
        self, group: list[tuple[Document, list[Chunk]]], vectors: np.ndarray, report: IngestReport
    ) -> None:
        row = 0
        with self._db.transaction() as db:
            for document, chunks in group:
                path = str(document.path)
                old = db.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
                if old:
                    report.chunks_removed += db.execute("DELETE FROM chunks WHERE file_id = ?", (old["id"],)).rowcount
                    db.execute("UPDATE files SET sha256 = ? WHERE id = ?", (document.sha256, old["id"]))
                    file_id = old["id"]
                else:
                    file_id = db.execute(
                        "INSERT INTO files (path, sha256) VALUES (?, ?)", (path, document.sha256)
                    ).lastrowid
                db.executemany(
                    'INSERT INTO chunks (file_id, start, "end", tokens, text, embedding) VALUES (?, ?, ?, ?, ?, ?)',
                    [
                        (file_id, c.start, c.end, c.tokens, c.text, vectors[row + i].tobytes())
                        for i, c in enumerate(chunks)
                    ],
                )
                row += len(chunks)
                report.chunks_added += len(chunks)
            _bump_generation(db)

    def _remove_files(self, paths: list[str]) -> int:
        with self._db.transaction() as db:
            removed = 0
            for path in paths:
                removed += db.execute(
                    "DELETE FROM chunks WHERE file_id = (SELECT id FROM files WHERE path = ?)", (path,)
                ).rowcount
                db.execute("DELETE FROM files WHERE path = ?", (path,))
            _bump_generation(db)
        return removed

    def _index_chunks_made_before_fts(self) -> None:
        """A datastore from before lexical search gets its FTS index once (the triggers keep it after)."""
        with self._db.transaction() as db:
            if db.execute("SELECT 1 FROM meta WHERE key = ?", (FTS_BUILT_KEY,)).fetchone() is None:
                db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
                db.execute("INSERT INTO meta VALUES (?, '1')", (FTS_BUILT_KEY,))

    def _embed_again_if_the_embedder_changed(self) -> None:
        """Vectors from another embedder do not compare with this one's: every file is embedded on the next ingest.

        Until then searches still run, on the old vectors (close enough to find something).
        """
        with self._db.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (EMBEDDER_KEY,)).fetchone()
            has_chunks = db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is not None
            recorded = row["value"] if row else (LEGACY_EMBEDDER if has_chunks else None)
            if recorded == self._embedder.identity:
                return
            if recorded is not None:
                db.execute("UPDATE files SET sha256 = ''")  # no file matches '': each is embedded again
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (EMBEDDER_KEY, self._embedder.identity))

    # -- search ---------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int) -> list[RetrievedChunk]:
        """The ``k`` chunks nearest to a query vector, best first."""
        return self._chunks(nearest(self._load_current_index(), query, k))

    def lexical_search(self, text: str, k: int) -> list[RetrievedChunk]:
        """The ``k`` chunks that BM25 ranks best for the distinctive words of ``text``."""
        return self._chunks(self._lexical_hits(text, k))

    def search_text(self, text: str, k: int) -> list[RetrievedChunk]:
        """The ``k`` chunks for ``text``: by embedding, or embedding and BM25 fused (``cloud.retrieval``)."""
        dense = nearest(self._load_current_index(), self._embedder.embed_one(text), k)
        if self._settings.retrieval is RetrievalMode.DENSE:
            return self._chunks(dense)
        lexical = self._lexical_hits(text, k)
        return self._chunks(fuse_rankings([[i for i, _ in dense], [i for i, _ in lexical]], k))

    def _lexical_hits(self, text: str, k: int) -> list[tuple[int, float]]:
        query = fts_query(text)
        if query is None:
            return []
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
                (query, k),
            ).fetchall()
        return [(row[0], -row[1]) for row in rows]  # bm25() is lower for better matches

    def _chunks(self, hits: list[tuple[int, float]]) -> list[RetrievedChunk]:
        """The chunks of ``hits`` (id, score), in their order."""
        if not hits:
            return []
        with self._db.reading() as db:
            rows = db.execute(
                f'SELECT chunks.id, path, start, "end", text FROM chunks JOIN files ON files.id = file_id '
                f"WHERE chunks.id IN ({','.join('?' * len(hits))})",
                [chunk_id for chunk_id, _ in hits],
            )
            by_id = {row["id"]: row for row in rows}
        return [  # an id gone from SQLite (another process's ingest in flight) is left out
            RetrievedChunk(
                chunk_id,
                by_id[chunk_id]["path"],
                by_id[chunk_id]["start"],
                by_id[chunk_id]["end"],
                by_id[chunk_id]["text"],
                score,
            )
            for chunk_id, score in hits
            if chunk_id in by_id
        ]

    def chunk_count(self) -> int:
        with self._db.reading() as db:
            return db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def index_path(self, generation: int) -> Path:
        return self._index_files.path(generation)

    def _generation(self) -> int:
        with self._db.reading() as db:
            return int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def _load_current_index(self) -> faiss.Index:
        """The index for SQLite's current generation: loaded, or rebuilt and written when missing."""
        with self._index_lock:
            return self._current_index_locked()

    def _current_index_locked(self) -> faiss.Index:
        generation = self._generation()
        if self._index is not None and generation == self._index_generation:
            return self._index
        index = self._index_files.load(generation)
        if index is None:
            generation, index = self._build_index_from_database()
            self._index_files.save(index, generation)
            self._index_files.remove_all_but(generation)
        self._index, self._index_generation = index, generation
        return index

    def _build_index_from_database(self) -> tuple[int, faiss.Index]:
        """An index of every chunk, and the generation it reflects (read together, so they agree)."""
        with self._db.transaction() as db:
            generation = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
            rows = db.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
        ids = np.fromiter((row["id"] for row in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(row["embedding"] for row in rows), dtype=np.float32).reshape(-1, EMBEDDING_DIM)
        index = build_index(ids, np.ascontiguousarray(vectors), self._settings.ivf_threshold, self._settings.ivf_nprobe)
        return generation, index

    def close(self) -> None:
        self._db.close()


def _bump_generation(db: sqlite3.Connection) -> None:
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
