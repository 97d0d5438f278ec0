"""Token healing: backing up over the unfinished word and re-spelling it."""

import numpy as np
import pytest

from client.engine.token_healing import Vocabulary, healing_step, split_unfinished_word

PIECES = [
    b"",
    b"It",
    b" has",
    b" a",
    b" wide",
    b" ",
    b" wi",
    b"de",
    b" ret",
    b"ur",
    b"urn",
    b" return",
    b",",
    b" w",
    b"wide",
]
TOKEN = {piece: token for token, piece in enumerate(PIECES) if piece}
BOS = 0


@pytest.fixture
def vocabulary() -> Vocabulary:
    return Vocabulary(PIECES)


def ids(*pieces: bytes) -> list[int]:
    return [BOS] + [TOKEN[piece] for piece in pieces]


def test_finds_tokens_by_prefix(vocabulary: Vocabulary) -> None:
    assert {PIECES[t] for t in vocabulary.starting_with(b" w")} == {b" w", b" wi", b" wide"}
    assert {PIECES[t] for t in vocabulary.starting_with(b"ur")} == {b"ur", b"urn"}
    assert {PIECES[t] for t in vocabulary.proper_prefixes_of(b" wide")} == {b" ", b" w", b" wi"}
    assert len(vocabulary.starting_with(b"zzz")) == 0


def test_a_trailing_space_is_healed(vocabulary: Vocabulary) -> None:
    prompt, healed = split_unfinished_word(ids(b"It", b" has", b" a", b" wide", b" "), vocabulary, max_tokens=3)
    assert prompt == ids(b"It", b" has", b" a", b" wide")
    assert healed == b" "


def test_a_word_split_over_tokens_is_healed_back_to_its_start(vocabulary: Vocabulary) -> None:
    prompt, healed = split_unfinished_word(ids(b"It", b" ret", b"ur"), vocabulary, max_tokens=3)
    assert prompt == ids(b"It")
    assert healed == b" retur"


def test_punctuation_is_not_healed(vocabulary: Vocabulary) -> None:
    tokens = ids(b"It", b",")
    assert split_unfinished_word(tokens, vocabulary, max_tokens=3) == (tokens, b"")


def test_healing_is_bounded_and_keeps_bos(vocabulary: Vocabulary) -> None:
    prompt, healed = split_unfinished_word(ids(b"ur", b"ur", b"ur"), vocabulary, max_tokens=2)
    assert prompt == ids(b"ur") and healed == b"urur"
    prompt, healed = split_unfinished_word(ids(b"It"), vocabulary, max_tokens=3)
    assert prompt == [BOS] and healed == b"It"


def test_healing_step_takes_the_likeliest_agreeing_token(vocabulary: Vocabulary) -> None:
    logits = np.zeros(len(PIECES), dtype=np.float32)
    logits[TOKEN[b","]] = 9.0  # likeliest overall, but it cannot re-spell " wi"
    logits[TOKEN[b" wide"]] = 5.0
    token, new_text, remaining = healing_step(logits, vocabulary, b" wi")
    assert (PIECES[token], new_text, remaining) == (b" wide", b"de", b"")


def test_healing_step_may_take_a_shorter_piece_first(vocabulary: Vocabulary) -> None:
    logits = np.zeros(len(PIECES), dtype=np.float32)
    logits[TOKEN[b" ret"]] = 5.0
    token, new_text, remaining = healing_step(logits, vocabulary, b" retur")
    assert (PIECES[token], new_text, remaining) == (b" ret", b"", b"ur")
    logits[TOKEN[b"urn"]] = 6.0
    token, new_text, remaining = healing_step(logits, vocabulary, remaining)
    assert (PIECES[token], new_text, remaining) == (b"urn", b"n", b"")
