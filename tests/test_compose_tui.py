"""The composition TUI on the real engine: what depends on the model, its speed and its cache.

The keys and screens alone are tested on a scripted engine (test_compose_keys.py).
Every test waits for what the writer would see; none times anything.
"""

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from client.assistant import CompositionAssistant
from client.engine import SuggestionEngine
from client.memory.local_memory import LocalMemory
from client.sync.cloud_client import CloudClient
from client.tui.app import ComposeApp
from client.tui.screens import RestoreScreen
from client.tui.status_bar import StatusBar
from cloud.local_server import LocalServer
from cloud.service import CloudService
from shared.settings import Settings, WriterKind, load_settings
from tests.tui_driving import WAIT_S, run_app, type_and_wait, type_text, wait_until

pytestmark = pytest.mark.slow
OPENING = "Python is an easy to learn, powerful programming"


@pytest.fixture
def compose_settings(tmp_path: Path, model_cache: Path) -> Settings:
    return load_settings(
        cache_dir=model_cache, compose={"recovery_dir": tmp_path / "recovery", "autosave_interval_s": 0.1}
    )


@pytest.fixture
def assistant(compose_settings: Settings, engine: SuggestionEngine) -> Iterator[CompositionAssistant]:
    """Suggestions alone (no cloud memory service set), on the session's engine."""
    engine.set_memory("")
    made = CompositionAssistant(compose_settings, engine, None, None, None)
    yield made
    made.close()


@pytest.fixture
def app(assistant: CompositionAssistant, compose_settings: Settings) -> ComposeApp:
    """The TUI on an untitled text, suggestions from the model alone."""
    return ComposeApp(assistant, compose_settings, None)


