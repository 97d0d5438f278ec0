"""Our llama.cpp patch (patches/): quantized K/V take the tiled flash-attention path and agree with the old one.

On the real model's shapes (Gemma 3 270M: 4 query heads over one KV head of 256
dimensions), for each KV preset, a prompt batch of 512 queries at 1k-4k positions and a
decode step (one query) at 64-4k positions: the op's output on the default path (tiled,
with the patch; for a decode, split over positions, and with the patch the query heads of
a quantized KV head taken together) against ggml's reference path
(one query at a time, what quantized K/V always took before the patch), within the
tolerance of ggml's own flash-attention tests (test-backend-ops: NMSE 5e-4).
"""

import numpy as np
import pytest

from tests.ggml_attention import GGML_TYPE_F16, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, attention

FLASH_ATTENTION_NMSE = 5e-4  # ggml's tests/test-backend-ops.cpp, test_flash_attn_ext::max_nmse_err
HEADS, DIM, PROMPT_QUERIES = 4, 256, 512
PRESETS = {  # the engine's KV presets (client/engine/kv_cache.py): K type, V type
    "f16": (GGML_TYPE_F16, GGML_TYPE_F16),
    "q8": (GGML_TYPE_Q8_0, GGML_TYPE_Q8_0),
    "q8q4": (GGML_TYPE_Q8_0, GGML_TYPE_Q4_0),
    "q4": (GGML_TYPE_Q4_0, GGML_TYPE_Q4_0),
}


def prompt_batch(positions: int, seed: int, queries: int = PROMPT_QUERIES) -> tuple[np.ndarray, ...]:
    """Q, K, V and the causal mask of the last ``queries`` tokens of a ``positions``-token context."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((HEADS, queries, DIM), dtype=np.float32)
    k = rng.standard_normal((positions, DIM), dtype=np.float32)
    v = rng.standard_normal((positions, DIM), dtype=np.float32)
    query_positions = np.arange(positions - queries, positions)[:, None]
    mask = np.where(np.arange(positions)[None, :] <= query_positions, 0.0, -np.inf).astype(np.float32)
    return q, k, v, mask


def nmse(found: np.ndarray, expected: np.ndarray) -> float:
    return float(((found - expected) ** 2).sum() / (expected**2).sum())


@pytest.mark.parametrize("positions", [1024, 2048, 4096])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_tiled_path_agrees_with_the_reference(preset: str, positions: int) -> None:
    k_type, v_type = PRESETS[preset]
    q, k, v, mask = prompt_batch(positions, seed=positions)
    tiled = attention(q, k, v, mask, k_type, v_type, reference=False)
    reference = attention(q, k, v, mask, k_type, v_type, reference=True)
    assert np.isfinite(tiled).all()
    assert nmse(tiled, reference) <= FLASH_ATTENTION_NMSE


@pytest.mark.parametrize("positions", [64, 1700, 4096])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_decode_step_agrees_with_the_reference(preset: str, positions: int) -> None:
    k_type, v_type = PRESETS[preset]
    q, k, v, mask = prompt_batch(positions, seed=positions, queries=1)
    decoded = attention(q, k, v, mask, k_type, v_type, reference=False)
    reference = attention(q, k, v, mask, k_type, v_type, reference=True)
    assert np.isfinite(decoded).all()
    assert nmse(decoded, reference) <= FLASH_ATTENTION_NMSE


def test_the_installed_llama_cpp_has_the_patch() -> None:
    """Unpatched, quantized K/V take the reference path either way: the outputs would be bit for bit the same."""
    for queries, path in ((PROMPT_QUERIES, "tiled prompt"), (1, "grouped decode")):
        q, k, v, mask = prompt_batch(1024, seed=0, queries=queries)
        patched = attention(q, k, v, mask, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, reference=False)
        reference = attention(q, k, v, mask, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, reference=True)
        missing = f"scripts/setup did not apply patches/ to llama.cpp (its {path} path)"
        assert not np.array_equal(patched, reference), missing
