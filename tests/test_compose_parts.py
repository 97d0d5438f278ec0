"""The composition TUI's parts that need no model: ghost text, the prefix cache, the debounce, recovery."""

import json
from pathlib import Path

import pytest

from client.sync.memory_sync import SyncState, SyncStatus
from client.tui.adaptive_debounce import AdaptiveDebounce
from client.tui.ghost_text import AnchoredCompletion, SuggestionCache, displayable, first_word
from client.tui.recovery import RecoveryFile
from client.tui.status_bar import StatusFacts, memory_part, status_text
from shared.protocol import IndexingProgress
from shared.settings import ComposeSettings


def test_ghost_follows_typing_through_and_backspacing_inside() -> None:
    completion = AnchoredCompletion("The cat", " sat on the mat.")
    assert completion.ghost_for("The cat") == " sat on the mat."
    assert completion.ghost_for("The cat sa") == "t on the mat."
    assert completion.ghost_for("The cat sat on the mat.") == ""
    assert completion.ghost_for("The cat so") is None  # typed something else
    assert completion.ghost_for("The ca") is None  # backspaced past the anchor
    assert completion.ghost_for("A cat sa") is None  # same length, earlier text differs


def test_cache_finds_a_suggestion_by_the_text_before_the_cursor() -> None:
    cache = SuggestionCache(capacity=2)
    cache.put(AnchoredCompletion("Dear team,", " thank you for"))
    found = cache.ghost_for("Dear team, thank")
    assert found is not None and found[1] == " you for"
    assert cache.ghost_for("Dear team, thanks") is None
    assert cache.ghost_for("Dear team, thank you for") is None  # all typed: nothing left to show
    long_anchor = "x" * 1000 + "Dear team,"  # anchors longer than the key's tail are compared whole
    cache.put(AnchoredCompletion(long_anchor, " hello"))
    assert cache.ghost_for("y" * 1000 + "Dear team, he") is None
    assert cache.ghost_for(long_anchor + " he") is not None


def test_cache_drops_the_least_recently_used() -> None:
    cache = SuggestionCache(capacity=2)
    for anchor in ("one", "two"):
        cache.put(AnchoredCompletion(anchor, " more"))
    assert cache.ghost_for("one") is not None  # "one" is now the most recently used
    cache.put(AnchoredCompletion("three", " more"))
    assert len(cache) == 2 and cache.ghost_for("two") is None and cache.ghost_for("one") is not None
    empty = SuggestionCache(capacity=0)
    empty.put(AnchoredCompletion("one", " more"))
    assert len(empty) == 0


def test_model_output_never_reaches_the_terminal_as_control_sequences() -> None:
    hostile = "ok\x1b]0;pwned\x07 \x1b[2J\x1b[31mred\x9b\x07\x08 tab\tand\nsecond line"
    shown = displayable(hostile)
    assert shown == "ok red tab and"
    assert all(ch.isprintable() for ch in shown)
    status = status_text(
        StatusFacts(SyncStatus(state=SyncState.REFUSED, last_error="bad\x1b[2Jtoken"), None, None, "q8q4", 75, True)
    )
    assert "\x1b" not in status.plain and "badtoken" in status.plain


def test_one_word_accept_takes_the_leading_space_and_the_word_with_its_punctuation() -> None:
    assert first_word(" world, and more") == " world,"
    assert first_word("ing the") == "ing"
    assert first_word("   ") == "   "


def test_debounce_starts_near_75_ms_and_adapts_to_the_writer_and_the_engine() -> None:
    settings = ComposeSettings()
    debounce = AdaptiveDebounce(settings)
    assert debounce.delay_s == pytest.approx(0.075)
    for i in range(50):  # a steady 200 ms between keys
        debounce.key_pressed(now=i * 0.2)
    assert debounce.delay_s == pytest.approx(settings.debounce_typing_factor * 0.2, rel=0.01)
    debounce.key_pressed(now=100.0)  # a long pause is not part of the rhythm
    assert debounce.delay_s == pytest.approx(settings.debounce_typing_factor * 0.2, rel=0.01)
    for i in range(50):  # a fast typist
        debounce.key_pressed(now=200 + i * 0.01)
    assert debounce.delay_s == pytest.approx(settings.debounce_min_ms / 1000)
    for _ in range(50):  # ... on a slow engine
        debounce.suggestion_served(first_token_ms=2000)
    assert debounce.delay_s == pytest.approx(settings.debounce_max_ms / 1000)


def test_recovery_file_round_trip_and_one_file_per_edited_file(tmp_path: Path) -> None:
    untitled = RecoveryFile(tmp_path / "recovery", None)
    assert untitled.read() is None
    untitled.write("draft one")
    untitled.write("draft two")
    recovered = untitled.read()
    assert recovered is not None and recovered.text == "draft two" and recovered.file is None
    mine = RecoveryFile(tmp_path / "recovery", tmp_path / "a" / "notes.md")
    other = RecoveryFile(tmp_path / "recovery", tmp_path / "b" / "notes.md")
    assert len({untitled.path, mine.path, other.path}) == 3
    mine.write("mine")
    assert other.read() is None and json.loads(mine.path.read_text())["file"].endswith("a/notes.md")
    untitled.discard()
    assert untitled.read() is None and not list((tmp_path / "recovery").glob(".*partial"))


def test_a_damaged_recovery_file_is_left_alone(tmp_path: Path) -> None:
    recovery = RecoveryFile(tmp_path, None)
    recovery.path.write_text("{ not json")
    assert recovery.read() is None and recovery.path.exists()  # a person may still want what is in it


def test_status_shows_sync_state_version_and_offline_time() -> None:
    assert "memory off" in memory_part(None, None).plain
    offline = memory_part(SyncStatus(state=SyncState.OFFLINE, version=7, notes=12), "loading").plain
    assert "memory v7 · 12 notes" in offline and "offline since" in offline and "new notes loading" in offline
    filling = SyncStatus(
        state=SyncState.SYNCED, cloud_indexing=IndexingProgress(phase="embedding", files_done=1200, files_total=3400)
    )
    assert "cloud indexing 1,200/3,400 files" in memory_part(filling, None).plain
