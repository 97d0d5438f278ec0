"""Each tenant's memory: versioned notes, and the memory requests that wrote them.

SQLite in WAL mode by default, or PostgreSQL shared by many API and worker processes
(cloud/database.py). A tenant's version goes up by one with every change
(notes added or evicted) and never otherwise. A note row remembers the version that
added it and the version that removed it, so the delta since any version is two
queries. Notes and the request that wrote them commit in one transaction: a request
is either done with its notes in the log, or not done and will be run again.
"""

import hashlib
import json
import time
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cloud.database import Database, Session, open_database
from shared.protocol import (
    NOTE_ID_HEX_CHARS,
    MemoryDelta,
    MemoryNote,
    MemoryRequest,
    NoteSource,
    RequestState,
    RequestStatus,
)
from shared.settings import CloudSettings

DATABASE_NAME = "memory.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS notes (
    seq {serial},
    tenant TEXT NOT NULL,
    note_id TEXT NOT NULL,
    text TEXT NOT NULL,
    sources TEXT NOT NULL,
    added_version INTEGER NOT NULL,
    removed_version INTEGER,
    UNIQUE (tenant, note_id)
);
CREATE INDEX IF NOT EXISTS notes_added ON notes(tenant, added_version);
CREATE INDEX IF NOT EXISTS notes_removed ON notes(tenant, removed_version);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    context TEXT NOT NULL,
    query TEXT,
    state TEXT NOT NULL,
    created_at {real} NOT NULL,
    finished_at {real},
    attempts INTEGER NOT NULL DEFAULT 0,
    version INTEGER,
    notes_added INTEGER NOT NULL DEFAULT 0,
    superseded_by TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS requests_unfinished ON requests(state, created_at);
CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_UNFINISHED = (RequestState.QUEUED, RequestState.RUNNING)


@dataclass(frozen=True)
class NewNote:
    """A note as a writer produced it, before it has an id and a version."""

    text: str
    sources: tuple[NoteSource, ...]

    @property
    def note_id(self) -> str:
        return note_id(self.text, [source.chunk_id for source in self.sources])


def note_id(text: str, chunk_ids: Sequence[int]) -> str:
    """A note's identity: its normalized text and its sources. A retry that writes the same note gets the same id."""
    normalized = " ".join(unicodedata.normalize("NFKC", text).casefold().split()).rstrip(".!? ")
    key = normalized + "\x1f" + ",".join(str(i) for i in sorted(set(chunk_ids)))
    return hashlib.sha256(key.encode()).hexdigest()[:NOTE_ID_HEX_CHARS]


