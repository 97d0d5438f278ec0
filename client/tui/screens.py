"""The TUI's dialogs: help (every key), restoring unsaved text, and choosing where to save."""

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

DIALOG_CSS = """
{screen} {{ align: center middle; }}
{screen} > Vertical {{
    width: 80; max-width: 100%; height: auto; max-height: 90%;
    border: thick $primary; padding: 1 2; background: $surface;
}}
{screen} Horizontal {{ height: auto; margin-top: 1; }}
{screen} Button {{ margin-right: 2; }}
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = DIALOG_CSS.format(screen="HelpScreen") + "HelpScreen DataTable { height: auto; max-height: 30; }"
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = list(keys)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("HybridRAG: keys", style="bold"))
            table: DataTable[str] = DataTable(show_cursor=False, zebra_stripes=True)
            table.add_columns("key", "what it does")
            for key, description in self._keys:
                table.add_row(key, description)
            yield table
            yield Static(Text("Esc or F1 closes this screen.", style="dim"))


class RestoreScreen(ModalScreen[bool]):
    """Unsaved text from an earlier session was found: restore it (True) or discard it (False)."""

    DEFAULT_CSS = DIALOG_CSS.format(screen="RestoreScreen")
    # Discarding loses text: no single letter does it, so a writer typing away cannot by accident.
    BINDINGS = [Binding("r,enter", "choose(True)", "Restore"), Binding("ctrl+d", "choose(False)", "Discard")]

    def __init__(self, what: str, saved_at: datetime) -> None:
        super().__init__()
        self._message = (
            f"Unsaved text of {what} from {saved_at.astimezone():%Y-%m-%d %H:%M:%S} was kept after the last "
            "session ended without saving. Restore it?"
        )

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._message)
            with Horizontal():
                yield Button("Restore (r)", id="restore", variant="primary")
                yield Button("Discard (ctrl+d)", id="discard", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "restore")

    def action_choose(self, restore: bool) -> None:
        self.dismiss(restore)


class SaveAsScreen(ModalScreen[Path | None]):
    DEFAULT_CSS = DIALOG_CSS.format(screen="SaveAsScreen")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Save as (a file path; Esc cancels):")
            yield Input(placeholder="notes.md", id="path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(Path(event.value.strip()).expanduser())
