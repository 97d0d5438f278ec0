"""The side panel: the memory notes the current suggestion was made with, and where they came from."""

from collections.abc import Sequence
from pathlib import PurePath

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from client.memory.local_memory import LocalNote
from shared.safe_text import terminal_safe


def notes_text(notes: Sequence[LocalNote]) -> Text:
    if not notes:
        return Text("No memory notes in this suggestion's prompt.", style="dim")
    text = Text()
    for note in notes:
        text.append(f"v{note.version} ", style="bold cyan")
        text.append(terminal_safe(note.text).strip() + "\n")
        sources = sorted({PurePath(source.path).name for source in note.sources})
        if sources:
            text.append("  from " + ", ".join(terminal_safe(name) for name in sources) + "\n", style="dim")
        text.append("\n")
    return text


class NotesPanel(VerticalScroll):
    DEFAULT_CSS = """
    NotesPanel { width: 40%; max-width: 60; border-left: solid $primary; padding: 0 1; display: none; }
    NotesPanel.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Held, not queried: a suggestion may finish before this panel's children are
        # mounted, or while the app is shutting down and they are already gone.
        self._notes = Static(notes_text(()), id="notes")

    def compose(self) -> ComposeResult:
        yield Static(Text("Memory notes", style="bold"))
        yield self._notes

    def show_notes(self, notes: Sequence[LocalNote]) -> None:
        self._notes.update(notes_text(notes))
