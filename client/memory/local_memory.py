"""The client's copy of its tenant's memory: notes in SQLite, their vectors in FAISS.

Applying a delta is atomic. The new index is written to its own file (temporary
name, fsync, rename) inside the SQLite transaction that moves the version, and the
transaction commits after it; older index files are deleted only then. A crash at
any point leaves the previous version whole, or the new one. On open, an index that
is missing, damaged or disagrees with SQLite is rebuilt from the vectors SQLite
keeps, without embedding anything again.

A delta may be applied to any state between its ``since`` and its ``version``, so a
replayed or overlapping delta is harmless: removals and additions both end where the
server was at ``version``.
"""

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from shared.durable_files import SQLiteFile
from shared.embeddings import EMBEDDING_DIM
from shared.errors import HybridRAGError
from shared.protocol import MemoryDelta, MemoryNote, NoteSource
from shared.vector_index import GenerationIndexFiles, build_index, index_kind, nearest

DATABASE_NAME = "memory.sqlite"
INDEX_PREFIX = "notes"
IVF_NPROBE = 16
_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    note_id TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    sources TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', '0');
INSERT OR IGNORE INTO meta VALUES ('version', '0');
"""


class MemoryGapError(HybridRAGError):
    """A delta that starts after the local version: applying it would lose the changes in between."""


class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class LocalNote:
    note_id: str
    version: int
    text: str
    sources: tuple[NoteSource, ...]
    score: float = 0.0  # cosine to the query, when it came from a search


@dataclass(frozen=True)
class AppliedDelta:
    """What one apply changed locally (notes already present or already gone are not counted)."""

    from_version: int
    to_version: int
    added: tuple[LocalNote, ...]
    removed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def memory_folder(data_dir: Path, cloud_url: str, token: str) -> Path:
    """One folder per cloud and token: logging in elsewhere never mixes two tenants' notes."""
    identity = hashlib.sha256(f"{cloud_url.rstrip('/')}\n{token}".encode()).hexdigest()[:16]
    return data_dir / "memory" / identity


