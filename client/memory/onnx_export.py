"""Exporting all-MiniLM-L6-v2 to ONNX, once, from the packaged weights.

The client embeds one query per pause in typing; ONNX Runtime does that in about
4 ms without importing torch. The export needs torch (about 5 s), so it runs once,
at set-up or on first use, and the file is cached. It checks its own output
against sentence-transformers before the file is used.
"""

import warnings
from pathlib import Path

import numpy as np

from shared.durable_files import replace_atomically
from shared.errors import ModelFileError

ONNX_OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "embedding"
MIN_EXPORT_COSINE = 0.999
_PROBE = "The client embeds one query per pause in typing."


def export_minilm(model_dir: Path, target: Path) -> None:
    """Write ``target``: token ids in, mean-pooled and normalized vectors out (as sentence-transformers)."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformer = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True).eval()

    class PooledEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    sample = torch.ones(1, 8, dtype=torch.long)
    dynamic = {"batch": 0, "tokens": 1}
    encoder = PooledEncoder().eval()

    def write(partial: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer notes about shapes that do not apply to a fixed graph
            torch.onnx.export(
                encoder,
                (sample, sample, torch.zeros_like(sample)),
                str(partial),
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                dynamic_axes={name: {axis: label for label, axis in dynamic.items()} for name in INPUT_NAMES},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        _check_against_torch(partial, model_dir)

    replace_atomically(target, write)


def _check_against_torch(onnx_path: Path, model_dir: Path) -> None:
    """Refuse an export whose vectors differ from sentence-transformers'."""
    import onnxruntime
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    expected = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).encode(
        [_PROBE], normalize_embeddings=True
    )[0]
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    encoding = tokenizer.encode(_PROBE)
    ids = np.array([encoding.ids], dtype=np.int64)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    cosine = float(np.dot(session.run(None, inputs)[0][0], expected))
    if cosine < MIN_EXPORT_COSINE:
        raise ModelFileError(
            f"The ONNX export of all-MiniLM-L6-v2 disagrees with sentence-transformers (cosine {cosine:.4f}). "
            "Reinstall torch, onnx and transformers at the versions scripts/setup pins."
        )
