"""all-MiniLM-L6-v2 sentence embeddings, from the packaged model files only.

The cloud embeds chunks with int8 weights through ONNX Runtime (onnx_embedder.py) by
default, or through sentence-transformers (torch) in float; its writers rank sentences
with the float ONNX graph. Token counting needs only the tokenizer, so it loads without
torch.
"""

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Protocol

import numpy as np
from tokenizers import Tokenizer

from shared.model_files import minilm_dir
from shared.settings import EmbeddingPrecision, Settings

EMBEDDING_DIM = 384
# Word pieces the model reads, [CLS] and [SEP] included; the rest of a longer text is ignored.
MAX_SEQUENCE_TOKENS = 256


class TextEmbedder(Protocol):
    """What the datastore and the writers need of an embedder: normalized float32 rows."""

    @property
    def identity(self) -> str: ...  # vectors of embedders with one identity may be compared

    @property
    def batch_size(self) -> int: ...  # texts per batch where the caller names none

    def embed(
        self, texts: Sequence[str], batch_size: int | None = None, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray: ...

    def embed_one(self, text: str) -> np.ndarray: ...


def embedder_identity(int8: bool, max_tokens: int) -> str:
    """float covers fp32 and bf16 alike (cosine >= 0.9999); int8 and a shorter window move vectors more."""
    return f"all-MiniLM-L6-v2 {'int8' if int8 else 'float'} {max_tokens}"


def chunk_embedder(settings: Settings) -> TextEmbedder:
    """The cloud datastore's embedder (chunks and retrieval queries), as ``cloud.embedding_precision`` says."""
    cloud = settings.cloud
    if cloud.embedding_precision is EmbeddingPrecision.INT8:
        from shared.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(
            settings.cache_dir, settings.engine.n_threads, int8=True, max_tokens=cloud.embed_max_tokens, spin=True
        )
    return SentenceEmbedder(settings.engine.n_threads, cloud.embedding_precision, cloud.embed_max_tokens)


def sentence_embedder(settings: Settings) -> TextEmbedder:
    """The writers' embedder for ranking sentences and notes: float, so note choice is not moved by int8."""
    from shared.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder(settings.cache_dir, settings.engine.n_threads)


class WordPieceCounter:
    """Counts all-MiniLM-L6-v2 word pieces: the unit chunk sizes are measured in."""

    def __init__(self) -> None:
        self._tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]


def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bf16 matrix products in hardware (AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class SentenceEmbedder:
    """Normalized all-MiniLM-L6-v2 vectors (inner product = cosine), float32.

    In bf16 the transformer runs under CPU autocast and the vectors are normalized in
    float32 afterwards: 2.4x the throughput here, at cosine >= 0.9999 to float32.
    """

    def __init__(
        self,
        n_threads: int | None = None,
        precision: EmbeddingPrecision = EmbeddingPrecision.AUTO,
        max_tokens: int = MAX_SEQUENCE_TOKENS,
    ) -> None:
        if precision is EmbeddingPrecision.INT8:
            raise ValueError("int8 embeddings run through ONNX Runtime: use shared.onnx_embedder.OnnxEmbedder")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is a local folder: never ask a hub
        self._n_threads = n_threads
        self._precision = precision
        self.max_tokens = max_tokens
        self.identity = embedder_identity(False, max_tokens)
        self.batch_size = 32

    @cached_property
    def uses_bf16(self) -> bool:
        if self._precision is EmbeddingPrecision.AUTO:
            return cpu_has_native_bf16()
        return self._precision is EmbeddingPrecision.BF16

    @cached_property
    def _model(self):  # loads torch: only when first needed
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a "Loading weights" bar would cut into ours

        if self._n_threads:
            torch.set_num_threads(self._n_threads)
        model = SentenceTransformer(str(minilm_dir()), device="cpu", local_files_only=True)
        model.max_seq_length = self.max_tokens
        return model

    def embed(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for ``texts``, one row each; ``on_batch(n)`` after every ``n`` texts done."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        import torch

        batch_size = batch_size or self.batch_size
        # Batches of similar lengths pad little: sort by length, embed, put back in order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.uses_bf16):
                vectors = self._model.encode(
                    [texts[i] for i in rows], batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False
                )
            result[rows] = torch.nn.functional.normalize(vectors.float(), dim=1).numpy()
            if on_batch:
                on_batch(len(rows))
        return result

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
