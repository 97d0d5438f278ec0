"""Check the converted adapter: llama.cpp with the GGUF LoRA and PyTorch with the peft LoRA agree.

    python -m training.check_conversion --trained DIR --examples EXAMPLES_DIR [--prompts 12]

On fixed validation prompts, both predict the greedy next token at each of the last
``--positions`` places of the prompt (teacher-forced). The share of agreement is
printed and written to ``reports/adapter_conversion.json``; it should be >= 95%
(llama.cpp runs the Q4_K_M weights, PyTorch their dequantized values, so a near tie
can go either way: the same check without the adapter, printed beside it, shows how
often that alone happens).
"""

import argparse
import json
from contextlib import nullcontext
from pathlib import Path

import llama_cpp
import numpy as np
import torch

from client.engine.adapter_file import ADAPTER_FILE
from client.memory.memory_block import memory_block_text
from shared.machine import cpu_description
from shared.model_files import default_gguf_path
from shared.settings import Settings
from training.examples import read_examples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trained", type=Path, required=True)
    parser.add_argument("--examples", type=Path, required=True)
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--positions", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("reports/adapter_conversion.json"))
    args = parser.parse_args(argv)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    gguf = default_gguf_path(Settings().cache_dir)
    examples = [e for e in read_examples(args.examples / "validation.jsonl") if e.notes][: args.prompts]
    tuned_llm = llama_cpp.Llama(str(gguf), lora_path=str(ADAPTER_FILE), n_ctx=2048, logits_all=True, verbose=False)
    base_llm = llama_cpp.Llama(str(gguf), n_ctx=2048, logits_all=True, verbose=False)
    base = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, attn_implementation="eager"
    )
    tuned = PeftModel.from_pretrained(base, str(args.trained / "adapter")).eval()
    agree = {"tuned": 0, "base": 0}
    total = 0
    for example in examples:
        tokens = tuned_llm.tokenize((memory_block_text(example.notes) + example.prefix).encode(), add_bos=True)[-1024:]
        for name, llm in (("tuned", tuned_llm), ("base", base_llm)):
            llm.reset()
            llm.eval(tokens)
            ours = np.asarray(llm.scores[: len(tokens)]).argmax(-1)
            with torch.no_grad(), tuned.disable_adapter() if name == "base" else nullcontext():
                theirs = tuned(input_ids=torch.tensor([tokens])).logits[0].argmax(-1).numpy()
            agree[name] += int((ours[-args.positions :] == theirs[-args.positions :]).sum())
        total += args.positions
    report = {
        "adapter": ADAPTER_FILE.name,
        "prompts": len(examples),
        "positions": total,
        "agreement": agree["tuned"] / total,
        # the same check without the adapter on either side: how often Q4_K_M weights and their
        # dequantized values alone part ways, the floor the adapter's agreement is read against
        "agreement_without_adapter": agree["base"] / total,
        "cpu": cpu_description(),  # llama.cpp's side ran here
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
