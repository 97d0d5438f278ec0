"""Incremental tokenization gives exactly the whole text's tokens, and re-reads only edits."""

import pytest

from client.engine import SuggestionEngine
from client.engine.incremental_tokenizer import IncrementalTokenizer, cuts_are_token_stable
from shared.corpus import corpus_files, read_prose
from shared.settings import PYTHON_DOCS_DIR


def whole(engine: SuggestionEngine, text: str) -> list[int]:
    return engine._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)


@pytest.mark.slow
def test_gemma_vocabulary_allows_the_cuts(engine: SuggestionEngine) -> None:
    assert engine._tokenizer.cuts_are_safe


@pytest.mark.slow
def test_matches_whole_text_tokenization_on_the_corpus(engine: SuggestionEngine) -> None:
    files = corpus_files(PYTHON_DOCS_DIR)[::10]  # 50 documents, raw reST and as prose
    for path in files:
        for text in (path.read_text(encoding="utf-8", errors="replace"), read_prose(path)):
            assert engine.tokenize(text) == whole(engine, text), path


@pytest.mark.slow
def test_matches_after_edits_anywhere(engine: SuggestionEngine, docs_text: str) -> None:
    text = docs_text
    middle = len(text) // 2
    edits = [
        text + " And one more",  # typing at the end
        text[:middle] + "inserted words. " + text[middle:],  # an edit in the middle
        text[:middle] + text[middle + 40 :],  # a deletion across a sentence end
        text.replace("\n", " \n", 3),  # white space before line ends
        "  leading spaces.\n\n\nThree newlines. Ünïcödé — “quotes”!  Two spaces.",
    ]
    for edited in edits:
        assert engine.tokenize(edited) == whole(engine, edited)


def test_only_changed_pieces_are_tokenized_again() -> None:
    calls: list[str] = []

    def tokenize_piece(piece: str) -> list[int]:
        calls.append(piece)
        return [len(piece)]

    tokenizer = IncrementalTokenizer(tokenize_piece, bos=[1], cuts_are_safe=True)
    tokenizer.tokenize("One sentence. Another one.\nA new line")
    assert calls == ["One sentence.", " Another one.\n", "A new line"]
    calls.clear()
    tokenizer.tokenize("One sentence. Another one.\nA new line, longer")
    assert calls == ["A new line, longer"]


def test_unsafe_vocabularies_fall_back_to_whole_text() -> None:
    assert not cuts_are_token_stable(is_spm=False, pieces=[b"a", b" b"])
    assert not cuts_are_token_stable(is_spm=True, pieces=[b"a", b".\xc2\xa0", b"\nThe"])
    assert not cuts_are_token_stable(is_spm=True, pieces=[b"a", b". "])
    assert cuts_are_token_stable(is_spm=True, pieces=[b"a", b" the", b"\n\n", b"."])
    calls: list[str] = []

    def tokenize(text: str) -> list[int]:
        calls.append(text)
        return [0]

    tokenizer = IncrementalTokenizer(tokenize, bos=[], cuts_are_safe=False)
    tokenizer.tokenize("One. Two.\nThree")
    assert calls == ["One. Two.\nThree"]