class MemoryLog:
    def __init__(self, db: Database, tenant_note_cap: int) -> None:
        self._db = db
        self._cap = tenant_note_cap
        self.epoch = self._epoch()

    @classmethod
    def open(cls, settings: CloudSettings) -> "MemoryLog":
        return cls(open_database(settings, DATABASE_NAME, _SCHEMA), settings.tenant_note_cap)

    def _epoch(self) -> str:
        """This log's epoch, made once when it is first opened (several processes may race to make it)."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO log_meta (key, value) VALUES ('epoch', ?) ON CONFLICT (key) DO NOTHING",
                (uuid.uuid4().hex,),
            )
            return str(db.execute("SELECT value FROM log_meta WHERE key = 'epoch'").fetchone()["value"])

    # -- notes ----------------------------------------------------------------------------

    def version(self, tenant: str) -> int:
        with self._db.reading() as db:
            return self._version_in(db, tenant)

    def delta(self, tenant: str, since: int, max_notes: int) -> MemoryDelta:
        """Notes added and removed after ``since``; at most about ``max_notes`` added, whole versions only."""
        with self._db.reading() as db:
            latest = self._version_in(db, tenant)
            upto = self._page_end(db, tenant, since, latest, max_notes)
            added = db.execute(
                "SELECT note_id, text, sources, added_version FROM notes WHERE tenant = ? "
                "AND added_version > ? AND added_version <= ? AND (removed_version IS NULL OR removed_version > ?) "
                "ORDER BY seq",
                (tenant, since, upto, upto),
            ).fetchall()
            removed = db.execute(
                "SELECT note_id FROM notes WHERE tenant = ? AND removed_version > ? AND removed_version <= ? "
                "AND added_version <= ? ORDER BY seq",
                (tenant, since, upto, since),
            ).fetchall()
        return MemoryDelta(
            since=since,
            version=upto,
            latest_version=latest,
            added=[
                MemoryNote(
                    note_id=row["note_id"],
                    version=row["added_version"],
                    text=row["text"],
                    sources=[NoteSource(**source) for source in json.loads(row["sources"])],
                )
                for row in added
            ],
            removed=[row["note_id"] for row in removed],
            has_more=upto < latest,
            epoch=self.epoch,
        )

    @staticmethod
    def _page_end(db: Session, tenant: str, since: int, latest: int, max_notes: int) -> int:
        """The last version of the page that starts after ``since``: whole versions, at least one."""
        counts = db.execute(
            "SELECT added_version, count(*) AS n FROM notes WHERE tenant = ? AND added_version > ? "
            "GROUP BY added_version ORDER BY added_version",
            (tenant, since),
        ).fetchall()
        total = 0
        for row in counts:
            total += row["n"]
            if total > max_notes:
                return max(row["added_version"] - 1, since + 1)
        return latest

    def live_notes(self, tenant: str) -> list[MemoryNote]:
        return self.delta(tenant, 0, max_notes=1 << 62).added

    def live_note_count(self) -> int:
        with self._db.reading() as db:
            return db.execute("SELECT count(*) AS n FROM notes WHERE removed_version IS NULL").fetchone()["n"]

    def tenant_count(self) -> int:
        with self._db.reading() as db:
            return db.execute("SELECT count(*) AS n FROM tenants").fetchone()["n"]

    def commit_request(self, request_id: str, tenant: str, notes: Sequence[NewNote]) -> RequestStatus:
        """Append the notes a request wrote and mark it done, in one transaction.

        Notes already live are skipped (a retried request adds nothing twice); past the
        tenant's cap the oldest notes are evicted, recorded as removals. The version
        moves only if something changed.
        """
        with self._db.transaction() as db:
            # The tenant's row, locked: API and worker processes commit one tenant's versions in turn.
            db.execute("INSERT INTO tenants (name, version) VALUES (?, 0) ON CONFLICT (name) DO NOTHING", (tenant,))
            version = db.execute(
                f"SELECT version FROM tenants WHERE name = ?{self._db.for_update}", (tenant,)
            ).fetchone()["version"]
            new_version = version + 1
            added = 0
            for note in notes:
                live = db.execute(
                    "SELECT 1 FROM notes WHERE tenant = ? AND note_id = ? AND removed_version IS NULL",
                    (tenant, note.note_id),
                ).fetchone()
                if live:
                    continue
                db.execute("DELETE FROM notes WHERE tenant = ? AND note_id = ?", (tenant, note.note_id))
                db.execute(
                    "INSERT INTO notes (tenant, note_id, text, sources, added_version) VALUES (?, ?, ?, ?, ?)",
                    (tenant, note.note_id, note.text, json.dumps([s.model_dump() for s in note.sources]), new_version),
                )
                added += 1
            evicted = db.execute(  # every live note older than the cap's newest ones
                "UPDATE notes SET removed_version = ? WHERE tenant = ? AND removed_version IS NULL AND seq <= "
                "(SELECT seq FROM notes WHERE tenant = ? AND removed_version IS NULL "
                "ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (new_version, tenant, tenant, self._cap),
            ).rowcount
            if added or evicted:
                db.execute("UPDATE tenants SET version = ? WHERE name = ?", (new_version, tenant))
                version = new_version
            db.execute(
                "UPDATE requests SET state = ?, finished_at = ?, version = ?, notes_added = ?, error = NULL "
                "WHERE request_id = ?",
                (RequestState.DONE, time.time(), version, added, request_id),
            )
            return self._status_in(db, request_id)

    @staticmethod
    def _version_in(db: Session, tenant: str) -> int:
        row = db.execute("SELECT version FROM tenants WHERE name = ?", (tenant,)).fetchone()
        return row["version"] if row else 0

    # -- requests -------------------------------------------------------------------------

    def create_request(self, tenant: str, request: MemoryRequest) -> RequestStatus:
        request_id = uuid.uuid4().hex
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO requests (request_id, tenant, context, query, state, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (request_id, tenant, request.context, request.query, RequestState.QUEUED, time.time()),
            )
            return self._status_in(db, request_id)

    def request(self, request_id: str) -> tuple[str, MemoryRequest]:
        """The tenant and body of a stored request."""
        with self._db.reading() as db:
            row = db.execute(
                "SELECT tenant, context, query FROM requests WHERE request_id = ?", (request_id,)
            ).fetchone()
        return row["tenant"], MemoryRequest(context=row["context"], query=row["query"])

    def status(self, tenant: str, request_id: str) -> RequestStatus | None:
        """A request's status, or None when it does not exist for this tenant."""
        with self._db.reading() as db:
            row = db.execute("SELECT tenant FROM requests WHERE request_id = ?", (request_id,)).fetchone()
            if row is None or row["tenant"] != tenant:
                return None
            return self._status_in(db, request_id)

    def request_status(self, request_id: str) -> RequestStatus:
        """The status of a request known to exist (the worker's view, any tenant)."""
        with self._db.reading() as db:
            return self._status_in(db, request_id)

    def claim(self, request_id: str) -> bool:
        """Mark a queued (or interrupted) request running, one attempt more; False if it is finished or superseded."""
        with self._db.transaction() as db:
            return (
                db.execute(
                    "UPDATE requests SET state = ?, attempts = attempts + 1 WHERE request_id = ? AND state IN (?, ?)",
                    (RequestState.RUNNING, request_id, *_UNFINISHED),
                ).rowcount
                == 1
            )

    def supersede_queued(self, tenant: str, by: str) -> int:
        """Every other request of ``tenant`` still queued is superseded by ``by`` (the latest context wins)."""
        with self._db.transaction() as db:
            return db.execute(
                "UPDATE requests SET state = ?, superseded_by = ?, finished_at = ? "
                "WHERE tenant = ? AND state = ? AND request_id <> ?",
                (RequestState.SUPERSEDED, by, time.time(), tenant, RequestState.QUEUED, by),
            ).rowcount

    def queued_tenants(self) -> int:
        """Tenants with a request waiting: the depth of a queue that keeps one per tenant."""
        with self._db.reading() as db:
            return db.execute(
                "SELECT count(DISTINCT tenant) AS n FROM requests WHERE state = ?", (RequestState.QUEUED,)
            ).fetchone()["n"]

    def mark_queued(self, request_id: str, error: str) -> None:
        """Back in the queue after a failed attempt; the error is kept for the status."""
        self._set_state(request_id, RequestState.QUEUED, "error = ?", error)

    def mark_failed(self, request_id: str, error: str) -> None:
        self._set_state(request_id, RequestState.FAILED, "error = ?, finished_at = ?", error, time.time())

    def mark_superseded(self, request_id: str, by: str) -> None:
        self._set_state(request_id, RequestState.SUPERSEDED, "superseded_by = ?, finished_at = ?", by, time.time())

    def _set_state(self, request_id: str, state: RequestState, assignments: str, *values: object) -> None:
        with self._db.transaction() as db:
            db.execute(
                f"UPDATE requests SET state = ?, {assignments} WHERE request_id = ?", (state, *values, request_id)
            )

    def unfinished_requests(self, running: bool = True) -> list[tuple[str, str]]:
        """(tenant, request id) of every request queued (and, with ``running``, running), oldest first."""
        states = _UNFINISHED if running else (RequestState.QUEUED,)
        marks = ", ".join("?" * len(states))
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT tenant, request_id FROM requests WHERE state IN ({marks}) ORDER BY created_at", states
            ).fetchall()
        return [(row["tenant"], row["request_id"]) for row in rows]

    def recent_latencies_ms(self, count: int) -> list[float]:
        """Accepted to committed, for the ``count`` requests done last (by any process)."""
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT (finished_at - created_at) * 1000 AS ms FROM requests WHERE state = ? "
                "ORDER BY finished_at DESC LIMIT ?",
                (RequestState.DONE, count),
            ).fetchall()
        return [float(row["ms"]) for row in rows]

    def request_counts(self) -> dict[RequestState, int]:
        with self._db.reading() as db:
            rows = db.execute("SELECT state, count(*) AS n FROM requests GROUP BY state").fetchall()
        counts = dict.fromkeys(RequestState, 0)
        counts.update({RequestState(row["state"]): row["n"] for row in rows})
        return counts

    @staticmethod
    def _status_in(db: Session, request_id: str) -> RequestStatus:
        row = db.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        return RequestStatus(
            request_id=row["request_id"],
            state=RequestState(row["state"]),
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            finished_at=datetime.fromtimestamp(row["finished_at"], UTC) if row["finished_at"] else None,
            attempts=row["attempts"],
            version=row["version"],
            notes_added=row["notes_added"],
            superseded_by=row["superseded_by"],
            error=row["error"],
        )

    def close(self) -> None:
        self._db.close()