class LocalMemory:
    def __init__(self, folder: Path, embedder: TextEmbedder, ivf_threshold: int) -> None:
        self.folder = folder
        self._embedder = embedder
        self._ivf_threshold = ivf_threshold
        self._db = SQLiteFile(folder / DATABASE_NAME, _SCHEMA)
        self._index_files = GenerationIndexFiles(folder, INDEX_PREFIX, IVF_NPROBE)
        self._write_lock = threading.Lock()  # one apply at a time; searches never wait for it
        self._index = self._open_index()

    # -- reading ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        with self._db.reading() as db:
            return _meta_int(db, "version")

    @property
    def note_count(self) -> int:
        with self._db.reading() as db:
            return db.execute("SELECT count(*) FROM notes").fetchone()[0]

    @property
    def index_kind(self) -> str:
        return index_kind(self._index)

    def notes(self) -> list[LocalNote]:
        """Every note, oldest version first."""
        with self._db.reading() as db:
            rows = db.execute("SELECT note_id, version, text, sources FROM notes ORDER BY version, note_id").fetchall()
        return [_note_from_row(row) for row in rows]

    def search(self, query: np.ndarray, k: int) -> list[LocalNote]:
        """The ``k`` notes nearest to ``query`` (a normalized vector), best first."""
        hits = nearest(self._index, query, k)  # the index in hand: an apply swaps in a new one whole
        if not hits:
            return []
        scores = dict(hits)
        marks = ",".join("?" * len(hits))
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT id, note_id, version, text, sources FROM notes WHERE id IN ({marks})", list(scores)
            ).fetchall()
        found = [_note_from_row(row, scores[row["id"]]) for row in rows]  # a note removed meanwhile is skipped
        return sorted(found, key=lambda note: -note.score)

    # -- writing ----------------------------------------------------------------------------

    def apply_delta(self, delta: MemoryDelta) -> AppliedDelta:
        """Bring the memory to ``delta.version``; atomic, and a no-op for a delta already applied."""
        with self._write_lock:
            current = self.version
            if delta.since > current:
                raise MemoryGapError(
                    f"A memory delta from version {delta.since} cannot apply to local version {current}: "
                    "sync again (it asks from the local version)."
                )
            if delta.version <= current:
                return AppliedDelta(current, current, (), ())
            return self._commit(delta.version, delta.added, delta.removed, replace_all=False)

    def replace_all(self, notes: Sequence[MemoryNote], version: int) -> AppliedDelta:
        """Make the memory exactly ``notes`` at ``version``: a full resync, in one step."""
        with self._write_lock:
            return self._commit(version, notes, (), replace_all=True)

    def close(self) -> None:
        self._db.close()

    # -- internals --------------------------------------------------------------------------

    def _commit(
        self, version: int, added: Sequence[MemoryNote], removed: Sequence[str], replace_all: bool
    ) -> AppliedDelta:
        with self._db.reading() as db:
            present = {row[0] for row in db.execute("SELECT note_id FROM notes")}
        wanted = {note.note_id for note in added}
        gone = sorted(present - wanted) if replace_all else sorted((set(removed) & present) - wanted)
        new = list({note.note_id: note for note in added if note.note_id not in present}.values())
        vectors = self._embedder.embed([note.text for note in new]) if new else np.zeros((0, EMBEDDING_DIM), np.float32)
        with self._db.transaction() as db:
            from_version = _meta_int(db, "version")
            gone_rows = _row_ids(db, gone)
            db.executemany("DELETE FROM notes WHERE note_id = ?", [(note_id,) for note_id in gone])
            new_rows = []
            for note, vector in zip(new, vectors, strict=True):
                cursor = db.execute(
                    "INSERT INTO notes (note_id, version, text, sources, embedding) VALUES (?, ?, ?, ?, ?)",
                    (note.note_id, note.version, note.text, _sources_json(note.sources), vector.tobytes()),
                )
                new_rows.append(cursor.lastrowid)
            db.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(version),))
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
            generation = _meta_int(db, "generation")
            index = self._next_index(db, gone_rows, np.array(new_rows, dtype=np.int64), vectors)
            self._index_files.save(index, generation)  # on disk before the version it belongs to commits
        self._index = index
        self._index_files.remove_all_but(generation)
        return AppliedDelta(from_version, version, tuple(_to_local(note) for note in new), tuple(gone))

    def _next_index(
        self, db: sqlite3.Connection, gone_rows: list[int], new_rows: np.ndarray, vectors: np.ndarray
    ) -> faiss.Index:
        """The current index with this change, as a new object (searches go on using the old one)."""
        count = db.execute("SELECT count(*) FROM notes").fetchone()[0]
        wants_ivf = count > self._ivf_threshold
        if wants_ivf != (index_kind(self._index) == "ivf"):
            return _build_from_rows(db, self._ivf_threshold)  # crossing the threshold: built afresh
        index = faiss.clone_index(self._index)
        if gone_rows:
            index.remove_ids(np.array(gone_rows, dtype=np.int64))
        if len(new_rows):
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), new_rows)
        return index

    def _open_index(self) -> faiss.Index:
        """The committed generation's index, rebuilt from SQLite if missing, damaged or out of step."""
        with self._db.transaction() as db:
            generation = _meta_int(db, "generation")
            count = db.execute("SELECT count(*) FROM notes").fetchone()[0]
            index = self._index_files.load(generation)
            if index is None or index.ntotal != count:
                index = _build_from_rows(db, self._ivf_threshold)
                self._index_files.save(index, generation)
        self._index_files.remove_all_but(generation)  # a crashed apply's uncommitted file
        return index


def _build_from_rows(db: sqlite3.Connection, ivf_threshold: int) -> faiss.Index:
    rows = db.execute("SELECT id, embedding FROM notes ORDER BY id").fetchall()
    ids = np.fromiter((row["id"] for row in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(row["embedding"] for row in rows), dtype=np.float32).reshape(-1, EMBEDDING_DIM)
    return build_index(ids, np.ascontiguousarray(vectors), ivf_threshold, IVF_NPROBE)


def _meta_int(db: sqlite3.Connection, key: str) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])


def _row_ids(db: sqlite3.Connection, note_ids: Sequence[str]) -> list[int]:
    rows = []
    for note_id in note_ids:
        row = db.execute("SELECT id FROM notes WHERE note_id = ?", (note_id,)).fetchone()
        if row is not None:
            rows.append(row[0])
    return rows


def _sources_json(sources: Sequence[NoteSource]) -> str:
    return json.dumps([source.model_dump() for source in sources])


def _note_from_row(row: sqlite3.Row, score: float = 0.0) -> LocalNote:
    sources = tuple(NoteSource(**source) for source in json.loads(row["sources"]))
    return LocalNote(row["note_id"], row["version"], row["text"], sources, score)


def _to_local(note: MemoryNote) -> LocalNote:
    return LocalNote(note.note_id, note.version, note.text, tuple(note.sources))
