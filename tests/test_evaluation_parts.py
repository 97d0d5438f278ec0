"""The evaluation's cases and metrics, on real text (no model)."""

from pathlib import Path

import pytest

from evaluation.cases import (
    MAX_PREFIX_CHARS,
    MIN_STALE_CHARS,
    STALE_LAG_CHARS,
    EvalCase,
    document_prose,
    earlier_cut,
    make_cases,
    read_cases,
    write_cases,
)
from evaluation.metrics import (
    bleu,
    bootstrap_interval,
    gleu,
    next_word_exact,
    replay_keystrokes,
    rouge_l,
)
from evaluation.runner import left_the_words
from shared.errors import InputError
from shared.settings import PYTHON_DOCS_DIR
from tests.test_cli import hybridrag


def test_cases_are_deterministic_and_cut_after_a_sentence(tmp_path: Path) -> None:
    corpus = PYTHON_DOCS_DIR / "tutorial"
    cases = make_cases(corpus, 12, seed=3, eval_split_only=False)
    assert cases == make_cases(corpus, 12, seed=3, eval_split_only=False)
    assert cases != make_cases(corpus, 12, seed=4, eval_split_only=False)
    assert len(cases) == 12 and len({case.doc_id for case in cases}) == 12  # one per document while they last
    for case in cases:
        assert (corpus / case.doc_id).is_file()
        assert case.prefix.rstrip()[-1] in ".!?" and case.prefix.endswith(" ")
        assert 20 <= len(case.reference.split()) <= 40 and "\n" not in case.reference
        assert "``" not in case.reference and ":func:" not in case.reference  # markup removed
    write_cases(tmp_path / "cases.jsonl", cases)
    assert read_cases(tmp_path / "cases.jsonl") == cases


def test_cases_come_from_any_folder_of_text(tmp_path: Path) -> None:
    sentence = "The river rose slowly through the night, and by morning the lower fields were under water. "
    (tmp_path / "story.md").write_text("# A flood\n\n" + sentence * 12 + "\n\n" + sentence * 3)
    cases = make_cases(tmp_path, 2, eval_split_only=False)
    assert {case.doc_id for case in cases} == {"story.md"} and len(cases) == 2
    with pytest.raises(InputError, match="longer text files"):
        (tmp_path / "story.md").write_text("Too short.")
        make_cases(tmp_path, 1, eval_split_only=False)


def test_a_bad_cases_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"doc_id": "a", "prefix": "x", "reference": "y"}\n{"doc_id": "b"}\n')
    with pytest.raises(InputError, match=r"cases.jsonl:2"):
        read_cases(path)
    with pytest.raises(InputError, match="--make-cases"):
        read_cases(tmp_path / "missing.jsonl")
    write_cases(path.with_name("ok.jsonl"), [EvalCase("a", "x", "y")])
    assert read_cases(path.with_name("ok.jsonl")) == [EvalCase("a", "x", "y")]


def test_metrics_agree_with_hand_computed_values() -> None:
    reference = "the cat sat on the mat"
    assert rouge_l(reference, reference) == 1.0 and rouge_l("dogs bark", reference) == 0.0
    assert rouge_l("the cat is on the mat", reference) == pytest.approx(5 / 6)  # LCS 5 of 6 words each way
    assert bleu(reference, reference) == pytest.approx(1.0) and bleu("", reference) == 0.0
    assert gleu(reference, reference) == pytest.approx(1.0) and 0 < gleu("the cat is", reference) < 1
    assert next_word_exact(" The dog", "the cat") and not next_word_exact("a cat", "the cat")


def test_keystroke_replay_accepts_only_what_is_right() -> None:
    reference = " sat on the mat"
    perfect = replay_keystrokes("The cat", reference, lambda text: reference[len(text) - len("The cat") :])
    assert perfect.typed == 4 and perfect.accepted_words == 4 and perfect.suggestions == 1  # one accept per word
    useless = replay_keystrokes("The cat", reference, lambda _: " barked loudly")
    assert useless.typed == len(reference) and useless.savings == 0.0 and useless.suggestions == 4
    partly = replay_keystrokes("The cat", reference, lambda text: " sat down" if text.endswith("cat") else " zzz")
    assert partly.typed == 1 + len(" on") + len(" the") + len(" mat") and partly.accepted_words == 1
    assert 0 < partly.savings < perfect.savings


def test_bootstrap_interval_brackets_the_mean() -> None:
    values = [0.1, 0.4, 0.35, 0.2, 0.5, 0.3, 0.25, 0.45]
    low, high = bootstrap_interval(values)
    assert low < sum(values) / len(values) < high and bootstrap_interval(values) == (low, high)


def test_stale_memory_is_asked_for_an_earlier_sentence_end() -> None:
    prefix = "".join(f"Sentence number {index} says a little more about the topic at hand. " for index in range(20))
    earlier = earlier_cut(prefix)
    assert prefix.startswith(earlier) and earlier.endswith(".")
    assert MIN_STALE_CHARS <= len(earlier) <= len(prefix.rstrip()) - STALE_LAG_CHARS
    short = "A short text without many sentence ends, only words that go on and on " * 4
    assert MIN_STALE_CHARS - 20 <= len(earlier_cut(short)) <= MIN_STALE_CHARS and short.startswith(earlier_cut(short))


def test_code_listings_are_not_part_of_a_cases_prose() -> None:
    prose = document_prose(PYTHON_DOCS_DIR / "tutorial" / "controlflow.rst.txt")
    assert prose and ">>>" not in prose and "for Statements\n\nThe for statement" in prose  # headings stay paragraphs
    assert all(
        len(case.prefix) <= MAX_PREFIX_CHARS + 1
        for case in make_cases(PYTHON_DOCS_DIR / "tutorial", 10, eval_split_only=False)
    )


def test_a_replayed_suggestion_stops_once_it_leaves_the_reference() -> None:
    wanted = ["the", "class", "inheritance", "mechanism"]
    assert not left_the_words(" the cla", wanted) and not left_the_words(" the class ", wanted)
    assert left_the_words(" the cat", wanted) and left_the_words(" a ", wanted)  # a word went wrong
    assert left_the_words(" the class inheritance mechanism ", wanted)  # everything left was suggested


def test_eval_refuses_bad_arguments_before_loading_anything(tmp_path: Path) -> None:
    corpus = PYTHON_DOCS_DIR / "tutorial"
    neither = hybridrag("eval", "--corpus", str(corpus), cache=tmp_path)
    assert neither.returncode != 0 and "exactly one of --cases FILE or --make-cases N" in neither.stderr
    unknown = hybridrag(
        "eval", "--corpus", str(corpus), "--make-cases", "2", "--systems", "client,psychic", cache=tmp_path
    )
    assert unknown.returncode != 0 and "Unknown system(s) psychic" in unknown.stderr
    (tmp_path / "cases.jsonl").write_text('{"doc_id": "nowhere.rst.txt", "prefix": "x", "reference": "y"}\n')
    elsewhere = hybridrag("eval", "--corpus", str(corpus), "--cases", str(tmp_path / "cases.jsonl"), cache=tmp_path)
    assert elsewhere.returncode != 0 and "name documents not in" in elsewhere.stderr
