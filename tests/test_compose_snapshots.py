"""SVG snapshots of the composition TUI's screens (pytest-textual-snapshot).

After a deliberate change of the layout, refresh them with
``scripts/test tests/test_compose_snapshots.py --snapshot-update`` and look at the report.
"""

from pathlib import Path

import pytest
from textual.pilot import Pilot

from client.assistant import CompositionAssistant
from client.tui.app import ComposeApp
from shared.settings import load_settings
from tests.scripted_engine import ScriptedEngine

SIZE = (110, 28)
LETTER = "Dear team,\n\nThe release of version 2.0 is planned for Friday. Before then, please"


@pytest.fixture
def app(tmp_path: Path) -> ComposeApp:
    """On a scripted engine: the screens are the subject, and no suggestion is shown."""
    settings = load_settings(cache_dir=tmp_path, compose={"recovery_dir": tmp_path / "recovery"})
    return ComposeApp(CompositionAssistant(settings, ScriptedEngine(), None, None, None), settings, None)


async def _letter_without_suggestion(pilot: Pilot) -> None:
    editor = pilot.app.editor  # type: ignore[attr-defined]
    editor.cursor_blink = False
    editor.load_text(LETTER)
    editor.move_cursor((0, 0))  # nothing before the cursor: no suggestion, so nothing varies


def test_main_screen_with_the_notes_panel(app: ComposeApp, snap_compare) -> None:
    assert snap_compare(app, press=["f2"], terminal_size=SIZE, run_before=_letter_without_suggestion)


def test_help_screen(app: ComposeApp, snap_compare) -> None:
    assert snap_compare(app, press=["f1"], terminal_size=SIZE, run_before=_letter_without_suggestion)
