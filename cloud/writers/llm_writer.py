"""Notes written by an LLM from retrieved chunks, with a few-shot completion prompt.

The default model (Gemma 3 270M) is a base model: it continues text, it does not
follow instructions. So each retrieved chunk gets a prompt whose examples show a
passage followed by one short note, and the model writes the next note. The passage
is the chunk's sentences most relevant to the writer's context, in their order: a
small model compresses a short, focused passage far better than a whole chunk, and
the prompt is shorter. The examples' prefix is the same for every call, so llama.cpp
reuses its KV cache across calls.
"""

from collections.abc import Sequence

from cloud.datastore import RetrievedChunk
from cloud.llm.backend import CompletionBackend
from cloud.writers.note_writer import NoteValidator, WrittenNote, is_grounded, normalized
from cloud.writers.sentences import focused_passages
from shared.embeddings import TextEmbedder

MIN_GROUNDED_SHARE = 0.5
NOTE_TOKEN_HEADROOM = 1.5  # the model counts tokens its own way: let it finish, the validator cuts
STOP_SEQUENCES = ["\n", "Passage:"]
INSTRUCTION = (
    "Each passage from the documentation is followed by a note: one short, self-contained sentence "
    "that states the passage's most useful fact.\n\n"
)
EXAMPLES = [
    (
        (
            "The sorted() function returns a new sorted list from the items in an iterable. It takes an optional "
            "key function and a reverse flag. The original iterable is not changed."
        ),
        "sorted() returns a new sorted list from any iterable and leaves the original unchanged.",
    ),
    (
        (
            "A context manager is an object that defines the runtime context to be established when executing a "
            "with statement. Its __enter__ method runs on entry and its __exit__ method runs on exit, even when "
            "an exception was raised."
        ),
        "A with statement calls the context manager's __exit__ method even if the block raises an exception.",
    ),
    (
        (
            "Environment variables are read once at start-up. Changing PATH after the process has started does not "
            "affect programs it already launched; they keep the copy they were given."
        ),
        "A process gets a copy of the environment at start-up, so later changes do not reach running programs.",
    ),
]
FEW_SHOT_PREFIX = INSTRUCTION + "".join(f"Passage: {passage}\nNote: {note}\n\n" for passage, note in EXAMPLES)


class LLMNoteWriter:
    def __init__(
        self, backend: CompletionBackend, validator: NoteValidator, note_max_tokens: int, embedder: TextEmbedder
    ) -> None:
        self.name = backend.name
        self._backend = backend
        self._embedder = embedder
        self._validator = validator
        self._note_max_tokens = note_max_tokens

    def write_notes(self, focus: str, chunks: Sequence[RetrievedChunk], max_notes: int) -> list[WrittenNote]:
        """One note per chunk, best chunk first, until ``max_notes`` notes pass validation."""
        notes: list[WrittenNote] = []
        seen: set[str] = set()
        for chunk, passage in zip(chunks, focused_passages(self._embedder, focus, chunks), strict=True):
            if len(notes) == max_notes:
                break
            raw = self._backend.complete(
                f"{FEW_SHOT_PREFIX}Passage: {passage}\nNote:",
                max_tokens=int(self._note_max_tokens * NOTE_TOKEN_HEADROOM),
                stop=STOP_SEQUENCES,
            )
            text = self._validator.clean(raw)
            if text and normalized(text) not in seen and is_grounded(text, passage, MIN_GROUNDED_SHARE):
                seen.add(normalized(text))
                notes.append(WrittenNote(text, (chunk.chunk_id,)))
        return notes

    def close(self) -> None:
        self._backend.close()
