"""Which notes go in the suggestion prompt, and how they are laid out.

The block sits before the writer's text, so changing it costs a prefill of
everything after it. It is therefore ordered by note version (not by score, which
moves with every keystroke) and rebuilt only when the chosen set changed materially.
Within a version the notes keep the order the writer gave them (for passages, the
retrieval rank), as in the adapter's training examples. Ordered by note id, a hash,
the same four passages came in an arbitrary order that moved with the datastore's
chunk ids, and hybrid ROUGE-L with it (0.183 in one ingest, 0.164 in another).
"""

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from client.memory.local_memory import LocalMemory, LocalNote
from shared.safe_text import terminal_safe
from shared.settings import ClientSettings

BLOCK_HEADER = "Notes:\n"
NOTE_BULLET = "- "
BLOCK_END = "\n"  # a blank line between the notes and the writer's text


@dataclass(frozen=True)
class MemoryBlock:
    notes: tuple[LocalNote, ...] = ()  # in prompt order

    @property
    def note_ids(self) -> frozenset[str]:
        return frozenset(note.note_id for note in self.notes)

    @property
    def quotes(self) -> tuple[str, ...]:
        """The verbatim sentences the notes' sources carry, once each: drafted from, never in the prompt."""
        return tuple(dict.fromkeys(quote for note in self.notes for source in note.sources for quote in source.quotes))

    @property
    def text(self) -> str:
        return memory_block_text([note.text for note in self.notes])


def in_prompt_order(notes: Iterable[LocalNote]) -> tuple[LocalNote, ...]:
    """By version, then in the writer's order: stable while the writer types, and as the adapter was trained."""
    return tuple(sorted(notes, key=lambda note: (note.version, note.arrival)))


def memory_block_text(notes: Sequence[str]) -> str:
    """The block as the engine puts it before the writer's text (and as the memory adapter was trained on)."""
    if not notes:
        return ""
    return BLOCK_HEADER + "".join(f"{NOTE_BULLET}{_one_line(note)}\n" for note in notes) + BLOCK_END


def _one_line(text: str) -> str:
    return " ".join(terminal_safe(text).split())


class MemoryBlockSelector:
    """Picks the top notes for the text near the cursor, keeping the block stable."""

    def __init__(self, memory: LocalMemory, settings: ClientSettings) -> None:
        self._memory = memory
        self._settings = settings
        self._lock = threading.Lock()
        self._current = MemoryBlock()
        self._stale = False  # a note of the current block was removed from memory

    @property
    def current(self) -> MemoryBlock:
        return self._current

    def select(self, query: np.ndarray) -> MemoryBlock:
        """The block for a query vector: the current one unless enough of the top notes are new."""
        wanted = self._settings.notes_in_prompt
        candidates = self._memory.search(query, wanted) if wanted else []
        with self._lock:
            current_ids = self._current.note_ids
            new = [note for note in candidates if note.note_id not in current_ids]
            enough_new = len(new) >= min(self._settings.memory_block_min_change, wanted)
            filling_up = bool(new) and len(current_ids) < wanted
            if self._stale or (new and (enough_new or filling_up)):
                self._current = MemoryBlock(in_prompt_order(candidates))
                self._stale = False
            return self._current

    def notes_removed(self, note_ids: Iterable[str]) -> None:
        """After a sync: a block that shows a removed note must be rebuilt at the next selection."""
        with self._lock:
            if self._current.note_ids & set(note_ids):
                self._stale = True
