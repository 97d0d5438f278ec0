"""The real corpora the memory adapter is trained on, and the one it never sees.

Each is a Debian documentation package (``scripts/train_adapter`` installs them). Only
training-split documents are taken, a seeded sample of each corpus, copied into a
folder of their own so the datastore indexes nothing else: no note can come from an
evaluation document.
"""

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from shared.document_split import Split, split_of
from shared.errors import InputError


@dataclass(frozen=True)
class Corpus:
    name: str
    debian_package: str
    root: Path
    pattern: str
    max_documents: int
    skip_parts: tuple[str, ...] = ()

    def documents(self) -> list[Path]:
        if not self.root.is_dir():
            raise InputError(
                f"The {self.name} corpus is not installed ({self.root}): apt-get install {self.debian_package}."
            )
        return sorted(
            path
            for path in self.root.glob(self.pattern)
            if path.is_file() and not set(path.relative_to(self.root).parts) & set(self.skip_parts)
        )


TRAINING_CORPORA = (
    Corpus("python", "python3.11-doc", Path("/usr/share/doc/python3.11/html/_sources"), "**/*.rst.txt", 400),
    Corpus("postgresql", "postgresql-doc-15", Path("/usr/share/doc/postgresql-doc-15/html"), "*.html", 300),
    Corpus(
        "django",
        "python-django-doc",
        Path("/usr/share/doc/python-django-doc/html"),
        "**/*.html",
        250,
        ("_modules", "_static", "_sources", "genindex.html", "py-modindex.html", "search.html"),
    ),
    Corpus("git", "git-doc", Path("/usr/share/doc/git-doc"), "*.html", 200),
)
# The Python docs pages whose plain-text perplexity scripts/bench_engine.py measures: the
# adapter is held close to the base model on plain text, but never on these pages.
PERPLEXITY_DOCUMENTS = ("tutorial/classes", "howto/logging", "reference/datamodel", "library/functions")
NEVER_TRAINED = Corpus("sqlite", "sqlite3-doc", Path("/usr/share/doc/sqlite3"), "**/*.html", 10_000)


def training_documents(corpus: Corpus, seed: int) -> list[Path]:
    """A seeded sample of the corpus's training-split documents."""
    kept = [path for path in corpus.documents() if split_of(str(path.relative_to(corpus.root))) is Split.TRAIN]
    random.Random(f"{seed}:{corpus.name}").shuffle(kept)
    return sorted(kept[: corpus.max_documents])


def copy_documents(corpus: Corpus, documents: list[Path], folder: Path) -> Path:
    """The sample as a folder of its own (same relative paths), for the datastore to ingest."""
    for path in documents:
        target = folder / path.relative_to(corpus.root)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return folder
