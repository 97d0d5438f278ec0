"""Reading sample text from a corpus folder (by default Debian's Python 3.11 docs)."""

import re
from pathlib import Path

from shared.errors import InputError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(\"'])")


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
    """A document's text with reST markup lines (directives, labels, rules) dropped."""
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stripped = line.strip()
        if stripped.startswith(("..", ":", "===", "---", "***", "~~~", "^^^")) or set(stripped) <= set("=-~^*#+`'\""):
            if stripped:
                continue
        kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip() + "\n"


def cut_at_sentence(text: str, min_chars: int) -> str:
    """The shortest prefix of ``text`` of at least ``min_chars`` that ends a sentence."""
    for match in _SENTENCE_END.finditer(text):
        if match.start() >= min_chars:
            return text[: match.start()]
    return text[:min_chars]
