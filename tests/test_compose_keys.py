"""The composition TUI's keys and screens, on a scripted engine (no model, not slow).

The suggestions are known words, so each key's effect is checked exactly. What
depends on the model itself is in test_compose_tui.py, on the real engine.
"""

from pathlib import Path

import pytest
from textual.pilot import Pilot

from client.assistant import CompositionAssistant
from client.tui.app import ComposeApp
from client.tui.notes_panel import NotesPanel
from client.tui.screens import HelpScreen
from shared.settings import load_settings
from tests.scripted_engine import ScriptedEngine
from tests.tui_driving import run_app, type_and_wait, type_text, wait_until

OPENING = "The quick brown fox jumps over the"
GHOST = " lazy dog, twice."


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(lambda text: GHOST)


@pytest.fixture
def app(tmp_path: Path, engine: ScriptedEngine) -> ComposeApp:
    settings = load_settings(cache_dir=tmp_path, compose={"recovery_dir": tmp_path / "recovery"})
    return ComposeApp(CompositionAssistant(settings, engine, None, None, None), settings, None)


def test_tab_inserts_the_whole_suggestion(app: ComposeApp, engine: ScriptedEngine) -> None:
    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        assert await type_and_wait(app, pilot, OPENING) == GHOST
        assert app.editor.text == OPENING  # ghost text is drawn, not inserted
        assert engine.suggested[-1] == OPENING
        await pilot.press("tab")
        assert app.editor.text == OPENING + GHOST

    run_app(app, scenario)


def test_ctrl_right_inserts_one_word_and_keeps_the_rest(app: ComposeApp) -> None:
    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        await type_and_wait(app, pilot, OPENING)
        await pilot.press("ctrl+right")
        assert app.editor.text == OPENING + " lazy"
        assert app.editor.suggestion == " dog, twice."
        await pilot.press("ctrl+right")  # the word with its punctuation
        assert app.editor.text == OPENING + " lazy dog,"

    run_app(app, scenario)


def test_typing_through_keeps_the_rest_without_asking_again(app: ComposeApp) -> None:
    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        await type_and_wait(app, pilot, OPENING)
        asked = app.suggestions_started
        await type_text(pilot, " la")
        await pilot.pause(0.3)  # longer than any debounce: a new request would have started
        assert app.editor.suggestion == "zy dog, twice."
        assert app.suggestions_started == asked

    run_app(app, scenario)


def test_escape_dismisses_until_the_writer_goes_on(app: ComposeApp) -> None:
    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        await type_and_wait(app, pilot, OPENING)
        asked = app.suggestions_started
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert app.editor.suggestion == "" and app.suggestions_started == asked
        assert app.editor.text == OPENING and app.editor.has_focus
        await type_text(pilot, " cat")  # not the dismissed suggestion (typing that would show its rest again)
        await wait_until(pilot, lambda: app.suggestions_started > asked, "a new suggestion after typing on")

    run_app(app, scenario)


def test_help_lists_every_key_and_the_notes_panel_toggles(app: ComposeApp) -> None:
    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        panel = app.query_one(NotesPanel)
        assert not panel.display
        await pilot.press("f2")
        assert panel.display
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        listed = " ".join(app.screen.query_one("DataTable").get_column_at(0))
        for key in ("tab", "ctrl+right", "escape", "ctrl+s", "f1", "f2", "f5", "f6", "ctrl+q"):
            assert key in listed, key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f5")  # no cloud set: says so instead of failing
        await pilot.pause(0.1)
        assert any("hybridrag login" in str(note.message) for note in app._notifications)

    run_app(app, scenario)
