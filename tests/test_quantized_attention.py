"""Our llama.cpp patch (patches/): quantized K/V take the tiled flash-attention path and agree with the old one.

On the real model's shapes (Gemma 3 270M: 4 query heads over one KV head of 256
dimensions), for each KV preset, a prompt batch of 512 queries at 1k-4k positions, a
decode step (one query) at 64-4k positions and short batches (a draft being verified):
the op's output on the default path (tiled, with the patch; for a decode, split over
positions; for a short batch, whole query rows a thread; with the patch the query heads
of a quantized KV head taken together) against ggml's reference path
(one query at a time, what quantized K/V always took before the patch), within the
tolerance of ggml's own flash-attention tests (test-backend-ops: NMSE 5e-4).
"""

import numpy as np
import pytest

from client.engine.kv_cache import KV_CACHE_TYPES
from scripts.ggml_attention import GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, attention, attention_inputs
from shared.settings import KVPreset

FLASH_ATTENTION_NMSE = 5e-4  # ggml's tests/test-backend-ops.cpp, test_flash_attn_ext::max_nmse_err
PROMPT_QUERIES = 512


def nmse(found: np.ndarray, expected: np.ndarray) -> float:
    return float(((found - expected) ** 2).sum() / (expected**2).sum())


@pytest.mark.parametrize("positions", [1024, 2048, 4096])
@pytest.mark.parametrize("preset", list(KVPreset))
def test_the_tiled_path_agrees_with_the_reference(preset: KVPreset, positions: int) -> None:
    k_type, v_type = KV_CACHE_TYPES[preset]
    q, k, v, mask = attention_inputs(positions, PROMPT_QUERIES, seed=positions)
    tiled = attention(q, k, v, mask, k_type, v_type, reference=False)
    reference = attention(q, k, v, mask, k_type, v_type, reference=True)
    assert np.isfinite(tiled).all()
    assert nmse(tiled, reference) <= FLASH_ATTENTION_NMSE


@pytest.mark.parametrize("positions", [64, 1700, 4096])
@pytest.mark.parametrize("preset", list(KVPreset))
def test_a_decode_step_agrees_with_the_reference(preset: KVPreset, positions: int) -> None:
    k_type, v_type = KV_CACHE_TYPES[preset]
    q, k, v, mask = attention_inputs(positions, 1, seed=positions)
    decoded = attention(q, k, v, mask, k_type, v_type, reference=False)
    reference = attention(q, k, v, mask, k_type, v_type, reference=True)
    assert np.isfinite(decoded).all()
    assert nmse(decoded, reference) <= FLASH_ATTENTION_NMSE


@pytest.mark.parametrize("preset", list(KVPreset))
def test_a_decode_step_over_a_sliding_window_agrees_with_the_reference(preset: KVPreset) -> None:
    """Gemma 3's local layers see the last 512 positions: whole blocks of masked positions are skipped."""
    k_type, v_type = KV_CACHE_TYPES[preset]
    q, k, v, mask = attention_inputs(1700, 1, seed=3)
    mask[:, : 1700 - 512] = -np.inf
    decoded = attention(q, k, v, mask, k_type, v_type, reference=False)
    reference = attention(q, k, v, mask, k_type, v_type, reference=True)
    assert np.isfinite(decoded).all()
    assert nmse(decoded, reference) <= FLASH_ATTENTION_NMSE


@pytest.mark.parametrize("queries", [2, 12, 63])
@pytest.mark.parametrize("preset", list(KVPreset))
def test_a_short_batch_agrees_with_the_reference(preset: KVPreset, queries: int) -> None:
    """A draft verified in one batch (2-63 queries: fewer than a tile), causal within the batch."""
    k_type, v_type = KV_CACHE_TYPES[preset]
    q, k, v, mask = attention_inputs(1400, queries, seed=queries)
    batched = attention(q, k, v, mask, k_type, v_type, reference=False)
    reference = attention(q, k, v, mask, k_type, v_type, reference=True)
    assert np.isfinite(batched).all()
    assert nmse(batched, reference) <= FLASH_ATTENTION_NMSE


def test_the_installed_llama_cpp_has_the_patch() -> None:
    """Unpatched, quantized K/V take the reference path either way: the outputs would be bit for bit the same."""
    for queries, path in ((PROMPT_QUERIES, "tiled prompt"), (1, "grouped decode"), (12, "grouped rows")):
        q, k, v, mask = attention_inputs(1024, queries, seed=0)
        patched = attention(q, k, v, mask, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, reference=False)
        reference = attention(q, k, v, mask, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, reference=True)
        missing = f"scripts/setup did not apply patches/ to llama.cpp (its {path} path)"
        assert not np.array_equal(patched, reference), missing
