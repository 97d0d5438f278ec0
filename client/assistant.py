"""One writer's whole client loop, for the TUI, the CLI and the evaluation.

Text near the cursor picks notes from local memory for the engine's prompt; the
coordinator decides when the cloud should write new notes; the sync loop brings
them down, after which the block is chosen again and prefilled in the background.
Only the engine call is on the first token's path; choosing notes (a query
embedding, about 10 ms) follows it, and nothing waits on the network.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from client.coordinator import MemoryRequestCoordinator, changed_chars
from client.engine.engine_protocol import Engine
from client.engine.suggestion_engine import Suggestion
from client.memory.local_memory import LocalMemory, LocalNote, memory_folder
from client.memory.memory_block import MemoryBlock, MemoryBlockSelector
from client.sync.cloud_client import LOGIN_HINT, CloudClient
from client.sync.memory_sync import BackgroundSync, SyncReport, SyncStatus
from shared.errors import InputError
from shared.onnx_embedder import OnnxEmbedder
from shared.protocol import RequestState, RequestStatus
from shared.settings import Settings

REMEMBERED_BLOCKS = 4  # blocks whose notes can still be shown for a suggestion made with them


@dataclass(frozen=True)
class AssistedSuggestion:
    suggestion: Suggestion
    notes: tuple[LocalNote, ...]  # the memory block it was made with, in prompt order


def local_memory_folder(settings: Settings) -> Path:
    """The local memory's folder for the cloud and token the writer logged in with."""
    client = settings.client
    if not client.cloud_url or client.token is None:
        raise InputError(f"No cloud memory service is set: {LOGIN_HINT}.")
    return memory_folder(client.data_dir, client.cloud_url, client.token.get_secret_value())


def open_local_memory(settings: Settings, embedder: OnnxEmbedder) -> LocalMemory:
    return LocalMemory(local_memory_folder(settings), embedder, settings.client.note_ivf_threshold)


class CompositionAssistant:
    """The engine plus, once the writer logged in, local memory, the coordinator and the sync loop.

    Without a memory (``memory=None``) it only suggests: the TUI works before any login.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        embedder: OnnxEmbedder | None,
        memory: LocalMemory | None,
        cloud: CloudClient | None,
    ) -> None:
        if memory is not None and embedder is None:
            raise ValueError("A local memory needs the query embedder that searches it.")
        self.settings = settings
        self.engine = engine
        self.memory = memory
        self._cloud = cloud
        self._embedder = embedder
        self._selector = MemoryBlockSelector(memory, settings.client) if memory is not None else None
        self.coordinator = MemoryRequestCoordinator(settings.client)
        self.sync = (
            BackgroundSync(cloud, memory, settings.client, self._memory_synced, self._request_finished)
            if cloud is not None and memory is not None
            else None
        )
        self._lock = threading.RLock()
        self._last_text: str | None = None  # as of the last choice of notes
        self._latest_text = ""
        self._blocks: OrderedDict[str, MemoryBlock] = OrderedDict({"": MemoryBlock()})
        self._chosen_block = MemoryBlock()

    def start(self) -> None:
        if self.sync is not None:
            self.sync.start()

    def close(self) -> None:
        """Stop the sync loop, close the memory and the cloud client; the engine belongs to whoever made it."""
        if self.sync is not None:
            self.sync.stop()
        if self._cloud is not None:
            self._cloud.close()
        if self.memory is not None:
            self.memory.close()

    @property
    def chosen_block(self) -> MemoryBlock:
        """The notes chosen for the prompt, once handed to the engine (it uses them when their prefill is done)."""
        return self._chosen_block

    @property
    def notes_switch(self) -> str | None:
        """Newly chosen notes not yet in suggestions: "loading" while they prefill, then "ready"."""
        if self.chosen_block.text == self.engine.active_memory:
            return None
        return "ready" if self.engine.wait_for_memory(0) else "loading"

    @property
    def sync_status(self) -> SyncStatus | None:
        return self.sync.status if self.sync is not None else None

    def suggest(self, text: str, **options: object) -> AssistedSuggestion:
        """The engine's suggestion for ``text``, with the notes it was made with.

        With background prefill a new block cannot serve this suggestion anyway, so
        notes are chosen after it, off the first token's path.
        """
        self._latest_text = text
        background = self.engine.settings.background_prefill
        if not background:
            self.refresh_memory(text)
        suggestion = self.engine.suggest(text, **options)  # type: ignore[arg-type]
        if background:
            self.refresh_memory(text)
        return AssistedSuggestion(suggestion, self.notes_of(self.engine.active_memory))

    def prefill(self, text: str, should_cancel: Callable[[], bool] | None = None) -> int:
        """Warm the engine's cache with ``text`` while the writer types (see SuggestionEngine.prefill)."""
        self._latest_text = text
        return self.engine.prefill(text, should_cancel)

    def refresh_memory(self, text: str, force: bool = False) -> MemoryBlock:
        """Choose notes for ``text`` if it changed enough since the last choice; maybe ask the cloud."""
        if self._selector is None or self._embedder is None:
            return MemoryBlock()
        with self._lock:
            if (
                not force
                and self._last_text is not None
                and (changed_chars(self._last_text, text) < self.settings.client.reselect_after_chars)
            ):
                return self._selector.current
            self._last_text = text
            vector = self._embedder.embed_one(text[-self.settings.client.memory_query_chars :])
            block = self._selector.select(vector)
            self._remember(block)
            self.engine.set_memory(block.text, block.quotes)
            self._chosen_block = block  # only now: a reader that sees it can wait for the engine to use it
            if self.sync is not None and self.coordinator.should_request(text, vector):
                self.sync.send_request(text[-self.settings.client.request_context_chars :])
            return block

    def request_memory_now(self, text: str) -> None:
        """The writer's own ask for notes on the text before the cursor (no drift or rate check)."""
        if self.sync is None or self._embedder is None:
            raise InputError(f"No cloud memory service is set: {LOGIN_HINT}.")
        if not text.strip():
            raise InputError("Nothing to ask about yet: write something first.")
        context = text[-self.settings.client.request_context_chars :]
        self.coordinator.request_sent_by_writer(
            context, self._embedder.embed_one(context[-self.settings.client.memory_query_chars :])
        )
        self.sync.send_request(context)

    def sync_now(self) -> None:
        if self.sync is None:
            raise InputError(f"No cloud memory service is set: {LOGIN_HINT}.")
        self.sync.sync_now()

    def notes_of(self, block_text: str) -> tuple[LocalNote, ...]:
        with self._lock:
            block = self._blocks.get(block_text)
        return block.notes if block is not None else ()

    def _remember(self, block: MemoryBlock) -> None:
        self._blocks[block.text] = block
        self._blocks.move_to_end(block.text)
        while len(self._blocks) > REMEMBERED_BLOCKS:
            self._blocks.popitem(last=False)

    def _memory_synced(self, report: SyncReport) -> None:
        """On the sync thread: choose notes again now, so the new block prefills before the next pause."""
        assert self._selector is not None  # a sync loop exists only with a memory
        self._selector.notes_removed(report.removed)
        if self._latest_text.strip():
            self.refresh_memory(self._latest_text, force=True)

    def _request_finished(self, status: RequestStatus | None) -> None:
        delivered = status is not None and status.state in (RequestState.DONE, RequestState.SUPERSEDED)
        self.coordinator.request_finished(delivered)
