"""The memory adapter merged into the model's weights once, so that suggestions pay nothing for it.

llama.cpp applies a LoRA at run time as two more small matrix products for each of the
seven projections of every layer, at every token: on a 2-core AMD EPYC that made the
first token 1.19x slower and decoding 0.86x as fast (reports/engine.json). Merged ahead
of time (W + scale * alpha / rank * B A), the adapted model costs what the base model
costs, give or take the merged tensors' larger type (there: 1.05x and 0.90x).

Those tensors are stored as Q8_0. Quantized again to the base's own 4-6-bit types, the
adapter's small change would mostly round away (on layer 3 those types kept 6-34% of
it); Q8_0 keeps all of it, to within a rounding noise below the base's own. Every
other tensor, the embeddings included, keeps the base file's bytes. The merged file is
built on first use, written atomically into the model cache, and named by what went
into it (base file, adapter digest, scale, this module's format), so a new adapter or
scale builds a new one and a stale one is never used.
"""

import ctypes
import logging
from functools import cache
from pathlib import Path

import gguf
import llama_cpp
import numpy as np

from client.engine.adapter_file import adapter_for, adapter_sha256
from shared.durable_files import replace_atomically
from shared.errors import ModelFileError
from shared.model_files import default_gguf_path
from shared.settings import EngineSettings, load_settings

MERGED_TYPE = gguf.GGMLQuantizationType.Q8_0
MERGE_FORMAT = 1  # change when the merge itself changes: older merged files are then not reused
_LORA_A, _LORA_B = ".lora_a", ".lora_b"
log = logging.getLogger(__name__)


def model_and_lora(
    model: Path, adapter: Path | None, settings: EngineSettings, cache_dir: Path
) -> tuple[Path, Path | None]:
    """The model file to load and the LoRA for llama.cpp to apply at run time (None: merged, or no adapter)."""
    if adapter is None:
        return model, None
    if not settings.merge_adapter:
        return model, adapter
    return merged_model(model, adapter, settings.adapter_scale, cache_dir), None


def merged_model(base: Path, adapter: Path, scale: float, cache_dir: Path) -> Path:
    """The base model with ``adapter`` merged in at ``scale``: built once, then read from the cache."""
    digest = adapter_sha256(adapter)[:16]
    size = base.stat().st_size
    target = cache_dir / "models" / f"{base.stem}-{size}-lora-{digest}-x{scale:g}-m{MERGE_FORMAT}.gguf"
    if not target.is_file():
        log.info("merging the memory adapter into %s (once): %s", base.name, target)
        try:
            replace_atomically(target, lambda partial: merge_lora(base, adapter, scale, partial))
        except (ValueError, KeyError, IndexError) as exc:  # what gguf's reader and our checks raise on a bad file
            raise ModelFileError(
                f"Could not merge the memory adapter into {base} ({exc}): the model file may be corrupt or "
                "truncated, or not the model the adapter was trained for. Fix: point the model path setting at a "
                "valid Gemma 3 270M GGUF (or unset it for the packaged model), or run with --no-adapter."
            ) from None
    return target


def merge_lora(base: Path, adapter: Path, scale: float, out: Path) -> None:
    """Write ``base`` with each LoRA pair of ``adapter`` added to its weight, as llama.cpp would apply it."""
    model = gguf.GGUFReader(base)
    lora = gguf.GGUFReader(adapter)
    pairs = {tensor.name: tensor for tensor in lora.tensors}
    alpha = float(lora.fields["adapter.lora.alpha"].contents())
    merged = {
        tensor.name: _merged_weight(tensor, pairs[tensor.name + _LORA_A], pairs[tensor.name + _LORA_B], alpha, scale)
        for tensor in model.tensors
        if tensor.name + _LORA_A in pairs
    }
    if len(merged) * 2 != len(pairs):
        raise ValueError(f"{adapter.name} adapts tensors that {base.name} does not have")
    writer = gguf.GGUFWriter(out, arch=str(model.fields["general.architecture"].contents()))
    for field in model.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue  # the writer writes these itself
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    for tensor in model.tensors:
        data = merged.get(tensor.name, tensor.data)
        kind = MERGED_TYPE if tensor.name in merged else tensor.tensor_type
        writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in model.tensors:
        writer.write_tensor_data(merged.get(tensor.name, tensor.data), tensor_endianess=model.endianess)
    writer.close()


def _merged_weight(
    weight: gguf.ReaderTensor, lora_a: gguf.ReaderTensor, lora_b: gguf.ReaderTensor, alpha: float, scale: float
) -> np.ndarray:
    """W + s B A, quantized to MERGED_TYPE; s as llama.cpp computes it (llama_adapter_lora_weight::get_scale)."""
    a = np.asarray(lora_a.data, dtype=np.float32)  # (rank, in)
    b = np.asarray(lora_b.data, dtype=np.float32)  # (out, rank)
    rank = b.shape[1]
    strength = scale * alpha / rank if alpha else scale
    rows = gguf.quants.dequantize(weight.data, weight.tensor_type).reshape(b.shape[0], a.shape[1])
    return _quantize(rows + strength * (b @ a), MERGED_TYPE)


@cache
def _ggml() -> ctypes.CDLL:
    """ggml's own quantizer, from the llama.cpp that llama-cpp-python ships: the exact format llama.cpp reads."""
    library = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    library.ggml_quantize_chunk.restype = ctypes.c_size_t
    library.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    library.ggml_quantize_chunk.argtypes += [ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    library.ggml_row_size.restype = ctypes.c_size_t
    library.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    return library


def _quantize(rows: np.ndarray, kind: gguf.GGMLQuantizationType) -> np.ndarray:
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    count, width = rows.shape
    row_bytes = _ggml().ggml_row_size(int(kind), width)
    out = np.empty((count, row_bytes), dtype=np.uint8)
    _ggml().ggml_quantize_chunk(int(kind), rows.ctypes.data, out.ctypes.data, 0, count, width, None)
    return out


def main() -> None:
    """Set-up's last step: the packaged model assembled and the shipped adapter merged now, not at first use."""
    settings = load_settings()
    model = default_gguf_path(settings.cache_dir)
    loaded, _ = model_and_lora(model, adapter_for(settings.engine), settings.engine, settings.cache_dir)
    print(f"client model: {loaded}")
