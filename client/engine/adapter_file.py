"""The memory adapter that ships with the client: a LoRA for Gemma 3 270M that reads its notes.

llama.cpp applies it to the quantized base at load (``lora_path``). The file is
checked against the sha256 its provenance records (``memory_adapter/provenance.json``:
data manifest, hyperparameters, the command that rebuilds it), so a corrupt or
swapped file never changes suggestions silently.
"""

import hashlib
import json
from functools import cache
from pathlib import Path

from shared.errors import ModelFileError
from shared.settings import EngineSettings

ADAPTER_FOLDER = Path(__file__).parent / "memory_adapter"
ADAPTER_FILE = ADAPTER_FOLDER / "gemma3-270m-memory-lora.gguf"
PROVENANCE_FILE = ADAPTER_FOLDER / "provenance.json"
_FIX = "reinstall the client (git checkout client/engine/memory_adapter), or run with --no-adapter"


def adapter_for(settings: EngineSettings) -> Path | None:
    """The LoRA GGUF the engine applies, checked; None when the adapter is off (off wins over ``adapter_path``)."""
    if not settings.memory_adapter:
        return None
    if settings.adapter_path is not None:
        return _checked_gguf(settings.adapter_path, None)
    return shipped_adapter()


@cache
def shipped_adapter() -> Path:
    if not PROVENANCE_FILE.is_file():
        raise ModelFileError(f"The memory adapter's provenance file is missing: {PROVENANCE_FILE}. Fix: {_FIX}.")
    expected = json.loads(PROVENANCE_FILE.read_text(encoding="utf-8"))["sha256"]
    return _checked_gguf(ADAPTER_FILE, expected)


def adapter_sha256(path: Path) -> str:
    """The file's sha256, hashed once per (path, size, mtime): every engine load and report asks for it."""
    stat = path.stat()
    return _sha256_of(path, stat.st_size, stat.st_mtime_ns)


@cache
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checked_gguf(path: Path, expected_sha256: str | None) -> Path:
    if not path.is_file():
        raise ModelFileError(f"Memory adapter not found: {path}. Fix: {_FIX}.")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ModelFileError(f"Memory adapter {path} is not a GGUF file. Fix: {_FIX}.")
    if expected_sha256 is not None and adapter_sha256(path) != expected_sha256:
        raise ModelFileError(
            f"Memory adapter {path} is corrupt (sha256 differs from {PROVENANCE_FILE.name}). Fix: {_FIX}."
        )
    return path


def adapter_description(settings: EngineSettings) -> str:
    """For reports: which adapter the settings apply."""
    path = adapter_for(settings)
    if path is None:
        return "off"
    digest = adapter_sha256(path)[:12]
    applied = "merged into the weights" if settings.merge_adapter else "applied at run time"
    return f"{path.name} (sha256 {digest}, scale {settings.adapter_scale}, {applied})"
