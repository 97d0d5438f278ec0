"""``hybridrag compose``: the writer's editor with ghost-text suggestions from the local model.

The UI thread only edits, draws and reads state. A suggestion is asked for after the
writer pauses (an async worker that sleeps first: the debounce), made in a thread
worker that streams pieces back, and cancelled by the next keystroke within one
token. Unsaved text goes to a recovery file every few seconds, on its own thread.
"""

import asyncio
import gc
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import Footer
from textual.worker import get_current_worker

from client.assistant import AssistedSuggestion, CompositionAssistant
from client.engine import StopReason, Suggestion
from client.tui.editor import ComposeEditor
from client.tui.frame_gaps import FRAME_S, KEPT_GAPS, FrameGapProbe
from client.tui.ghost_text import AnchoredCompletion, SuggestionCache, displayable
from client.tui.notes_panel import NotesPanel
from client.tui.recovery import RecoveryFile
from client.tui.screens import HelpScreen, RestoreScreen, SaveAsScreen
from client.tui.status_bar import StatusBar, StatusFacts
from shared.durable_files import replace_atomically
from shared.errors import HybridRAGError
from shared.settings import Settings

WORD_ENDS = frozenset(" \n\t.,;:!?")  # typing one of these finishes a word: time to evaluate it


class ComposeApp(App[str | None]):
    """Returns the recovery file's path when the writer quit with unsaved text."""

    TITLE = "HybridRAG"
    CSS = """
    #main { height: 1fr; }
    ComposeEditor { width: 1fr; border: none; }
    """
    BINDINGS = [  # the footer shows the short description; the help screen the tooltip
        Binding("ctrl+s", "save", "Save", tooltip="Save the file (asks for a name the first time)"),
        Binding("f1", "help", "Keys", tooltip="This list of keys"),
        Binding("f2", "toggle_notes", "Notes", tooltip="Show or hide the memory notes of the current suggestion"),
        Binding("f5", "sync_now", "Sync now", tooltip="Pull new memory notes from the cloud now"),
        Binding(
            "f6", "request_memory", "Ask cloud", tooltip="Ask the cloud to write notes for the text before the cursor"
        ),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="Quit (unsaved text stays in the recovery file)"),
    ]
    EDITING_KEYS_NOTE = ("other keys", "Edit as in any editor: ctrl+z undo, ctrl+x/c/v, shift+arrows")

    # Worker threads talk to the UI by message only: posting never blocks, even while the app exits.
    @dataclass
    class SuggestionPiece(Message):
        request_id: int
        piece: str

    @dataclass
    class SuggestionDone(Message):
        request_id: int
        prefix: str
        result: AssistedSuggestion

    @dataclass
    class Notice(Message):
        text: str
        title: str = ""
        severity: SeverityLevel = "information"

    def __init__(self, assistant: CompositionAssistant, settings: Settings, file: Path | None) -> None:
        super().__init__()
        self.assistant = assistant
        self.settings = settings
        self.file = file
        self.recovery = RecoveryFile(settings.compose.recovery_dir, file)
        self.cache = SuggestionCache(settings.compose.suggestion_cache_entries)
        self.frames = FrameGapProbe()
        self.last_suggestion: Suggestion | None = None
        self.ghost_latencies_ms: deque[float] = deque(maxlen=KEPT_GAPS)  # pause over to first ghost text, newest
        self.last_ghost_at: float | None = None  # perf_counter when the latest suggestion first showed
        self.suggestions_started = 0
        self.suggestions_cancelled = 0  # by a keystroke (or Esc) while they were being made
        self._request_id = 0
        self._request_prefix = ""
        self._request_started = 0.0
        self._streamed: AnchoredCompletion | None = None
        self._saved_text = ""
        self._autosaved_text = ""
        self._recovery_io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recovery")  # in order

    @property
    def editor(self) -> ComposeEditor:
        return self._editor

    def compose(self) -> ComposeResult:
        # Kept as attributes, not queried: a query searches the screen on top (help, restore),
        # and a worker's message may arrive while one is open.
        self._editor = ComposeEditor(self.settings.compose, id="editor")
        self._notes_panel = NotesPanel(id="notes-panel")
        self._status_bar = StatusBar(id="status")
        with Horizontal(id="main"):
            yield self._editor
            yield self._notes_panel
        yield self._status_bar
        yield Footer()

    def on_mount(self) -> None:
        text = self.file.read_text(encoding="utf-8") if self.file is not None and self.file.exists() else ""
        self._saved_text = self._autosaved_text = text
        self.sub_title = str(self.file) if self.file is not None else "untitled"
        self._load(text)
        recovered = self.recovery.read()
        if recovered is not None and recovered.text != text:

            def restore(chosen: bool | None) -> None:
                if chosen:
                    self._load(recovered.text)
                else:
                    self._recovery_io.submit(self.recovery.discard)

            self.push_screen(RestoreScreen(self.sub_title, recovered.saved_at), restore)
        self.set_interval(self.settings.compose.autosave_interval_s, self._autosave)
        self.set_interval(self.settings.compose.status_refresh_s, self._refresh_status)
        self.set_interval(FRAME_S, self.frames.tick)
        self._refresh_status()
        # Everything loaded so far (the model's vocabulary, the UI) lives as long as the app: out of the
        # garbage collector's sight, a full collection no longer stalls a frame (measured: 80 ms → none).
        gc.freeze()

    def _load(self, text: str) -> None:
        editor = self.editor
        editor.load_text(text)
        editor.move_cursor(editor.document.end)
        editor.focus()

    # -- suggestions ------------------------------------------------------------------------

    def on_compose_editor_suggestion_needed(self, message: ComposeEditor.SuggestionNeeded) -> None:
        self._cancel_suggestion()
        prefix = message.prefix
        if prefix != self.editor.prefix or not prefix.strip():
            return  # stale (the writer moved on), or nothing to continue
        cached = self.cache.ghost_for(prefix)
        if cached is not None:
            self.editor.show_completion(cached[0])
            return
        if prefix[-1] in WORD_ENDS:
            self._prefill_in_thread(prefix)  # the finished word is evaluated now, not when the writer pauses
        self.run_worker(self._suggest_after_pause(prefix, self._request_id), group="pause", exclusive=True)

    def on_text_area_changed(self) -> None:
        self._refresh_status()  # saved / unsaved

    def on_compose_editor_suggestion_dismissed(self, _: ComposeEditor.SuggestionDismissed) -> None:
        self._cancel_suggestion()

    def _cancel_suggestion(self) -> None:
        self._request_id += 1
        self._streamed = None
        self.frames.streaming = False
        self.workers.cancel_group(self, "pause")
        self.workers.cancel_group(self, "model")

    async def _suggest_after_pause(self, prefix: str, request_id: int) -> None:
        await asyncio.sleep(self.editor.debounce.delay_s)
        if request_id != self._request_id:
            return
        self._request_prefix, self._request_started = prefix, time.perf_counter()
        self.frames.streaming = True
        self.suggestions_started += 1
        self._suggest_in_thread(prefix, request_id)

    @work(thread=True, group="model", exclusive=True, exit_on_error=False)
    def _suggest_in_thread(self, prefix: str, request_id: int) -> None:
        worker = get_current_worker()
        try:
            result = self.assistant.suggest(
                prefix,
                on_text=lambda piece: self.post_message(self.SuggestionPiece(request_id, piece)),
                should_cancel=lambda: worker.is_cancelled,
            )
        except HybridRAGError as problem:
            self.post_message(self.Notice(str(problem), "No suggestion", "warning"))
            return
        self.post_message(self.SuggestionDone(request_id, prefix, result))

    @work(thread=True, group="model", exclusive=True, exit_on_error=False)
    def _prefill_in_thread(self, prefix: str) -> None:
        worker = get_current_worker()
        self.assistant.prefill(prefix, should_cancel=lambda: worker.is_cancelled)

    def on_compose_app_notice(self, notice: Notice) -> None:
        self.notify(notice.text, title=notice.title, severity=notice.severity)

    def on_compose_app_suggestion_piece(self, message: SuggestionPiece) -> None:
        request_id, piece = message.request_id, message.piece
        if request_id != self._request_id or not self.editor.is_mounted:  # stale, or the app is closing
            return
        if self._streamed is None:
            self.last_ghost_at = time.perf_counter()
            self.ghost_latencies_ms.append((self.last_ghost_at - self._request_started) * 1000)
            self._streamed = AnchoredCompletion(self._request_prefix)
        self._streamed = self._streamed.extended(piece)
        self.editor.show_completion(self._streamed, streaming=True)

    def on_compose_app_suggestion_done(self, message: SuggestionDone) -> None:
        request_id, prefix, result = message.request_id, message.prefix, message.result
        suggestion = result.suggestion
        if suggestion.stop_reason == StopReason.CANCELLED:
            self.suggestions_cancelled += 1
            return
        final = AnchoredCompletion(prefix, displayable(suggestion.text))
        self.cache.put(final)
        if request_id != self._request_id or not self.editor.is_mounted:
            return
        self._streamed = None
        self.frames.streaming = False
        self.last_suggestion = suggestion
        if suggestion.first_text_ms is not None:
            self.editor.debounce.suggestion_served(suggestion.first_text_ms)
        self._notes_panel.show_notes(result.notes)
        self.editor.show_completion(final)
        self._refresh_status()

    # -- keys -------------------------------------------------------------------------------

    def action_help(self) -> None:
        editor_keys = [
            (binding.key, binding.tooltip or binding.description)
            for binding in ComposeEditor.BINDINGS
            if isinstance(binding, Binding)
        ]
        app_keys = [
            (binding.key, binding.tooltip or binding.description)
            for binding in self.BINDINGS
            if isinstance(binding, Binding)
        ]
        self.push_screen(
            HelpScreen([*ComposeEditor.KEYS_HANDLED_ON_KEY, *editor_keys, *app_keys, self.EDITING_KEYS_NOTE])
        )

    def action_toggle_notes(self) -> None:
        self._notes_panel.toggle_class("-shown")

    def action_sync_now(self) -> None:
        try:
            self.assistant.sync_now()
        except HybridRAGError as problem:
            self.notify(str(problem), severity="warning")
            return
        self.notify("Syncing memory now.")

    def action_request_memory(self) -> None:
        self._request_memory(self.editor.prefix)

    @work(thread=True, group="memory-request", exit_on_error=False)
    def _request_memory(self, prefix: str) -> None:  # embeds the context: about 10 ms, off the UI thread
        try:
            self.assistant.request_memory_now(prefix)
        except HybridRAGError as problem:
            self.post_message(self.Notice(str(problem), severity="warning"))
            return
        self.post_message(self.Notice("Asked the cloud for notes on the text before the cursor."))

    def action_save(self) -> None:
        if self.file is None:
            self.push_screen(SaveAsScreen(), self._save_as)
            return
        self._save_to(self.file)

    def _save_as(self, path: Path | None) -> None:
        if path is None:
            return
        self._recovery_io.submit(self.recovery.discard)  # the untitled text now has a file of its own
        self.file = path
        self.recovery = RecoveryFile(self.settings.compose.recovery_dir, path)
        self.sub_title = str(path)
        self._save_to(path)

    def _save_to(self, path: Path) -> None:
        text = self.editor.text
        try:
            replace_atomically(path, lambda partial: partial.write_text(text, encoding="utf-8"))
        except OSError as problem:
            self.notify(
                f"Could not save {path}: {problem.strerror or problem}. The text is still in the "
                "recovery file; try another path (Ctrl+S on an untitled text asks for one).",
                title="Not saved",
                severity="error",
            )
            return
        self._saved_text = self._autosaved_text = text
        self._recovery_io.submit(self.recovery.discard)
        self.notify(f"Saved {path}.")
        self._refresh_status()

    async def action_quit(self) -> None:
        self._autosave()  # what was typed since the last autosave is kept too
        self._recovery_io.shutdown(wait=True)
        self.exit(str(self.recovery.path) if self.unsaved else None)

    @property
    def unsaved(self) -> bool:
        return self.editor.text != self._saved_text

    # -- timers -----------------------------------------------------------------------------

    def _autosave(self) -> None:
        text = self.editor.text
        if text == self._autosaved_text:
            return
        self._autosaved_text = text
        if text == self._saved_text:
            self._recovery_io.submit(self.recovery.discard)
        else:
            self._recovery_io.submit(self.recovery.write, text)

    def _refresh_status(self) -> None:
        self._status_bar.show(
            StatusFacts(
                sync=self.assistant.sync_status,
                notes_switch=self.assistant.notes_switch,
                last_suggestion=self.last_suggestion,
                kv_mode=str(self.assistant.engine.kv_preset),
                pause_ms=self.editor.debounce.delay_s * 1000,
                saved=not self.unsaved,
            )
        )
