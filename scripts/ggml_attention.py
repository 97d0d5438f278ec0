"""One ggml flash-attention op on the CPU, called through ctypes on the libraries llama-cpp-python ships.

The test of our llama.cpp patch needs the op alone, as ggml's own test-backend-ops
checks it: an end-to-end comparison of logits would amplify every rounding through 18
layers. The attention benchmark times it alone too, free of the rest of a model step.
``attention`` runs the op either the default way (our tiled path for quantized
K/V) or with ggml's reference flag set, which forces the one-query-at-a-time path that
quantized K/V always took before the patch.
"""

import ctypes
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import llama_cpp
import numpy as np

GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0 = 0, 1, 2, 8  # ggml.h's enum ggml_type
HEADS, DIM = 4, 256  # Gemma 3 270M: 4 query heads over one KV head of 256 dimensions


def attention_inputs(positions: int, queries: int, seed: int) -> tuple[np.ndarray, ...]:
    """Q, K, V and the causal mask of the last ``queries`` tokens of a ``positions``-token context."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((HEADS, queries, DIM), dtype=np.float32)
    k = rng.standard_normal((positions, DIM), dtype=np.float32)
    v = rng.standard_normal((positions, DIM), dtype=np.float32)
    query_positions = np.arange(positions - queries, positions)[:, None]
    mask = np.where(np.arange(positions)[None, :] <= query_positions, 0.0, -np.inf).astype(np.float32)
    return q, k, v, mask


class _InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


class _ComputePlan(ctypes.Structure):  # ggml-cpu.h's struct ggml_cplan
    _fields_ = [
        ("work_size", ctypes.c_size_t),
        ("work_data", ctypes.c_void_p),
        ("n_threads", ctypes.c_int),
        ("threadpool", ctypes.c_void_p),
        ("abort_callback", ctypes.c_void_p),
        ("abort_callback_data", ctypes.c_void_p),
        ("use_ref", ctypes.c_bool),
    ]


@cache
def _libraries() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    folder = Path(os.environ.get("LLAMA_CPP_LIB_PATH") or Path(llama_cpp.__file__).parent / "lib")
    base = ctypes.CDLL(str(folder / "libggml-base.so"))
    cpu = ctypes.CDLL(str(folder / "libggml-cpu.so"))
    pointer, i64, plan = ctypes.c_void_p, ctypes.c_int64, _ComputePlan
    signatures = {  # name: (library, argument types, result type), as ggml.h and ggml-cpu.h declare them
        "ggml_init": (base, [_InitParams], pointer),
        "ggml_free": (base, [pointer], None),
        "ggml_new_tensor_4d": (base, [pointer, ctypes.c_int, i64, i64, i64, i64], pointer),
        "ggml_get_data": (base, [pointer], pointer),
        "ggml_quantize_chunk": (base, [ctypes.c_int, pointer, pointer, i64, i64, i64, pointer], ctypes.c_size_t),
        "ggml_fp32_to_fp16_row": (base, [pointer, pointer, i64], None),
        "ggml_flash_attn_ext": (base, [pointer] * 5 + [ctypes.c_float] * 3, pointer),
        "ggml_new_graph": (base, [pointer], pointer),
        "ggml_build_forward_expand": (base, [pointer, pointer], None),
        "ggml_cpu_init": (cpu, [], None),
        "ggml_graph_plan": (cpu, [pointer, ctypes.c_int, pointer], plan),
        "ggml_graph_compute": (cpu, [pointer, ctypes.POINTER(plan)], ctypes.c_int),
    }
    for name, (library, arguments, result) in signatures.items():
        function = getattr(library, name)
        function.argtypes, function.restype = arguments, result
    cpu.ggml_cpu_init()
    return base, cpu


def attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray, k_type: int, v_type: int, reference: bool
) -> np.ndarray:
    """softmax(scale Q K^T + mask) V for q [heads, queries, dim] and k, v [positions, dim] (one KV head).

    K and V are stored as ``k_type`` / ``v_type`` (quantized by ggml itself); the result
    is [queries, heads, dim], as ggml lays it out.
    """
    with attention_op(q, k, v, mask, k_type, v_type, reference) as run:
        return run()


def median_ms(run: Callable[[], object], runs: int) -> float:
    """The median time in milliseconds of ``runs`` calls of ``run``, after one to warm up (the benchmark's figure)."""
    run()  # the first computation pages in the work buffer
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


@contextmanager
def attention_op(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray,
    k_type: int,
    v_type: int,
    reference: bool,
    threads: int = 2,
) -> Iterator[Callable[[], np.ndarray]]:
    """The op's graph, built once; yields a function that computes it and returns the result."""
    base, cpu = _libraries()
    heads, queries, dim = q.shape
    positions = k.shape[0]
    data_bytes = q.nbytes + k.nbytes + v.nbytes + mask.nbytes
    context = base.ggml_init(_InitParams(mem_size=64 * 1024 * 1024 + 8 * data_bytes))
    try:
        q_tensor = base.ggml_new_tensor_4d(context, GGML_TYPE_F32, dim, queries, heads, 1)
        ctypes.memmove(base.ggml_get_data(q_tensor), np.ascontiguousarray(q, np.float32).ctypes.data, q.nbytes)
        stored = []
        for values, kind in ((k, k_type), (v, v_type)):
            tensor = base.ggml_new_tensor_4d(context, kind, dim, positions, 1, 1)
            rows = np.ascontiguousarray(values, np.float32)
            if kind == GGML_TYPE_F16:
                base.ggml_fp32_to_fp16_row(rows.ctypes.data, base.ggml_get_data(tensor), rows.size)
            else:
                base.ggml_quantize_chunk(kind, rows.ctypes.data, base.ggml_get_data(tensor), 0, positions, dim, None)
            stored.append(tensor)
        mask_tensor = base.ggml_new_tensor_4d(context, GGML_TYPE_F16, positions, queries, 1, 1)
        mask32 = np.ascontiguousarray(mask, np.float32)
        base.ggml_fp32_to_fp16_row(mask32.ctypes.data, base.ggml_get_data(mask_tensor), mask32.size)
        out = base.ggml_flash_attn_ext(context, q_tensor, *stored, mask_tensor, 1.0 / np.sqrt(dim), 0.0, 0.0)
        graph = base.ggml_new_graph(context)
        base.ggml_build_forward_expand(graph, out)
        plan = cpu.ggml_graph_plan(graph, threads, None)
        work = ctypes.create_string_buffer(max(plan.work_size, 1))
        plan.work_data = ctypes.cast(work, ctypes.c_void_p)
        plan.use_ref = reference

        def run() -> np.ndarray:
            assert cpu.ggml_graph_compute(graph, ctypes.byref(plan)) == 0, "ggml_graph_compute failed"
            result = np.empty((queries, heads, dim), dtype=np.float32)
            ctypes.memmove(result.ctypes.data, base.ggml_get_data(out), result.nbytes)
            return result

        yield run
    finally:
        base.ggml_free(context)
