"""Reading sample text from a corpus folder (by default Debian's Python 3.11 docs)."""

import re
from pathlib import Path

from shared.errors import InputError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(\"'])")
_DIRECTIVE = re.compile(r"^\.\.( |$)")  # ".. note::", ".. _label:", comments
_FIELD = re.compile(r"^:[\w -]+:(\s|$)")  # ":synopsis: ...", ":noindex:"
_RULE = set("=-~^*#+`'\"")  # section underlines and overlines

SAMPLE_DOCUMENT = "tutorial/appetite.rst.txt"
SAMPLE_WORDS_INTO_NEXT_SENTENCE = 5


def corpus_files(corpus_dir: Path, pattern: str = "**/*.rst.txt") -> list[Path]:
    """The corpus files in a stable order, or an error that says how to get them."""
    files = sorted(p for p in corpus_dir.glob(pattern) if p.is_file())
    if not files:
        raise InputError(
            f"No corpus files matching {pattern} under {corpus_dir}. Fix: apt-get install python3.11-doc, "
            "or point corpus_dir (HYBRIDRAG_CORPUS_DIR) at a folder of text files."
        )
    return files


def read_prose(path: Path) -> str:
    """A reST document as a writer would type it: markup dropped, paragraphs unwrapped.

    The docs are hard-wrapped at about 80 columns; a writer's editor soft-wraps, so a
    paragraph becomes one line. Indented blocks (code, quotes) keep their lines.
    """
    paragraphs = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
        lines = [line.rstrip() for line in block.splitlines() if line.strip()]
        if not lines or _DIRECTIVE.match(lines[0]):
            continue
        lines = [line for line in lines if not _is_markup_line(line)]
        if not lines:
            continue
        indented = any(line[:1].isspace() for line in lines)
        paragraphs.append("\n".join(lines) if indented else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs) + "\n"


def _is_markup_line(line: str) -> bool:
    return bool(_DIRECTIVE.match(line) or _FIELD.match(line)) or set(line.strip()) <= _RULE


def sentence_ends(text: str) -> list[tuple[int, int]]:
    """(end of a sentence, start of the next) for every sentence boundary in ``text``."""
    return [(match.start(), match.end()) for match in _SENTENCE_END.finditer(text)]


def cut_at_sentence(text: str, min_chars: int) -> str:
    """The shortest prefix of ``text`` of at least ``min_chars`` that ends a sentence."""
    for match in _SENTENCE_END.finditer(text):
        if match.start() >= min_chars:
            return text[: match.start()]
    return text[:min_chars]


def sample_text(corpus_dir: Path, min_chars: int = 1200) -> str:
    """A prose prefix from the corpus, cut after a sentence: text to continue in demos."""
    preferred = corpus_dir / SAMPLE_DOCUMENT
    path = preferred if preferred.is_file() else corpus_files(corpus_dir)[0]
    prose = read_prose(path)
    prefix = cut_at_sentence(prose, min_chars)
    # Stop a few words into the next sentence: the model then has a thought to finish.
    next_words = prose[len(prefix) :].split(" ")[: 1 + SAMPLE_WORDS_INTO_NEXT_SENTENCE]
    return prefix + " ".join(next_words)
