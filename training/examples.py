"""Training examples for the memory adapter, made by the product's own cloud pipeline.

An example is what the client engine will meet: ``[memory block][text before the
cursor]`` and the text that really follows (one or two sentences). Cut points run
through whole documents. The notes are written by the cloud's note writer from chunks
the datastore retrieves for that text, in the mix the product delivers:

- ``none``: no memory yet (the adapter must not hurt plain continuation);
- ``document``: the document being written is not in the datastore (off-topic and
  loosely related notes, to be ignored or used for their terms);
- ``chunk``: only the chunks overlapping the text and its continuation are out (the
  writer extends a document the cloud holds other parts of);
- ``oracle``: the ``document`` notes plus the continuation itself as one more note, at
  a random place (the model must copy a note that holds what comes next).

Only training-split documents are used (shared/document_split.py), for the text and
for retrieval alike, so no evaluation document reaches an example.
"""

import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from client.memory.memory_block import memory_block_text
from cloud.datastore import Datastore, RetrievedChunk
from cloud.memory.processor import retrieval_focus
from cloud.writers.note_writer import NoteWriter
from evaluation.cases import document_prose, document_text, looks_like_prose, reference_after, with_oracle_note
from evaluation.cloud_side import FilteredSearch, chunk_holdout, document_holdout
from shared.corpus import sentence_ends
from shared.protocol import MemoryRequest
from shared.settings import Settings

CONDITIONS = ("none", "document", "chunk", "oracle")
CONDITION_SHARES = {"none": 0.25, "document": 0.35, "chunk": 0.25, "oracle": 0.15}
MIN_PREFIX_CHARS = 300
MAX_PREFIX_CHARS = 1600  # as the evaluation's prefixes: the model sees at most this much text
PLAIN_CHARS_PER_DOCUMENT = 9000  # about two 1024-token windows of plain text a document


@dataclass(frozen=True)
class TrainingExample:
    corpus: str
    doc_id: str
    condition: str
    notes: list[str]
    prefix: str  # the text before the cursor, ending after a sentence (no trailing space)
    continuation: str  # what follows it, without the space between

    @property
    def prompt(self) -> str:
        """What the engine evaluates after BOS: the memory block, then the writer's text."""
        return memory_block_text(self.notes) + self.prefix


def cuts_through(prose: str) -> Iterator[tuple[str, str]]:
    """Every (prefix, continuation) of a document, cut after a sentence anywhere in it."""
    for end, next_start in sentence_ends(prose):
        if end < MIN_PREFIX_CHARS:
            continue
        paragraph_end = prose.find("\n", next_start)
        paragraph = prose[next_start : paragraph_end if paragraph_end >= 0 else len(prose)]
        continuation = reference_after(paragraph)
        if (
            not continuation
            or not looks_like_prose(continuation)
            or not looks_like_prose(prose[max(0, end - 200) : end])
        ):
            continue
        start = max(0, end - MAX_PREFIX_CHARS)
        if start and " " in prose[start:end]:
            start = prose.index(" ", start) + 1  # begin at a word
        yield prose[start:end], continuation


class NoteMaker:
    """Notes for one example, as the worker writes them for a memory request."""

    def __init__(self, settings: Settings, datastore: Datastore, writer: NoteWriter) -> None:
        self._settings = settings
        self._datastore = datastore
        self._writer = writer

    def notes(self, context: str, keep: Callable[[RetrievedChunk], bool]) -> list[str]:
        request = MemoryRequest(context=context[-self._settings.client.request_context_chars :])
        cloud = self._settings.cloud
        focus = retrieval_focus(request, cloud.retrieval_context_chars)
        chunks = FilteredSearch(self._datastore, keep).search_text(focus, cloud.top_k_chunks)
        return [note.text for note in self._writer.write_notes(focus, chunks, cloud.notes_per_request)]


def examples_from_document(
    corpus: str, corpus_dir: Path, path: Path, notes: NoteMaker, cuts_per_document: int, rng: random.Random
) -> list[TrainingExample]:
    prose = document_prose(path)
    if not prose:
        return []
    cuts = list(cuts_through(prose))
    rng.shuffle(cuts)
    doc_id = str(path.relative_to(corpus_dir))
    made = []
    for prefix, continuation in cuts[:cuts_per_document]:
        condition = rng.choices(CONDITIONS, weights=[CONDITION_SHARES[c] for c in CONDITIONS])[0]
        chosen: list[str] = []
        if condition == "chunk":
            chosen = notes.notes(prefix, chunk_holdout(prefix, continuation))
        elif condition in ("document", "oracle"):
            chosen = notes.notes(prefix, document_holdout(str(path)))
        if condition == "oracle":
            chosen = with_oracle_note(chosen, continuation, prefix)
        made.append(TrainingExample(corpus, doc_id, condition, chosen, prefix.rstrip(), continuation))
    return made


def plain_text(path: Path) -> str | None:
    """A document as the engine benchmark's perplexity reads it (reST: markup dropped, code kept; HTML: its text).

    The adapter is trained to stay close to the base model on such text, so that
    memory does not cost plain continuation its quality.
    """
    read = document_text(path)
    if read is None:
        return None
    text, _kind = read
    return text[:PLAIN_CHARS_PER_DOCUMENT] or None


def write_examples(path: Path, examples: Sequence[TrainingExample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(asdict(example)) + "\n" for example in examples), encoding="utf-8")


def read_examples(path: Path) -> list[TrainingExample]:
    return [TrainingExample(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]
