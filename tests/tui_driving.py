"""Driving the composition TUI as a writer would (Textual's Pilot): shared by its tests.

Every helper waits for what the writer would see; none times anything.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from client.tui.app import ComposeApp

WAIT_S = 60
Scenario = Callable[[ComposeApp, Pilot], Awaitable[None]]


def run_app(app: ComposeApp, scenario: Scenario, size: tuple[int, int] = (100, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(app, pilot)

    asyncio.run(main())


async def wait_until(pilot: Pilot, condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def settled(app: ComposeApp, pilot: Pilot) -> None:
    """Wait until a suggestion has finished streaming."""
    await wait_until(pilot, lambda: app.editor.suggestion and not app.editor.streaming, "a finished suggestion")


async def type_and_wait(app: ComposeApp, pilot: Pilot, text: str) -> str:
    """Type ``text``, wait for the suggestion that follows, and return its ghost text."""
    await type_text(pilot, text)
    await settled(app, pilot)
    return app.editor.suggestion