@pytest.fixture
def held_stream(engine: SuggestionEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Suggestions that, after each piece, wait until the test releases them or the app cancels them.

    So a keystroke lands while a suggestion streams however fast the machine is, and
    however soon the model would have ended it (a newline, a loop): no race. A
    suggestion the app cancels (the writer typed on) goes on at once, as the real one
    would notice within a token, so it never holds the model for the next one.
    """
    release = threading.Event()
    monkeypatch.setattr(
        engine,
        "settings",
        engine.settings.model_copy(
            update={"max_suggestion_tokens": 64, "stop_at_sentence_end": False, "stop_at_newline": False}
        ),
    )
    real_suggest = engine.suggest

    def suggest(
        text: str,
        *,
        on_text: Callable[[str], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        **options: object,
    ) -> object:
        def held(piece: str) -> None:
            if on_text is not None:
                on_text(piece)
            deadline = time.monotonic() + WAIT_S
            while not release.wait(0.02) and time.monotonic() < deadline:
                if should_cancel is not None and should_cancel():
                    return

        return real_suggest(text, on_text=held, should_cancel=should_cancel, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "suggest", suggest)
    yield release
    release.set()


def test_typing_shows_a_suggestion_and_tab_inserts_it(app: ComposeApp) -> None:

    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        ghost = await type_and_wait(app, pilot, OPENING)
        assert app.editor.text == OPENING  # ghost text is drawn, not inserted
        await pilot.press("tab")
        assert app.editor.text == OPENING + ghost
        assert app.last_suggestion is not None and app.last_suggestion.first_text_ms is not None
        assert "first token" in str(app.query_one(StatusBar).render()) and "KV q8q4" in str(
            app.query_one(StatusBar).render()
        )

    run_app(app, scenario)


def test_backspace_and_retype_are_served_from_the_cache(app: ComposeApp) -> None:

    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        ghost = await type_and_wait(app, pilot, OPENING)
        await type_text(pilot, " x")  # off the suggestion: a new one is made for the new text
        await wait_until(
            pilot,
            lambda: app.editor.prefix.endswith(" x") and app.editor.suggestion and not app.editor.streaming,
            "a suggestion after ' x'",
        )
        asked = app.suggestions_started
        await pilot.press("backspace", "backspace")
        assert app.editor.suggestion == ghost  # at once: no model call, no pause
        await type_text(pilot, " x")
        await pilot.pause(0.3)
        assert app.editor.suggestion and app.suggestions_started == asked

    run_app(app, scenario)


def test_a_keystroke_while_a_suggestion_streams_cancels_it(app: ComposeApp, held_stream: threading.Event) -> None:

    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        await type_text(pilot, OPENING)
        await wait_until(pilot, lambda: app.editor.streaming and app.editor.suggestion, "a suggestion streaming")
        first = app.editor.suggestion
        await type_text(pilot, "Q")  # not what the model suggested
        held_stream.set()  # the held stream goes on, sees the newer keystroke, and stops
        await wait_until(pilot, lambda: app.suggestions_cancelled >= 1, "the streaming suggestion to stop")
        await pilot.pause(0.2)
        assert app.editor.completion is None or app.editor.completion.anchor.endswith("Q")
        assert not app.editor.suggestion.startswith(first[1:])  # the old stream no longer draws
        assert app.editor.text == OPENING + "Q"

    run_app(app, scenario)


def test_unsaved_text_survives_a_kill_and_is_offered_back(
    assistant: CompositionAssistant, compose_settings: Settings, tmp_path: Path
) -> None:
    file = tmp_path / "letter.txt"
    file.write_text("Dear team,\n")
    first = ComposeApp(assistant, compose_settings, file)

    async def write_then_die(app: ComposeApp, pilot: Pilot) -> None:
        await type_text(pilot, "the release is on Friday")
        await wait_until(
            pilot,
            lambda: app.recovery.read() is not None and app.recovery.read().text.endswith("Friday"),
            "an autosave",
        )
        kept = tmp_path / "kept.json"
        shutil.copy(app.recovery.path, kept)  # what a kill -9 now would leave behind
        app.recovery.path.unlink()
        kept.rename(app.recovery.path)

    run_app(first, write_then_die)
    assert file.read_text() == "Dear team,\n"  # never saved
    second = ComposeApp(assistant, compose_settings, file)

    async def restore(app: ComposeApp, pilot: Pilot) -> None:
        await wait_until(pilot, lambda: isinstance(app.screen, RestoreScreen), "the offer to restore")
        await pilot.press("r")
        assert app.editor.text == "Dear team,\nthe release is on Friday"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not app.recovery.path.exists(), "the recovery file to go after saving")
        assert file.read_text() == "Dear team,\nthe release is on Friday"

    run_app(second, restore)


def test_with_memory_notes_show_and_with_the_cloud_stopped_suggestions_go_on(
    cloud_settings: Settings,
    embedder,
    query_embedder,
    tmp_path: Path,
    model_cache: Path,
) -> None:
    service = CloudService(cloud_settings, writer_kind=WriterKind.EXTRACTIVE, embedder=embedder)
    token = service.tokens.create("writer")
    server = LocalServer(service).__enter__()
    settings = cloud_settings.model_copy(
        update={
            "client": cloud_settings.client.model_copy(
                update={
                    "sync_interval_s": 0.3,
                    "request_poll_interval_s": 0.05,
                    "sync_max_backoff_s": 0.5,
                    "min_request_interval_s": 0.0,
                    "min_request_context_chars": 50,
                    "reselect_after_chars": 1,
                    "timeout_s": 5.0,
                    "max_retries": 0,
                }
            ),
            "compose": cloud_settings.compose.model_copy(
                update={"recovery_dir": tmp_path / "recovery", "status_refresh_s": 0.1}
            ),
        }
    )
    engine = SuggestionEngine(settings.engine, model_cache)
    memory = LocalMemory(tmp_path / "memory", query_embedder, ivf_threshold=50_000)
    assistant = CompositionAssistant(
        settings, engine, query_embedder, memory, CloudClient(server.url, token, timeout_s=5, max_retries=0)
    )
    assistant.start()
    app = ComposeApp(assistant, settings, None)
    text = (
        "Classes provide a means of bundling data and functionality together. Creating a new class "
        "creates a new type of object, allowing new instances of that type to be"
    )

    def status() -> str:
        return str(app.query_one(StatusBar).render())

    async def scenario(app: ComposeApp, pilot: Pilot) -> None:
        await pilot.press("f2")
        app.editor.insert(text[:-20])  # most of it pasted (Pilot takes 0.1 s a key), the rest typed
        await type_text(pilot, text[-20:])
        await wait_until(pilot, lambda: assistant.sync_status and assistant.sync_status.notes > 0, "notes synced")
        await wait_until(pilot, lambda: "synced" in status() and "notes" in status(), "the status to show the sync")
        # The next suggestions are made with those notes, and the panel shows them.
        await wait_until(pilot, lambda: assistant.notes_switch != "loading", "the new notes to be prefilled")
        await type_text(pilot, " made.")
        await wait_until(pilot, lambda: "from " in str(app.query_one("#notes").render()), "notes in the panel")
        server.__exit__(None, None, None)
        await pilot.press("f5")
        await wait_until(pilot, lambda: "offline since" in status(), "the status to say offline")
        asked = app.suggestions_started
        # Words no note or model would predict: the notes can be good enough that the writer types
        # straight through their ghost text, and then no new suggestion is needed (seen in CI).
        await type_text(pilot, " Zebras can have")
        await wait_until(
            pilot,
            lambda: app.suggestions_started > asked and app.editor.suggestion and not app.editor.streaming,
            "a suggestion while offline",
        )

    try:
        run_app(app, scenario, size=(140, 30))
    finally:
        assistant.close()
        engine.close()
        server.__exit__(None, None, None)
