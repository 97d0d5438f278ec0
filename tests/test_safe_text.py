"""Untrusted text cannot drive the terminal."""

from shared.safe_text import terminal_safe


def test_escape_and_control_sequences_are_removed() -> None:
    hostile = "ok\x1b[2J\x1b]0;pwned\x07 red\x1b[31m!\x1bc bell\x07 nul\x00 c1\x9b end\x1b(B"
    assert terminal_safe(hostile) == "ok red! bell nul c1 end"


def test_ordinary_text_passes_unchanged() -> None:
    text = "Café – naïve “quotes”, tabs\tand\nnewlines; 日本語 ✓"
    assert terminal_safe(text) == text
