"""The cloud's tables, in SQLite (the embedded default) or PostgreSQL (shared by many processes).

The memory log and the token store are written once, in SQL both databases accept:
``?`` placeholders (turned into ``%s`` for psycopg), rows read by column name, and a
schema written with ``{serial}``, ``{real}`` for the few types that differ. One
connection per store, shared by its threads under a lock, as SQLiteFile does.
Row locks (``{for_update}``) serialize writers of one tenant across processes in
PostgreSQL; SQLite serializes every writer with BEGIN IMMEDIATE.
"""

import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from shared.durable_files import SQLiteFile
from shared.errors import SettingsError
from shared.settings import CloudSettings

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_TYPES = {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL", "for_update": ""}
_POSTGRES_TYPES = {"serial": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION", "for_update": " FOR UPDATE"}


class Rows(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Session(Protocol):
    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Rows: ...


class Database(Protocol):
    """``transaction()``: all statements commit together or none does; ``reading()``: single reads."""

    for_update: str

    def transaction(self) -> Any: ...
    def reading(self) -> Any: ...
    def close(self) -> None: ...


class SQLiteDatabase:
    for_update = _SQLITE_TYPES["for_update"]

    def __init__(self, path: Path, schema: str) -> None:
        self._file = SQLiteFile(path, schema.format(**_SQLITE_TYPES))
        self.transaction = self._file.transaction
        self.reading = self._file.reading

    def close(self) -> None:
        self._file.close()


class _PostgresSession:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Rows:
        return self._connection.execute(sql.replace("?", "%s"), tuple(parameters))


class PostgresDatabase:
    """psycopg 3, autocommit outside explicit transactions; reconnects after a dropped connection."""

    for_update = _POSTGRES_TYPES["for_update"]

    def __init__(self, url: str, schema: str) -> None:
        self._url = url
        self._lock = threading.RLock()
        self._connection: Any = None
        with self.transaction() as db:
            # Two processes starting together must not both create the tables.
            db.execute("SELECT pg_advisory_xact_lock(?)", (zlib.crc32(schema.encode()),))
            for statement in schema.format(**_POSTGRES_TYPES).split(";"):
                if statement.strip():
                    db.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._lock:
            connection = self._connected()
            with connection.transaction():
                yield _PostgresSession(connection)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._lock:
            yield _PostgresSession(self._connected())

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()

    def _connected(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        if self._connection is None or self._connection.closed or self._connection.broken:
            try:
                self._connection = psycopg.connect(self._url, autocommit=True, row_factory=dict_row)
            except psycopg.OperationalError as exc:
                raise SettingsError(
                    f"Cannot connect to PostgreSQL at {redacted_url(self._url)}: {str(exc).strip()}. "
                    "Check cloud.database_url and that the server is running."
                ) from None
        return self._connection


def open_database(settings: CloudSettings, sqlite_name: str, schema: str) -> Database:
    """PostgreSQL when ``cloud.database_url`` names one, else a SQLite file in ``cloud.data_dir``."""
    url = settings.database_url
    if url:
        if not url.startswith(POSTGRES_SCHEMES):
            raise SettingsError(
                f"cloud.database_url {redacted_url(url)!r} is not a PostgreSQL URL: use "
                "postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE, or leave it empty for SQLite in cloud.data_dir."
            )
        return PostgresDatabase(url, schema)
    return SQLiteDatabase(settings.data_dir / sqlite_name, schema)


def redacted_url(url: str) -> str:
    """A service URL fit to print: the password (and anything else before the user) dropped."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':')[0]}{at}{host}" if at else url
