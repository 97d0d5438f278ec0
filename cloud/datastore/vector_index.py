"""The FAISS index over chunk vectors: exact while small, IVF past a measured size.

Vectors are normalized, so inner product is cosine. Both index types take our own
int64 ids (the chunks' SQLite row ids) and support removal, unlike HNSW.
"""

import math
from pathlib import Path

import faiss
import numpy as np

from shared.durable_files import replace_atomically

IVF_LISTS_PER_SQRT_N = 4
IVF_MIN_POINTS_PER_LIST = 39  # FAISS warns below this many training points per list
IVF_MAX_TRAINING_POINTS = 100_000


def build_index(ids: np.ndarray, vectors: np.ndarray, ivf_threshold: int, nprobe: int) -> faiss.Index:
    """An index holding ``vectors`` under ``ids``; IVF when there are more than ``ivf_threshold``."""
    dim = vectors.shape[1]
    if len(ids) <= ivf_threshold:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        n_lists = max(1, min(int(IVF_LISTS_PER_SQRT_N * math.sqrt(len(ids))), len(ids) // IVF_MIN_POINTS_PER_LIST))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, n_lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).permutation(len(vectors))[:IVF_MAX_TRAINING_POINTS]
        index.train(vectors[sample])
        index.nprobe = nprobe
    if len(ids):
        index.add_with_ids(vectors, ids.astype(np.int64))
    return index


def index_kind(index: faiss.Index) -> str:
    return "ivf" if isinstance(faiss.downcast_index(index), faiss.IndexIVF) else "flat"


def write_index(index: faiss.Index, path: Path) -> None:
    replace_atomically(path, lambda partial: faiss.write_index(index, str(partial)))


def read_index(path: Path, nprobe: int) -> faiss.Index:
    index = faiss.read_index(str(path))
    if index_kind(index) == "ivf":
        faiss.extract_index_ivf(index).nprobe = nprobe
    return index


def nearest(index: faiss.Index, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(id, cosine) of the ``k`` nearest vectors to one query, best first."""
    if index.ntotal == 0:
        return []
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32), min(k, index.ntotal))
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
