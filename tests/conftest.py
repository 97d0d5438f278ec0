"""Shared fixtures: hermetic settings and one real engine per test session."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Models load from site-packages only; a test must never reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _hermetic_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own config file or HYBRIDRAG_* variables."""
    for name in list(os.environ):
        if name.startswith("HYBRIDRAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HYBRIDRAG_CONFIG", str(tmp_path / "absent-config.toml"))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the assembled Gemma GGUF, shared by the session."""
    from shared.model_files import default_gguf_path

    cache = tmp_path_factory.mktemp("cache")
    default_gguf_path(cache)
    return cache


@pytest.fixture(scope="session")
def engine(model_cache: Path) -> Iterator["SuggestionEngine"]:  # noqa: F821
    """The real engine with the default (q8q4) preset, loaded once."""
    from client.engine import SuggestionEngine
    from shared.settings import EngineSettings

    loaded = SuggestionEngine(EngineSettings(), model_cache)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def docs_text() -> str:
    """About 4,000 characters of real prose from the Python docs."""
    from shared.corpus import read_prose
    from shared.settings import PYTHON_DOCS_DIR

    path = PYTHON_DOCS_DIR / "tutorial" / "classes.rst.txt"
    if not path.is_file():
        pytest.fail(f"Test corpus missing: {path}. Install it: apt-get install python3.11-doc")
    return read_prose(path)[:4000]
