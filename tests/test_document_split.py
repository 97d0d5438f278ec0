"""The one document split: evaluation documents never reach the adapter's training."""

from pathlib import Path

from evaluation.cases import make_cases, read_cases
from shared.document_split import EVAL_SHARE, Split, is_eval_document, split_of
from shared.settings import PYTHON_DOCS_DIR
from training.corpora import TRAINING_CORPORA, training_documents

REPORTS = Path(__file__).parent.parent / "reports"


def test_the_split_is_a_stable_function_of_the_document_id() -> None:
    assert split_of("library/json.rst.txt") is split_of("library/json.rst.txt")
    assert split_of("library\\json.rst.txt") is split_of("library/json.rst.txt")
    documents = [str(p.relative_to(PYTHON_DOCS_DIR)) for p in PYTHON_DOCS_DIR.rglob("*.rst.txt")]
    share = sum(map(is_eval_document, documents)) / len(documents)
    assert abs(share - EVAL_SHARE) < 0.06


def test_training_takes_no_evaluation_document() -> None:
    python = next(corpus for corpus in TRAINING_CORPORA if corpus.name == "python")
    chosen = training_documents(python, seed=0)
    assert chosen and all(split_of(str(path.relative_to(python.root))) is Split.TRAIN for path in chosen)


def test_evaluation_cases_come_from_the_evaluation_split_only(tmp_path: Path) -> None:
    made = make_cases(PYTHON_DOCS_DIR / "tutorial", 6, seed=1)
    assert made and all(is_eval_document(case.doc_id) for case in made)
    committed = read_cases(REPORTS / "eval.cases.jsonl")
    assert all(is_eval_document(case.doc_id) for case in committed)
