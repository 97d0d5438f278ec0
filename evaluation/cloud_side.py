"""The cloud's part of an evaluation: the corpus index, each case's memory notes, and RAG's retrieval.

Everything runs through the service's own parts (Datastore, MemoryRequestProcessor,
MemoryLog, the configured note writer), in this process. Notes are written once per
(case, context, writer settings) and kept in a MemoryLog under the cache folder, so a
re-run reuses them: with an LLM writer on a CPU they are the slow part.
"""

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cloud.datastore import Datastore, RetrievedChunk
from cloud.datastore.datastore import LEGACY_EMBEDDER
from cloud.memory.memory_log import MemoryLog
from cloud.memory.processor import MemoryRequestProcessor, retrieval_focus
from cloud.writers import make_writer
from evaluation.cases import EvalCase
from shared.embeddings import chunk_embedder
from shared.protocol import MemoryNote, MemoryRequest
from shared.settings import Settings, WriterKind

SEARCH_WIDENING = 8  # ask the index for this many times k, so k remain once held-out chunks are dropped
SHINGLE_WORDS = 8  # a chunk sharing an 8-word run with the prefix or the reference overlaps them
_WORD = re.compile(r"\w+")
MAX_DELTA_NOTES = 1000


def _writer_code_hash() -> str:
    """The note-writing code's own fingerprint: notes cached by older code are not reused after it changes."""
    import cloud.llm
    import cloud.memory
    import cloud.writers

    files = sorted(
        path for package in (cloud.writers, cloud.llm) for path in Path(str(package.__file__)).parent.glob("*.py")
    )
    files.append(Path(cloud.memory.__file__).parent / "processor.py")
    return hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()[:12]


class Holdout(StrEnum):
    """What of a case's own document the cloud may not retrieve."""

    DOCUMENT = "document"  # the whole document: the writer starts a document the cloud has never seen
    CHUNK = "chunk"  # only chunks overlapping the prefix or the reference: the cloud holds the document's other parts


def _datastore_folder_name(embedder_identity: str) -> str:
    """One datastore per embedder, so comparing embedders does not embed the corpus again each time."""
    if embedder_identity == LEGACY_EMBEDDER:
        return "datastore"  # the name from before embedders were told apart: its cache stays valid
    return "datastore-" + hashlib.sha256(embedder_identity.encode()).hexdigest()[:8]


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def document_holdout(document_path: str) -> Callable[[RetrievedChunk], bool]:
    return lambda chunk: chunk.path != document_path


def chunk_holdout(*texts: str) -> Callable[[RetrievedChunk], bool]:
    """Keep chunks that share no ``SHINGLE_WORDS``-word run with any of ``texts``."""
    held = set().union(*(shingles(text) for text in texts))
    return lambda chunk: not (shingles(chunk.text) & held)


class FilteredSearch:
    """The datastore's search with some chunks held out: what one case's cloud may retrieve from."""

    def __init__(self, datastore: Datastore, keep: Callable[[RetrievedChunk], bool]) -> None:
        self._datastore = datastore
        self._keep = keep

    def search_text(self, text: str, k: int) -> list[RetrievedChunk]:
        wanted = k * SEARCH_WIDENING
        while True:
            found = self._datastore.search_text(text, wanted)
            kept = [chunk for chunk in found if self._keep(chunk)]
            if len(kept) >= k or len(found) < wanted:
                return kept[:k]
            wanted *= 2  # held-out chunks filled the top results: look further down

    def chunk_count(self) -> int:
        """The datastore's chunks, the held-out ones included."""
        return self._datastore.chunk_count()


@dataclass(frozen=True)
class CaseNotes:
    notes: list[MemoryNote]
    cached: bool
    seconds: float  # writing them (0 when cached)
    error: str | None = None


@dataclass(frozen=True)
class Retrieval:
    chunks: list[RetrievedChunk]
    ms: float


