"""Evaluation cases, as in HybridRAG: a document's first part is the writer's prefix, cut after a
sentence; the next sentence or two (about 32 tokens) are the reference a suggestion is scored against.

Made deterministically (seeded) from any corpus folder that ingest reads; kept as
JSONL {doc_id, prefix, reference} so a run can be repeated on the same cases.
"""

import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cloud.datastore.documents import DocumentKind, Skipped, read_document, readable
from shared.corpus import read_prose, sentence_ends
from shared.document_split import is_eval_document
from shared.errors import InputError

MIN_PREFIX_CHARS = 400  # enough context for the model and for the cloud's retrieval
MAX_PREFIX_CHARS = 1600  # "the document's first part": about 400 tokens, which keeps 4 prompts per case affordable
STALE_LAG_CHARS = 400  # hybrid-stale's notes were asked for this much earlier (two or three sentences)
MIN_STALE_CHARS = 200  # the client sends no shorter context (client.min_request_context_chars)
REFERENCE_MIN_WORDS = 20
REFERENCE_MAX_WORDS = 40  # about 32 tokens of reference, as in the paper
MAX_FILE_BYTES = 4 << 20
CODE_PROMPTS = (">>>", "...", "$ ")  # interactive sessions
PROSE_WORD_SHARE = 0.85  # of a reference's words that have letters in them


@dataclass(frozen=True)
class EvalCase:
    doc_id: str  # the document's path relative to the corpus folder: its chunks are kept out of the case's datastore
    prefix: str
    reference: str


def make_cases(corpus_dir: Path, count: int, seed: int = 0, eval_split_only: bool = True) -> list[EvalCase]:
    """``count`` cases from the documents under ``corpus_dir``, one per document while documents last.

    Only documents of the evaluation split are used (shared/document_split.py), so the
    memory adapter's training never saw them; a corpus nothing was trained on may use all.
    """
    if count < 1:
        raise InputError("Make at least one case: --make-cases N with N >= 1.")
    files = sorted(
        path
        for path in corpus_dir.rglob("*")
        if path.is_file() and (not eval_split_only or is_eval_document(str(path.relative_to(corpus_dir))))
    )
    rng = random.Random(seed)
    rng.shuffle(files)
    cuts = {path: _cuts(prose) for path in files if (prose := document_prose(path))}
    cuts = {path: found for path, found in cuts.items() if found}
    if not cuts:
        raise InputError(
            f"No document under {corpus_dir} has a {MIN_PREFIX_CHARS}-character prefix followed by "
            f"{REFERENCE_MIN_WORDS} words of prose: give a folder of longer text files."
        )
    cases: list[EvalCase] = []
    while len(cases) < count and any(cuts.values()):
        for path, found in cuts.items():
            if found and len(cases) < count:
                prefix, reference = found.pop(rng.randrange(len(found)))
                cases.append(EvalCase(str(path.relative_to(corpus_dir)), prefix, reference))
    return cases


def document_text(path: Path) -> tuple[str, DocumentKind] | None:
    """A document's text with its markup dropped (reST: directives; HTML: tags), code still in; None if skipped."""
    document = read_document(path, MAX_FILE_BYTES)
    if isinstance(document, Skipped):
        return None
    return (read_prose(path) if document.kind is DocumentKind.REST else document.text), document.kind


def document_prose(path: Path) -> str | None:
    """A document's prose as a writer would type it: markup removed, a paragraph per line, code left out."""
    read = document_text(path)
    if read is None:
        return None
    raw, kind = read
    paragraphs = []
    for block in re.split(r"\n\s*\n", raw):
        lines = block.splitlines()
        if any(line[:1].isspace() or line.lstrip().startswith(CODE_PROMPTS) for line in lines if line.strip()):
            continue  # a code listing or an indented block: not prose a writer composes
        text = " ".join(readable(block, kind).split())
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


def _cuts(prose: str) -> list[tuple[str, str]]:
    """Every (prefix, reference) of a document: cut after a sentence, the reference within one paragraph."""
    found = []
    for end, next_start in sentence_ends(prose):
        if end < MIN_PREFIX_CHARS:
            continue
        if end > MAX_PREFIX_CHARS:
            break
        paragraph = prose[next_start:].split("\n", 1)[0]
        reference = reference_after(paragraph)
        if reference and looks_like_prose(prose[max(0, end - 200) : end]) and looks_like_prose(reference):
            found.append((prose[:end] + " ", reference))
    return found


def reference_after(paragraph: str) -> str | None:
    """The next sentences up to about 32 tokens, or None when the paragraph is too short."""
    words = paragraph.split(" ")
    if len([word for word in words if word]) < REFERENCE_MIN_WORDS:
        return None
    taken: list[str] = []
    for end, _ in sentence_ends(paragraph):  # whole sentences while they fit
        sentence_words = paragraph[:end].split(" ")
        if len(sentence_words) > REFERENCE_MAX_WORDS:
            break
        taken = sentence_words
        if len(taken) >= REFERENCE_MIN_WORDS:
            break
    if len(taken) < REFERENCE_MIN_WORDS:
        taken = words[:REFERENCE_MAX_WORDS]  # one long sentence: cut on a word
    return " ".join(taken)


def looks_like_prose(text: str) -> bool:
    """Not a table or a code listing that lost its layout: words, mostly made of letters."""
    words = text.split()
    return "|" not in text and sum(any(ch.isalpha() for ch in word) for word in words) >= PROSE_WORD_SHARE * len(words)


def earlier_cut(prefix: str) -> str:
    """The writer's text as it was when the memory in use was asked for: a sentence end ``STALE_LAG_CHARS`` back.

    This is the lag of asynchronous memory: notes arrive for text the writer has since moved past.
    """
    target = len(prefix.rstrip()) - STALE_LAG_CHARS
    ends = [end for end, _ in sentence_ends(prefix) if MIN_STALE_CHARS <= end <= target]
    if ends:
        return prefix[: ends[-1]]
    cut = max(MIN_STALE_CHARS, target)
    return prefix[:cut].rsplit(" ", 1)[0] if " " in prefix[:cut] else prefix[:cut]


def with_oracle_note(notes: Sequence[str], reference: str, seed_text: str) -> list[str]:
    """``notes`` with ``reference`` among them at a place chosen by ``seed_text``: the oracle's memory block.

    The evaluation's oracle and the adapter's training examples place it the same way,
    anywhere in the block, so position says nothing about which note holds the answer.
    """
    placed = list(notes)
    placed.insert(random.Random(seed_text).randrange(len(placed) + 1), reference)
    return placed


def write_cases(path: Path, cases: list[EvalCase]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(asdict(case)) + "\n" for case in cases), encoding="utf-8")


def read_cases(path: Path) -> list[EvalCase]:
    """Cases from a JSONL file; an error names the line and what is wrong with it."""
    if not path.is_file():
        raise InputError(f"No cases file {path}: make one with --make-cases N.")
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            case = EvalCase(str(record["doc_id"]), str(record["prefix"]), str(record["reference"]))
        except (ValueError, KeyError, TypeError) as problem:
            raise InputError(
                f"{path}:{number}: not a case ({problem}); each line is JSON with doc_id, prefix, reference."
            ) from None
        if not case.prefix.strip() or not case.reference.strip():
            raise InputError(f"{path}:{number}: the prefix and the reference must both have text.")
        cases.append(case)
    if not cases:
        raise InputError(f"{path} has no cases.")
    return cases
