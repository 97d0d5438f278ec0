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
INSERT OR IGNORE INTO meta VALUES ('epoch', '');
"""


class MemoryGapError(HybridRAGError):
    """A delta that starts after the local version: applying it would lose the changes in between."""


class EpochChanged(HybridRAGError):
    """A delta from a memory log other than the one the local memory came from (the cloud was reset)."""


class OverlappingDeltaError(HybridRAGError):
    """A delta that starts before the local version and ends after it (another process applied part of it).

    Its removals cannot be trusted: a note added in the part already applied and removed
    in the rest is in neither list. Fetch again from the local version.
    """


class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class LocalNote:
    note_id: str
    version: int
    text: str
    sources: tuple[NoteSource, ...]
    score: float = 0.0  # cosine to the query, when it came from a search
    arrival: int = 0  # local insertion order: within a version, the order the writer gave the notes


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
        self._write_lock = threading.RLock()  # one apply at a time in this process
        self._index: faiss.Index | None = None
        self._index_generation = -1
        with self._db.transaction() as db:  # the writers' lock: no apply is writing a file now
            self._index_at(db, _meta_int(db, "generation"))  # rebuilt if missing, damaged or out of step
            self._index_files.remove_all_but(self._index_generation)  # a crashed apply's uncommitted file

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
        return index_kind(self._current_index())

    def notes(self) -> list[LocalNote]:
        """Every note, oldest version first."""
        with self._db.reading() as db:
            rows = db.execute("SELECT id, note_id, version, text, sources FROM notes ORDER BY version, id").fetchall()
        return [_note_from_row(row) for row in rows]

    def index_size(self) -> int:
        """Vectors in the FAISS index in use (equals note_count unless something is badly wrong)."""
        return int(self._current_index().ntotal)

    def search(self, query: np.ndarray, k: int) -> list[LocalNote]:
        """The ``k`` notes nearest to ``query`` (a normalized vector), best first."""
        hits = nearest(self._current_index(), query, k)
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
        return self._commit(delta.version, delta.added, delta.removed, since=delta.since, epoch=delta.epoch)

    def replace_all(self, notes: Sequence[MemoryNote], version: int, epoch: str | None = None) -> AppliedDelta:
        """Make the memory exactly ``notes`` at ``version`` (of the log ``epoch``): a full resync, in one step."""
        return self._commit(version, notes, (), since=None, epoch=epoch)

    @property
    def epoch(self) -> str:
        """The epoch of the cloud log this memory came from ('' before the first sync that gave one)."""
        with self._db.reading() as db:
            return str(db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    # -- internals --------------------------------------------------------------------------

    def _commit(
        self, version: int, added: Sequence[MemoryNote], removed: Sequence[str], since: int | None, epoch: str | None
    ) -> AppliedDelta:
        """Apply a change; ``since`` None replaces everything.

        Every decision is taken inside the SQLite transaction, so two processes syncing
        the same memory (the TUI's loop and a `hybridrag sync`) cannot both apply one
        delta. The slow part, embedding, runs before it, for the notes that look new.
        """
        with self._write_lock:
            with self._db.reading() as db:
                present = {row[0] for row in db.execute("SELECT note_id FROM notes")}
            vectors = self._embed_new(added, present)
            with self._db.transaction() as db:
                from_version = _meta_int(db, "version")
                local_epoch = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
                if since is not None and epoch and local_epoch and epoch != local_epoch:
                    raise EpochChanged(
                        f"The cloud's memory log was reset (epoch {epoch[:8]}, local memory from {local_epoch[:8]}): "
                        "resync from version 0."
                    )
                if epoch:
                    db.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (epoch,))
                if since is not None and since > from_version:
                    raise MemoryGapError(
                        f"A memory delta from version {since} cannot apply to local version {from_version}: "
                        "sync again (it asks from the local version)."
                    )
                if since is not None and version <= from_version:
                    return AppliedDelta(from_version, from_version, (), ())  # applied already, here or elsewhere
                if since is not None and since < from_version:
                    raise OverlappingDeltaError(
                        f"A memory delta from version {since} to {version} overlaps local version {from_version} "
                        "(another process applied part of it): fetch again from the local version."
                    )
                base = self._index_at(db, _meta_int(db, "generation"))  # another process may have moved it
                present = {row[0] for row in db.execute("SELECT note_id FROM notes")}
                wanted = {note.note_id for note in added}
                gone = sorted(present - wanted) if since is None else sorted((set(removed) & present) - wanted)
                new = list({note.note_id: note for note in added if note.note_id not in present}.values())
                vectors |= self._embed_new(new, set(vectors))  # notes another process removed meanwhile: rare
                gone_rows = _row_ids(db, gone)
                db.executemany("DELETE FROM notes WHERE note_id = ?", [(note_id,) for note_id in gone])
                new_rows = [
                    db.execute(
                        "INSERT INTO notes (note_id, version, text, sources, embedding) VALUES (?, ?, ?, ?, ?)",
                        (
                            note.note_id,
                            note.version,
                            note.text,
                            _sources_json(note.sources),
                            vectors[note.note_id].tobytes(),
                        ),
                    ).lastrowid
                    for note in new
                ]
                db.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(version),))
                db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
                generation = _meta_int(db, "generation")
                new_vectors = np.array([vectors[note.note_id] for note in new], np.float32).reshape(-1, EMBEDDING_DIM)
                index = self._next_index(db, base, gone_rows, np.array(new_rows, dtype=np.int64), new_vectors)
                self._index_files.save(index, generation)  # on disk before the version it belongs to commits
            self._index, self._index_generation = index, generation
            self._index_files.remove_older_than(generation)
            return AppliedDelta(from_version, version, tuple(_to_local(note) for note in new), tuple(gone))

    def _embed_new(self, notes: Sequence[MemoryNote], known: set[str]) -> dict[str, np.ndarray]:
        texts = {note.note_id: note.text for note in notes if note.note_id not in known}
        if not texts:
            return {}
        return dict(zip(texts, self._embedder.embed(list(texts.values())), strict=True))

    def _next_index(
        self, db: sqlite3.Connection, base: faiss.Index, gone_rows: list[int], new_rows: np.ndarray, vectors: np.ndarray
    ) -> faiss.Index:
        """``base`` with this change, as a new object (searches go on using ``base`` meanwhile)."""
        count = db.execute("SELECT count(*) FROM notes").fetchone()[0]
        if (count > self._ivf_threshold) != (index_kind(base) == "ivf"):
            return _build_from_rows(db, self._ivf_threshold)  # crossing the threshold: built afresh
        index = faiss.clone_index(base)
        if gone_rows:
            index.remove_ids(np.array(gone_rows, dtype=np.int64))  # type: ignore[arg-type]  # the stubs miss numpy ids
        if len(new_rows):
            index.add_with_ids(vectors, new_rows)
        return index

    def _current_index(self) -> faiss.Index:
        """The committed generation's index: another process may have applied a delta since."""
        with self._db.reading() as db:
            generation = _meta_int(db, "generation")
        if generation == self._index_generation and self._index is not None:
            return self._index
        with self._write_lock, self._db.transaction() as db:
            return self._index_at(db, _meta_int(db, "generation"))

    def _index_at(self, db: sqlite3.Connection, generation: int) -> faiss.Index:
        """The index of SQLite's ``generation``, in the caller's transaction: in memory, from its file, or rebuilt."""
        if generation == self._index_generation and self._index is not None:
            return self._index
        index = self._index_files.load(generation)
        if index is None or index.ntotal != db.execute("SELECT count(*) FROM notes").fetchone()[0]:
            index = _build_from_rows(db, self._ivf_threshold)
            self._index_files.save(index, generation)
        self._index, self._index_generation = index, generation
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
    return LocalNote(row["note_id"], row["version"], row["text"], sources, score, arrival=row["id"])


def _to_local(note: MemoryNote) -> LocalNote:
    return LocalNote(note.note_id, note.version, note.text, tuple(note.sources))
