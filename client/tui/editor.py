"""The writer's editor: a TextArea that shows a suggestion as ghost text after the cursor.

Textual draws ``TextArea.suggestion`` dimmed at the cursor. This widget decides what
it is from the suggestion's ``AnchoredCompletion``: typing through it or backspacing
inside it keeps it, anything else clears it and says a new one is needed. The model
is never called from here; the app does that off the UI thread.
"""

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from client.tui.adaptive_debounce import AdaptiveDebounce
from client.tui.ghost_text import AnchoredCompletion, first_word
from shared.settings import ComposeSettings


class ComposeEditor(TextArea):
    BINDINGS = [
        Binding(
            "ctrl+right",
            "accept_word",
            "Accept word",
            show=False,
            tooltip="Accept the suggestion's next word (else: one word right)",
        ),
    ]
    # Tab (accept all) and Esc (dismiss) are taken in _on_key: TextArea handles them there.
    KEYS_HANDLED_ON_KEY = [
        ("tab", "Accept the whole suggestion (indents when there is none)"),
        ("escape", "Dismiss the suggestion"),
    ]

    @dataclass
    class SuggestionNeeded(Message):
        """The ghost text is gone: a suggestion for ``prefix`` (the text before the cursor) is wanted."""

        editor: "ComposeEditor"
        prefix: str

    @dataclass
    class SuggestionDismissed(Message):
        editor: "ComposeEditor"

    def __init__(self, settings: ComposeSettings, **options: object) -> None:
        super().__init__(tab_behavior="indent", soft_wrap=True, **options)  # type: ignore[arg-type]
        self.debounce = AdaptiveDebounce(settings)
        self.completion: AnchoredCompletion | None = None
        self.streaming = False  # the completion is still growing
        self.prefix = ""  # the text before the cursor, as of the last edit or cursor move

    def text_before_cursor(self) -> str:
        return self.document.get_text_range((0, 0), self.cursor_location)

    def show_completion(self, completion: AnchoredCompletion | None, streaming: bool = False) -> None:
        self.completion, self.streaming = completion, streaming
        if not self._show_ghost() and not streaming and completion is not None and self.prefix != completion.anchor:
            self.post_message(self.SuggestionNeeded(self, self.prefix))  # the writer typed through all of it

    def dismiss_suggestion(self) -> None:
        """Esc: no ghost, and no new suggestion until the text or the cursor moves on."""
        self.show_completion(None)
        self.post_message(self.SuggestionDismissed(self))

    def action_accept_suggestion(self) -> None:
        if self.suggestion:
            self.insert(self.suggestion)

    def action_accept_word(self) -> None:
        if self.suggestion:
            self.insert(first_word(self.suggestion))
        else:
            self.action_cursor_word_right()

    # -- Textual hooks ----------------------------------------------------------------------

    def update_suggestion(self) -> None:
        """Called by TextArea after every edit: work out the ghost, never infer here."""
        self._context_changed()

    def _watch_selection(self, previous_selection: Selection, selection: Selection) -> None:
        super()._watch_selection(previous_selection, selection)
        self._context_changed()

    async def _on_key(self, event: events.Key) -> None:
        self.debounce.key_pressed()
        if event.key == "tab" and self.suggestion:
            event.stop()
            event.prevent_default()
            self.action_accept_suggestion()
            return
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            if self.suggestion or self.streaming:
                self.dismiss_suggestion()
            return
        await super()._on_key(event)

    # -- internals --------------------------------------------------------------------------

    def _context_changed(self) -> None:
        if not self.is_mounted:
            return
        prefix = self.text_before_cursor()
        if prefix == self.prefix:
            self._show_ghost()  # TextArea trimmed or cleared the ghost by its own rule: ours stands
            return
        self.prefix = prefix
        if self._show_ghost():
            return  # typed through part of it (or backspaced inside it): the rest still stands
        if self.streaming and self.completion is not None and self.completion.ghost_for(prefix) == "":
            return  # caught up with a suggestion that is still coming
        self.completion, self.streaming = None, False
        self.post_message(self.SuggestionNeeded(self, prefix))

    def _show_ghost(self) -> bool:
        ghost = self.completion.ghost_for(self.prefix) if self.completion is not None else None
        self.suggestion = ghost or ""
        return bool(ghost)
