"""Suggestions before memory prefill on the cores, and a suggestion lending its turn to one prefill chunk."""

import threading

from client.engine.background_prefill import CorePriority

WAIT_S = 30  # generous: every wait below ends on an event, never on the clock


def _waiting_chunk(priority: CorePriority, log: list[str]) -> threading.Thread:
    """A background chunk started while a suggestion holds the cores; it logs when it runs."""

    def chunk() -> None:
        with priority.background():
            log.append("chunk")

    thread = threading.Thread(target=chunk, daemon=True)
    thread.start()
    with priority._changed:
        assert priority._changed.wait_for(lambda: priority._background_waiting == 1, timeout=WAIT_S)
    return thread


def test_a_chunk_waits_for_the_suggestion_and_runs_when_it_lends_its_turn() -> None:
    priority, log = CorePriority(), list[str]()
    with priority.foreground():
        chunk = _waiting_chunk(priority, log)
        assert log == []  # the suggestion holds the cores
        priority.lend_turn()
        assert log == ["chunk"]  # lend_turn returns after the chunk ran
        log.append("next token")
    chunk.join(WAIT_S)
    assert log == ["chunk", "next token"]


def test_lending_with_no_chunk_waiting_returns_at_once() -> None:
    priority = CorePriority()
    with priority.foreground():
        priority.lend_turn()  # would hang if it waited for a chunk


def test_a_newer_suggestion_waiting_keeps_the_turn_from_the_chunk() -> None:
    priority, log = CorePriority(), list[str]()
    newer_holds, newer_done = threading.Event(), threading.Event()

    def newer_suggestion() -> None:
        with priority.foreground():
            newer_holds.set()
            newer_done.wait(WAIT_S)

    newer = threading.Thread(target=newer_suggestion, daemon=True)
    with priority.foreground():
        chunk = _waiting_chunk(priority, log)
        newer.start()
        with priority._changed:
            assert priority._changed.wait_for(lambda: priority._foreground == 2, timeout=WAIT_S)
        priority.lend_turn()
        assert log == []  # the newer keystroke goes first
    assert newer_holds.wait(WAIT_S) and log == []  # the newer suggestion holds the cores now
    newer_done.set()
    newer.join(WAIT_S)
    chunk.join(WAIT_S)
    assert log == ["chunk"]  # and the chunk runs once no suggestion is left
