"""The client's ONNX embedder gives the cloud's sentence-transformers vectors, without torch."""

import re
import subprocess
import sys

import numpy as np

from shared.settings import PYTHON_DOCS_DIR


def _docs_sentences(count: int) -> list[str]:
    text = " ".join(path.read_text() for path in sorted((PYTHON_DOCS_DIR / "tutorial").glob("*.rst.txt")))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if 20 <= len(s) <= 600]
    return sentences[:: max(1, len(sentences) // count)][:count]


def test_onnx_vectors_match_sentence_transformers_on_100_sentences(query_embedder, torch_embedder) -> None:
    sentences = _docs_sentences(100)
    assert len(sentences) == 100
    expected = torch_embedder.embed(sentences)
    one_by_one = np.stack([query_embedder.embed_one(sentence) for sentence in sentences])
    batched = query_embedder.embed(sentences)
    assert float((one_by_one * expected).sum(axis=1).min()) >= 0.999
    assert float((batched * one_by_one).sum(axis=1).min()) >= 0.9999  # padding changes nothing
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_the_torch_free_graph_matches_sentence_transformers_in_fp32_to_1e_4(query_embedder) -> None:
    from shared.embeddings import SentenceEmbedder
    from shared.settings import EmbeddingPrecision

    sentences = _docs_sentences(100)
    expected = SentenceEmbedder(precision=EmbeddingPrecision.FP32).embed(sentences)
    assert float((query_embedder.embed(sentences) * expected).sum(axis=1).min()) >= 0.9999


def test_a_long_text_is_cut_at_the_models_limit_like_sentence_transformers(query_embedder, torch_embedder) -> None:
    long = " ".join(_docs_sentences(100)[:40])  # far beyond 256 word pieces
    assert float(np.dot(query_embedder.embed_one(long), torch_embedder.embed_one(long))) >= 0.999


def test_building_the_graph_and_embedding_queries_do_not_import_torch(tmp_path) -> None:
    script = (  # a fresh cache: the ONNX graph is built from the weights here too
        "import sys\n"
        "from pathlib import Path\n"
        "import client.assistant, client.memory.local_memory, client.sync.memory_sync\n"
        "from shared.onnx_embedder import OnnxEmbedder\n"
        f"OnnxEmbedder(Path({str(tmp_path)!r}), 2).embed_one('a query')\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
