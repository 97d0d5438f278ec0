"""The KV cache: precision presets, what they cost per token, and reusing a cached prefix.

llama.cpp rotates quantized K/V with a Hadamard matrix by itself (TurboQuant's
first step), which is what keeps q8_0/q4_0 caches within about 1% perplexity.
"""

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import llama_cpp
import numpy as np

from shared.settings import KVPreset

# (type_k, type_v) for each preset.
KV_CACHE_TYPES: dict[KVPreset, tuple[int, int]] = {
    KVPreset.F16: (llama_cpp.GGML_TYPE_F16, llama_cpp.GGML_TYPE_F16),
    KVPreset.Q8: (llama_cpp.GGML_TYPE_Q8_0, llama_cpp.GGML_TYPE_Q8_0),
    KVPreset.Q8Q4: (llama_cpp.GGML_TYPE_Q8_0, llama_cpp.GGML_TYPE_Q4_0),
    KVPreset.Q4: (llama_cpp.GGML_TYPE_Q4_0, llama_cpp.GGML_TYPE_Q4_0),
}


def llama_kv_options(preset: KVPreset, threads: int) -> dict[str, Any]:
    """The llama.cpp context options every user of a preset shares: its cache types, flash attention, threads."""
    type_k, type_v = KV_CACHE_TYPES[preset]
    return {
        "n_threads": threads,
        "n_threads_batch": threads,
        "flash_attn": True,  # a quantized V cache needs it
        "type_k": type_k,
        "type_v": type_v,
        "swa_full": True,  # keep every position of sliding-window layers, so prefixes can be reused
    }


# Bytes per element: ggml's block size over elements per block.
_BYTES_PER_ELEMENT: dict[int, float] = {
    llama_cpp.GGML_TYPE_F16: 2.0,
    llama_cpp.GGML_TYPE_Q8_0: 34 / 32,  # 32 int8 + one f16 scale
    llama_cpp.GGML_TYPE_Q4_0: 18 / 32,  # 32 nibbles + one f16 scale
}


def kv_bytes_per_token(metadata: Mapping[str, Any], preset: KVPreset) -> float:
    """Bytes of K plus V cache one token occupies, from the GGUF's attention shape."""
    arch = metadata["general.architecture"]
    layers = int(metadata[f"{arch}.block_count"])
    kv_heads = int(metadata.get(f"{arch}.attention.head_count_kv", metadata[f"{arch}.attention.head_count"]))
    head_dim = int(metadata[f"{arch}.embedding_length"]) // int(metadata[f"{arch}.attention.head_count"])
    key_dim = int(metadata.get(f"{arch}.attention.key_length", head_dim))
    value_dim = int(metadata.get(f"{arch}.attention.value_length", head_dim))
    type_k, type_v = KV_CACHE_TYPES[preset]
    per_layer = kv_heads * (key_dim * _BYTES_PER_ELEMENT[type_k] + value_dim * _BYTES_PER_ELEMENT[type_v])
    return layers * per_layer


def shared_prefix_length(cached: Sequence[int] | np.ndarray, wanted: Sequence[int]) -> int:
    """How many leading tokens two token sequences share."""
    length = 0
    for a, b in zip(cached, wanted, strict=False):
        if a != b:
            break
        length += 1
    return length


def sync_prefix(
    llm: llama_cpp.Llama,
    prompt: list[int],
    chunk_tokens: int,
    cancelled: Callable[[], bool],
    each_chunk: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> int | None:
    """Bring ``llm``'s KV cache to ``prompt``; return how many tokens were reused (None if cancelled).

    Only the part after the longest cached prefix is evaluated, in chunks, so that a
    new keystroke can cancel a long (cold) prefill between chunks; each chunk runs
    inside ``each_chunk()``. The last token is always evaluated, so the context's
    logits are those of this prompt.
    """
    reused = shared_prefix_length(llm.input_ids[: min(llm.n_tokens, len(prompt) - 1)], prompt)
    llm.n_tokens = reused  # eval() drops the cache past this point first
    last = len(prompt) - 1
    # The last token goes alone, after the rest: a reused prompt re-evaluates just that
    # token, so its logits come from the same computation either way. Within a larger
    # batch they can differ in the last bits (with a LoRA applied, enough to flip a near
    # tie), and the same text would get another suggestion.
    chunks = [prompt[start : min(start + chunk_tokens, last)] for start in range(reused, last, chunk_tokens)]
    for chunk in [*chunks, prompt[last:]]:
        with each_chunk():
            if cancelled():
                return None
            llm.eval(chunk)
    return reused


def decode_with_logits(llm: llama_cpp.Llama, tokens: Sequence[int], logits_from: int = 0) -> np.ndarray:
    """Evaluate ``tokens`` after the cached ones in one batch; the logits after each from ``logits_from`` on.

    Only the positions asked for go through the 262k-row output layer, most of a
    position's cost. The rows are llama.cpp's own buffer: copy them to keep them past
    the next decode.
    """
    n_past = llm.n_tokens
    llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
    llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=True)
    for i in range(logits_from):
        llm._batch.batch.logits[i] = False
    llm._ctx.decode(llm._batch)
    llm.input_ids[n_past : n_past + len(tokens)] = tokens
    llm.n_tokens += len(tokens)
    rows = len(tokens) - logits_from
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(rows, llm.n_vocab()))


def continuation_logprobs(llm: llama_cpp.Llama, context: Sequence[int], continuation: Sequence[int]) -> np.ndarray:
    """The log-probability of each ``continuation`` token after ``context``, from an empty cache in one batch.

    How likely the model finds a piece of text in a given place: what the benchmarks
    rank passages and notes by. Only the continuation's rows pay for the output layer.
    """
    tokens = [*context, *continuation]
    llm.n_tokens = 0
    rows = log_softmax(decode_with_logits(llm, tokens[:-1], len(context) - 1))
    return rows[np.arange(len(continuation)), list(continuation)]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities of a row of logits (or of each row), as decode_with_logits returns them."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
