"""Every message between client and cloud, as pydantic models both sides import.

The API validates request bodies against these models and serializes responses
from them, so the OpenAPI spec the server publishes is exactly this file.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

API_PREFIX = "/v1"
MAX_CONTEXT_CHARS = 20_000
MAX_QUERY_CHARS = 2_000
MAX_NOTE_CHARS = 1_000
MAX_QUOTES_PER_SOURCE = 40
NOTE_ID_HEX_CHARS = 32


def _has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain text, not only whitespace")
    return value


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryRequest(_Message):
    """The writer's context, for which the cloud should write memory notes."""

    context: Annotated[str, AfterValidator(_has_text)] = Field(
        min_length=1, max_length=MAX_CONTEXT_CHARS, description="Text near the cursor."
    )
    query: str | None = Field(default=None, max_length=MAX_QUERY_CHARS, description="An optional focus.")


class RequestState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a newer request of the same tenant replaced it while it waited


class MemoryRequestAccepted(_Message):
    request_id: str
    state: RequestState


class RequestStatus(_Message):
    request_id: str
    state: RequestState
    created_at: datetime
    finished_at: datetime | None = None
    attempts: int = 0
    version: int | None = Field(default=None, description="Memory version once its notes were committed.")
    notes_added: int = 0
    superseded_by: str | None = None
    error: str | None = None


class NoteSource(_Message):
    """Where a note came from: a chunk of a corpus file (character offsets into the file's text)."""

    chunk_id: int
    path: str
    start: int
    end: int
    quotes: list[Annotated[str, Field(max_length=MAX_NOTE_CHARS)]] = Field(
        default_factory=list,
        max_length=MAX_QUOTES_PER_SOURCE,
        description="Sentences of the chunk, verbatim, that a writer at the request's point may type next: "
        "the client drafts from them (not put in the prompt).",
    )


class MemoryNote(_Message):
    note_id: str = Field(description="Hash of the note's normalized text and sources.")
    version: int = Field(description="The memory version that added it.")
    text: str = Field(max_length=MAX_NOTE_CHARS)
    sources: list[NoteSource]


class IndexingProgress(_Message):
    """The service is still filling its datastore: notes meanwhile come from what is indexed so far."""

    phase: str = Field(description="reading (the corpus's files are listed) or embedding")
    files_done: int
    files_total: int


class MemoryDelta(_Message):
    """What changed in a tenant's memory after version ``since``, up to ``version``.

    A client at ``since`` that adds ``added`` and drops ``removed`` is at ``version``.
    When ``has_more``, ask again with ``since=version``.
    """

    since: int
    version: int
    latest_version: int
    added: list[MemoryNote]
    removed: list[str]
    has_more: bool
    indexing: IndexingProgress | None = None  # set while the service's datastore is still being filled
    epoch: str | None = Field(
        default=None,
        description="Made when the service's memory log was created: a client that holds another epoch "
        "has memory from a log since reset, and resyncs from version 0.",
    )


class Health(_Message):
    status: str = "ok"
    version: str


class Metrics(_Message):
    queue_depth: int = Field(description="Tenants with a request waiting.")
    requests: dict[RequestState, int] = Field(description="Requests by state since the service started.")
    notes: int = Field(description="Live notes, all tenants.")
    tenants: int
    chunks: int = Field(description="Chunks in the datastore.")
    request_latency_ms_p50: float | None = Field(description="Accepted to committed, recent requests.")
    request_latency_ms_p95: float | None


class ErrorBody(_Message):
    detail: str
