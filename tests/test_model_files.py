"""Model files: assembled once, verified, never half-written; bad paths explained."""

import os
from pathlib import Path

import pytest

from shared.errors import ModelFileError
from shared.model_files import check_gguf, default_gguf_path, minilm_dir


def test_gguf_is_assembled_verified_and_reused(tmp_path: Path) -> None:
    first = default_gguf_path(tmp_path)
    assert first.is_file() and first.read_bytes()[:4] == b"GGUF"
    assert not list(first.parent.glob("*.partial"))
    mtime = first.stat().st_mtime_ns
    assert default_gguf_path(tmp_path) == first
    assert first.stat().st_mtime_ns == mtime  # reused, not rewritten


def test_a_damaged_cached_gguf_is_rebuilt(tmp_path: Path) -> None:
    path = default_gguf_path(tmp_path)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\0" * 64)
    os.utime(path, ns=(1, 1))  # even with a forged old mtime, the stamp no longer matches
    rebuilt = default_gguf_path(tmp_path)
    assert rebuilt.stat().st_size == size
    with rebuilt.open("rb") as handle:
        handle.seek(size // 2)
        assert handle.read(64) != b"\0" * 64


def test_missing_model_path_names_file_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"not found: .*nope\.gguf.*HYBRIDRAG_ENGINE__MODEL_PATH"):
        check_gguf(tmp_path / "nope.gguf")


def test_folder_and_non_gguf_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a file"):
        check_gguf(tmp_path)
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="Not a GGUF"):
        check_gguf(text)


def test_minilm_ships_with_its_package() -> None:
    folder = minilm_dir()
    assert (folder / "model.safetensors").is_file()