class EvaluationCloud:
    """One corpus, indexed once (incrementally) under the cache folder, and a writer of notes."""

    def __init__(
        self, settings: Settings, corpus: Path, writer: WriterKind, holdout: Holdout = Holdout.DOCUMENT
    ) -> None:
        self.settings = settings
        self.holdout = holdout
        self.corpus = corpus.resolve()
        self.writer_kind = writer
        self.folder = settings.cache_dir / "eval" / hashlib.sha256(str(self.corpus).encode()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        cloud = settings.cloud.model_copy(update={"data_dir": self.folder, "database_url": None})
        self._cloud_settings = cloud
        self._embedder = chunk_embedder(settings)
        self.datastore = Datastore(self.folder / _datastore_folder_name(self._embedder.identity), cloud, self._embedder)
        self._log = MemoryLog.open(cloud)
        self._writer = make_writer(settings, writer)
        self.writer_settings = self._writer_settings()  # once: it reads the writer's source files

    def document_path(self, doc_id: str) -> str:
        """The path the datastore keeps for a case's document (how its chunks are recognised)."""
        return str(self.corpus / doc_id)

    def request_for(self, context: str) -> MemoryRequest:
        """What the client's coordinator sends for this text: its last ``request_context_chars``."""
        return MemoryRequest(context=context[-self.settings.client.request_context_chars :])

    def held_out_search(self, case: EvalCase) -> FilteredSearch:
        """The datastore as this case's cloud sees it: its document, or the chunks it overlaps, held out."""
        keep = (
            document_holdout(self.document_path(case.doc_id))
            if self.holdout is Holdout.DOCUMENT
            else chunk_holdout(case.prefix, case.reference)
        )
        return FilteredSearch(self.datastore, keep)

    def notes_for(self, case: EvalCase, context: str) -> CaseNotes:
        """The notes the cloud worker writes for ``context``, with the case held out of retrieval."""
        request = self.request_for(context)
        tenant = self._tenant(case.doc_id, request)
        if self._log.version(tenant) > 0:
            return CaseNotes(self._notes(tenant), cached=True, seconds=0.0)
        began = time.perf_counter()
        processor = MemoryRequestProcessor(self._log, self.held_out_search(case), self._writer, self._cloud_settings)
        accepted = self._log.create_request(tenant, request)
        attempt = processor.attempt(tenant, accepted.request_id)
        while attempt.retry_in_s is not None:
            time.sleep(attempt.retry_in_s)
            attempt = processor.attempt(tenant, accepted.request_id)
        status = attempt.status
        error = status.error if status is not None and status.error and not status.notes_added else None
        return CaseNotes(self._notes(tenant), cached=False, seconds=time.perf_counter() - began, error=error)

    def retrieve(self, case: EvalCase) -> Retrieval:
        """Synchronous RAG's retrieval at request time: the top-k chunks for the same focus the worker reads."""
        focus = retrieval_focus(self.request_for(case.prefix), self._cloud_settings.retrieval_context_chars)
        began = time.perf_counter()
        chunks = self.held_out_search(case).search_text(focus, self._cloud_settings.top_k_chunks)
        return Retrieval(chunks, (time.perf_counter() - began) * 1000)

    def _writer_settings(self) -> dict[str, object]:
        """Everything that changes what notes are written: part of the cache key, and of the report."""
        cloud = self._cloud_settings
        model: object = None
        if self.writer_kind is WriterKind.EMBEDDED:
            model = str(cloud.llm_model_path or "packaged gemma-3-270m q4_k_m")
        elif self.writer_kind is WriterKind.QWEN:
            model = str(cloud.llm_model_path or "packaged qwen2.5-coder-0.5b-instruct q4")
        elif self.writer_kind is WriterKind.OPENAI:
            model = [cloud.openai.base_url, cloud.openai.model]
        return {
            "writer": self.writer_kind.value,
            "model": model,
            "retrieval": cloud.retrieval.value,
            "chunk_embedder": self._embedder.identity,
            "top_k_chunks": cloud.top_k_chunks,
            "notes_per_request": cloud.notes_per_request,
            "note_max_tokens": cloud.note_max_tokens,
            "extractive_follow_sentences": cloud.extractive_follow_sentences,
            "quote_max_chars": cloud.quote_max_chars,
            "retrieval_context_chars": cloud.retrieval_context_chars,
            "chunk_max_tokens": cloud.chunk_max_tokens,
            "request_context_chars": self.settings.client.request_context_chars,
            "code": _writer_code_hash(),
        }

    def close(self) -> None:
        self.datastore.close()
        self._log.close()

    def _tenant(self, doc_id: str, request: MemoryRequest) -> str:
        key = json.dumps([doc_id, request.context, self.writer_settings, self.holdout.value], sort_keys=True)
        return "eval-" + hashlib.sha256(key.encode()).hexdigest()[:24]

    def _notes(self, tenant: str) -> list[MemoryNote]:
        return self._log.delta(tenant, 0, MAX_DELTA_NOTES).added
