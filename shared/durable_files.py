"""Files that survive a crash or a kill: SQLite in WAL mode, and whole-file replacement.

A file written through ``replace_atomically`` is either the old one or the complete
new one, never half of each: it is written to a temporary name, fsynced, renamed over
the old, and the folder is fsynced so the rename itself is durable.
"""

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SQLITE_BUSY_TIMEOUT_MS = 10_000


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(temporary_path)``, then make that file ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        write(partial)
        with partial.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)
        fsync_folder(path.parent)
    finally:
        partial.unlink(missing_ok=True)


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class SQLiteFile:
    """One SQLite connection shared by threads under a lock; WAL, full sync, foreign keys."""

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            self._connection.execute(f"PRAGMA {pragma}")
        with self._lock:
            self._connection.executescript(schema)  # idempotent: CREATE ... IF NOT EXISTS

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together, or none does (an exception rolls back)."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connection

    def close(self) -> None:
        with self._lock:
            self._connection.close()
