"""Train the memory adapter: a LoRA on Gemma 3 270M that reads its notes.

    python -m training.train_adapter --examples DIR --gguf gemma-3-270m-q4_k_m.gguf --out DIR \
        [--lr 1e-4] [--epochs 3] [--device auto]

The base weights are the GGUF the client ships, dequantized by transformers
(``gguf_file=``; transformers >= 5.24 reads Gemma 3 GGUF correctly, older releases do
not). Sequences are laid out exactly as the engine lays its prompt out, ``[BOS][memory
block][text]``, block and text tokenized apart, and the loss is on the continuation
only. Embeddings and ``lm_head`` (tied in Gemma) stay frozen: llama.cpp's converter
refuses adapters on them.

Validation runs before training and after each epoch, per condition (no notes, real
notes with the document or only its chunks held out, oracle, decoy: a sentence of the
same document that does not come next added to the notes): the loss, and greedy
32-token continuations scored by ROUGE-L, and the perplexity of plain text from documents
never trained on. With ``--plain-weight``, every step also pays the KL to the base model
on plain-text windows, so memory skills do not cost plain continuation. Of the (learning
rate, epoch) whose plain perplexity stays within ``--max-perplexity-rise`` of the base
model's, the one with the best mean ROUGE-L over the conditions the product meets (none,
document, chunk) is kept. Needs torch, peft,
transformers and gguf; runs on CUDA, or slowly on a CPU. Imports nothing of the project
but the example file format, so it runs on a bare GPU machine.
"""

import argparse
import json
import math
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CONDITIONS = ("none", "document", "chunk", "oracle", "decoy")
PRODUCT_CONDITIONS = ("none", "document", "chunk")
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
BLOCK_HEADER, NOTE_BULLET, BLOCK_END = "Notes:\n", "- ", "\n"  # client/memory/memory_block.py's layout
GENERATED_TOKENS = 32
FIRST_TOKENS = 3
_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")


def memory_block_text(notes: list[str]) -> str:
    if not notes:
        return ""
    return BLOCK_HEADER + "".join(f"{NOTE_BULLET}{' '.join(note.split())}\n" for note in notes) + BLOCK_END


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 on lower-cased alphanumeric tokens, as rouge-score computes it without stemming."""
    a, b = _ROUGE_TOKEN.findall(candidate.lower()), _ROUGE_TOKEN.findall(reference.lower())
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(previous[j] + 1 if x == y else max(previous[j + 1], row[j]))
        previous = row
    lcs = previous[-1]
    if not lcs:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


@dataclass
class Encoded:
    context: list[int]  # [BOS][block][text], cut at the text's start to fit
    target: list[int]
    condition: str
    continuation: str


def encode(tokenizer, example: dict, max_tokens: int, max_target: int) -> Encoded | None:
    block = tokenizer(memory_block_text(example["notes"]), add_special_tokens=False)["input_ids"]
    text = tokenizer(example["prefix"], add_special_tokens=False)["input_ids"]
    full = tokenizer(example["prefix"] + " " + example["continuation"], add_special_tokens=False)["input_ids"]
    start = 0
    while start < min(len(text), len(full)) and text[start] == full[start]:
        start += 1
    target = full[start:][:max_target]
    room = max_tokens - 1 - len(block) - len(target)
    if not target or room < 32:
        return None
    context = [tokenizer.bos_token_id] + block + full[:start][-room:]
    return Encoded(context, target, example["condition"], example["continuation"])


def batches(items: list[Encoded], size: int, rng: random.Random) -> list[list[Encoded]]:
    """Batches of similar length (less padding), in random order."""
    order = sorted(items, key=lambda item: len(item.context) + len(item.target) + rng.random())
    grouped = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(grouped)
    return grouped


def left_padded(rows: list[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


def batch_loss(
    model, batch: list[Encoded], pad: int, device: torch.device, first_token_weight: float = 1.0
) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy over the batch's continuation tokens (left padding puts them all at the end).

    The first ``FIRST_TOKENS`` can weigh more: greedy decoding's hard choice is how the
    continuation starts (which note, if any, it follows); copying on is easy.
    """
    rows = [item.context + item.target for item in batch]
    ids, mask, positions = left_padded(rows, pad, device)
    keep = max(len(item.target) for item in batch) + 1
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
    labels = torch.full((len(batch), keep), -100, dtype=torch.long)
    for i, item in enumerate(batch):
        labels[i, keep - len(item.target) :] = torch.tensor(item.target)
    labels = labels.to(device)
    # logits at position t predict token t+1
    flat_logits = logits[:, :-1].reshape(-1, logits.size(-1)).float()
    flat_labels = labels[:, 1:].reshape(-1)
    losses = torch.nn.functional.cross_entropy(flat_logits, flat_labels, ignore_index=-100, reduction="none")
    weights = torch.zeros((len(batch), keep - 1))
    for i, item in enumerate(batch):
        weights[i, keep - 1 - len(item.target) :] = 1.0
        weights[i, keep - 1 - len(item.target) : keep - 1 - len(item.target) + FIRST_TOKENS] = first_token_weight
    weights = weights.reshape(-1).to(device)
    return (losses * weights).sum() / weights.sum(), int((flat_labels != -100).sum())


def plain_windows(tokenizer, rows: list[dict], window: int) -> list[list[int]]:
    """Full ``window``-token pieces of each document's plain text, each starting with BOS (as the benchmark's)."""
    pieces = []
    for row in rows:
        body = tokenizer(row["text"], add_special_tokens=False)["input_ids"]
        for start in range(0, len(body) - window + 2, window - 1):
            pieces.append([tokenizer.bos_token_id] + body[start : start + window - 1])
    return pieces


def plain_kl(model, windows: list[list[int]], device: torch.device) -> torch.Tensor:
    """Mean per-token KL(base || adapted) on plain-text windows: it keeps plain continuation the base model's.

    Perplexity alone would pull the model towards the training corpora; matching the
    base model's whole next-token distribution leaves plain text as it was.
    """
    ids = torch.tensor(windows, device=device)
    with torch.no_grad(), model.disable_adapter():
        base = torch.log_softmax(model(input_ids=ids).logits.float(), -1)
    adapted = torch.log_softmax(model(input_ids=ids).logits.float(), -1)
    return torch.nn.functional.kl_div(adapted, base, log_target=True, reduction="none").sum(-1).mean()


@torch.no_grad()
def plain_perplexity(model, windows: list[list[int]], device: torch.device, min_context: int = 256) -> float:
    """exp(mean NLL) of the tokens with at least ``min_context`` before them, as scripts/bench_engine.py scores it."""
    total, count = 0.0, 0
    for start in range(0, len(windows), 4):
        ids = torch.tensor(windows[start : start + 4], device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(input_ids=ids).logits[:, min_context:-1].float()
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), ids[:, min_context + 1 :].reshape(-1), reduction="sum"
        )
        total, count = total + nll.item(), count + ids[:, min_context + 1 :].numel()
    return math.exp(total / count)


_SPACE_STARTS: dict[int, torch.Tensor] = {}


def space_start_mask(tokenizer, device: torch.device) -> torch.Tensor:
    """Tokens that begin with a space: the engine's token healing makes the first one such (the text ends in ' ')."""
    key = id(tokenizer)
    if key not in _SPACE_STARTS:
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        _SPACE_STARTS[key] = torch.tensor([str(p).startswith("\u2581") for p in pieces], device=device)
    return _SPACE_STARTS[key]


@torch.no_grad()
def greedy(model, tokenizer, contexts: list[list[int]], device: torch.device) -> list[str]:
    """Greedy continuations of 32 tokens after a space, cut at a newline, as the evaluation's engine decodes."""
    pad = tokenizer.pad_token_id or 0
    ids, mask, positions = left_padded(contexts, pad, device)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache, made = out.cache, []
    first = out.logits[:, -1].float()
    allowed = space_start_mask(tokenizer, device)[: first.size(-1)]
    token = first.masked_fill(~allowed, float("-inf")).argmax(-1)
    for _ in range(GENERATED_TOKENS):
        made.append(token)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        positions = positions[:, -1:] + 1
        out = model(input_ids=token[:, None], attention_mask=mask, position_ids=positions, cache=cache, use_cache=True)
        cache, token = out.cache, out.logits[:, -1].argmax(-1)
    generated = torch.stack(made, 1).tolist()
    texts = []
    for row in generated:
        text = tokenizer.decode(row, skip_special_tokens=True)
        texts.append(text.split("\n", 1)[0].strip())
    return texts


def validate(
    model, tokenizer, items: list[Encoded], per_condition: int, device: torch.device, plain: list[list[int]]
) -> dict:
    model.eval()
    pad = tokenizer.pad_token_id or 0
    report: dict[str, dict[str, float]] = {}
    for condition in CONDITIONS:
        chosen = [item for item in items if item.condition == condition]
        if not chosen:
            continue
        total, count = 0.0, 0
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            for start in range(0, len(chosen), 16):
                loss, n = batch_loss(model, chosen[start : start + 16], pad, device)
                total, count = total + loss.item() * n, count + n
            scored = chosen[:per_condition]
            texts = [
                text
                for start in range(0, len(scored), 32)
                for text in greedy(model, tokenizer, [item.context for item in scored[start : start + 32]], device)
            ]
        report[condition] = {
            "loss": total / count,
            "rouge_l": sum(map(rouge_l, texts, (i.continuation for i in scored))) / len(scored),
            "examples": len(chosen),
            "scored": len(scored),
        }
    product = [report[c]["rouge_l"] for c in PRODUCT_CONDITIONS if c in report]
    if plain:
        report["plain"] = {"perplexity": plain_perplexity(model, plain, device), "windows": len(plain)}
    model.train()
    return report | {"product_rouge_l": sum(product) / len(product)}


def _has_real_notes(row: dict) -> bool:
    return row["condition"] in ("document", "chunk") and bool(row["notes"])


def _twin(row: dict, condition: str, position: int, note: str) -> dict:
    """``row`` with ``note`` added among its notes at ``position``; the target stays the same."""
    notes = list(row["notes"])
    notes.insert(position, note)
    return {**row, "condition": condition, "notes": notes}


def with_oracle_twins(rows: list[dict], share: float, rng: random.Random) -> list[dict]:
    """``rows`` plus, for ``share`` of those with real notes, a twin whose notes also hold the continuation.

    The pair differs only in whether a note continues the text, so the model learns to
    copy a note when it does and to leave the same notes alone when none does.
    """
    twins = [
        _twin(row, "oracle", rng.randrange(len(row["notes"]) + 1), row["continuation"])
        for row in rows
        if _has_real_notes(row) and rng.random() < share
    ]
    return rows + twins


def with_decoy_twins(rows: list[dict], share: float, rng: random.Random) -> list[dict]:
    """``rows`` plus, for ``share`` of those with real notes, a twin whose notes also hold a *decoy*.

    The decoy is what follows another cut of the same document: a sentence of the same
    text, topic and style that does not come next here. The target stays the real
    continuation. Against the oracle twin (the continuation among the same notes) the
    pair differs only in whether the added sentence continues the text, so copying
    must be decided by fit, not by a sentence-like note being there.
    """
    by_document: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        by_document.setdefault((row["corpus"], row["doc_id"]), []).append(row["continuation"])
    twins = []
    for row in rows:
        if not _has_real_notes(row) or rng.random() >= share:
            continue
        candidates = [
            sentence
            for sentence in by_document[(row["corpus"], row["doc_id"])]
            if sentence != row["continuation"] and sentence not in row["prefix"]
        ]
        if candidates:  # the position is drawn before the decoy, as the shipped adapter's data was
            twins.append(_twin(row, "decoy", rng.randrange(len(row["notes"]) + 1), rng.choice(candidates)))
    return rows + twins


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=Path, required=True, help="folder with train.jsonl and validation.jsonl")
    parser.add_argument("--gguf", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-4], help="one LoRA per rate, from the same base")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--max-target", type=int, default=64)
    parser.add_argument("--first-token-weight", type=float, default=1.0)
    parser.add_argument(
        "--oracle-twins", type=float, default=0.0, help="share of noted examples that also get an oracle twin"
    )
    parser.add_argument(
        "--decoy-twins",
        type=float,
        default=0.0,
        help="share of noted examples that also get a decoy twin (another cut's sentence of the same document)",
    )
    parser.add_argument(
        "--plain-weight", type=float, default=0.0, help="weight of KL(base || adapted) on plain text (plain.jsonl)"
    )
    parser.add_argument("--plain-batch", type=int, default=4, help="plain-text windows a step")
    parser.add_argument("--plain-window", type=int, default=1024, help="tokens a plain-text window")
    parser.add_argument(
        "--max-perplexity-rise",
        type=float,
        default=0.03,
        help="an epoch is kept only if validation plain-text perplexity rose less than this",
    )
    parser.add_argument(
        "--stop-after-epochs",
        type=int,
        default=0,
        help="end this call after so many epochs, its state saved for --resume (one command on the GPU is 10 minutes)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --out")
    parser.add_argument("--limit", type=int, default=0, help="use only this many training examples (a smoke run)")
    parser.add_argument("--validation-per-condition", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    checkpoint = args.out / "checkpoint.pt"
    resuming = args.resume and checkpoint.exists()
    if (args.resume or args.stop_after_epochs) and len(args.lr) != 1:
        parser.error("--resume and --stop-after-epochs need a single --lr")

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    began = time.perf_counter()
    folder, name = str(args.gguf.parent), args.gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    # Any: a peft model is put back in its place after each rate (``unload()``), a type of its own
    model: Any = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype, attn_implementation="eager")
    torch.nn.Module.to(model, device)  # the Module's own .to: transformers' wrapper is mistyped
    loaded_s = time.perf_counter() - began
    train_rows = read_jsonl(args.examples / "train.jsonl")
    if args.limit:
        train_rows = train_rows[: args.limit]
    train_rows = with_decoy_twins(
        with_oracle_twins(train_rows, args.oracle_twins, random.Random(args.seed)),
        args.decoy_twins,
        random.Random(f"decoy:{args.seed}"),
    )
    train = [e for e in (encode(tokenizer, r, args.max_tokens, args.max_target) for r in train_rows) if e]
    # validation always carries decoys, so every run reports whether its model copies a sentence that does not fit
    validation_rows = with_decoy_twins(read_jsonl(args.examples / "validation.jsonl"), 1.0, random.Random("decoy"))
    validation = [e for e in (encode(tokenizer, r, args.max_tokens, args.max_target) for r in validation_rows) if e]
    rng.shuffle(validation)
    plain_train, plain_validation = (
        plain_windows(tokenizer, read_jsonl(args.examples / f"{name}.jsonl"), args.plain_window)
        if (args.examples / f"{name}.jsonl").exists()
        else []
        for name in ("plain", "plain_validation")
    )
    plain_validation = plain_validation[: args.validation_per_condition]
    log: dict = json.loads((args.out / "train_log.json").read_text()) if resuming else {}
    seconds_before = log.get("seconds", 0.0)  # earlier calls' time, when resuming
    log |= {
        "args": {k: str(v) for k, v in vars(args).items()},
        "device": str(device),
        "torch": torch.__version__,
        "load_s": round(loaded_s, 1),
        "train_examples": len(train),
        "validation_examples": len(validation),
        "plain_windows": {"train": len(plain_train), "validation": len(plain_validation)},
        "steps": log.get("steps", []),
        "calls": log.get("calls", 0) + 1,
    }
    print(f"loaded in {loaded_s:.0f} s; {len(train)} training, {len(validation)} validation examples", flush=True)
    if not resuming:
        log["base"] = validate(model, tokenizer, validation, args.validation_per_condition, device, plain_validation)
        print("base", json.dumps(log["base"]), flush=True)

    base_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    ceiling = log["base"]["plain"]["perplexity"] * (1 + args.max_perplexity_rise) if plain_validation else math.inf
    for lr in args.lr:
        model.load_state_dict(base_state)
        tuned = get_peft_model(
            model,
            LoraConfig(
                r=args.rank,
                lora_alpha=2 * args.rank,
                lora_dropout=0.05,
                target_modules=LORA_TARGETS,
                task_type="CAUSAL_LM",
            ),
        )
        for parameter in tuned.parameters():
            if parameter.requires_grad:
                parameter.data = parameter.data.float()
        state = torch.load(checkpoint, weights_only=False) if resuming else None
        epochs = train_one(
            tuned, tokenizer, train, validation, (plain_train, plain_validation), args, lr, device, rng, state
        )
        for done, (epoch, report, state) in enumerate(epochs, start=1):
            log["steps"].append(report)
            report["within_perplexity_ceiling"] = report.get("plain", {}).get("perplexity", 0.0) <= ceiling
            save(tuned, args.out / f"lr{lr}-epoch{epoch}")
            if args.stop_after_epochs:
                torch.save(state, checkpoint)
                if done == args.stop_after_epochs and epoch < args.epochs:
                    log["resumable"] = f"epoch {epoch} of {args.epochs}: continue with --resume"
                    break
        else:
            log.pop("resumable", None)
        model = tuned.unload()  # the base model again, without the LoRA layers
    kept = [r for r in log["steps"] if r["within_perplexity_ceiling"]] or log["steps"]
    chosen = max(kept, key=lambda r: r["product_rouge_l"])
    log["chosen"] = {k: chosen[k] for k in ("lr", "epoch", "product_rouge_l", "within_perplexity_ceiling")}
    shutil.copytree(args.out / f"lr{chosen['lr']}-epoch{chosen['epoch']}", args.out / "adapter", dirs_exist_ok=True)
    log["seconds"] = round(seconds_before + time.perf_counter() - began, 1)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = ["Gemma3ForCausalLM"]
    (args.out / "adapter").mkdir(parents=True, exist_ok=True)
    (args.out / "adapter" / "config.json").write_text(json.dumps(config, indent=1))
    (args.out / "train_log.json").write_text(json.dumps(log, indent=1))
    print("chosen", json.dumps(log["chosen"]), file=sys.stderr)


def train_one(
    model,
    tokenizer,
    train: list[Encoded],
    validation: list[Encoded],
    plain: tuple[list[list[int]], list[list[int]]],
    args: argparse.Namespace,
    lr: float,
    device: torch.device,
    rng: random.Random,
    resume_from: dict | None = None,
):
    """Train one LoRA at ``lr``; yields (epoch, validation report, state to resume from) after each epoch.

    With ``--plain-weight``, each step also adds the KL to the base model on a few
    plain-text windows (a cycle through them, shuffled). ``resume_from`` is such a
    state: the LoRA, optimizer, schedule and sampling carry on where it was taken.
    """
    plain_train, plain_validation = plain
    kl_on = args.plain_weight > 0 and bool(plain_train)
    plain_order = list(range(len(plain_train)))
    rng.shuffle(plain_order)
    plain_next = 0
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train) / args.batch)
    total_steps, warmup = steps_per_epoch * args.epochs, max(10, steps_per_epoch // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
        ),
    )
    pad = tokenizer.pad_token_id or 0
    model.train()
    step, first_epoch = 0, 1
    if resume_from is not None:
        model.load_state_dict(resume_from["lora"], strict=False)
        optimizer.load_state_dict(resume_from["optimizer"])
        scheduler.load_state_dict(resume_from["scheduler"])
        step, first_epoch = resume_from["step"], resume_from["epoch"] + 1
        plain_order, plain_next = resume_from["plain_order"], resume_from["plain_next"]
        rng.setstate(resume_from["rng"])
    for epoch in range(first_epoch, args.epochs + 1):
        epoch_began, running, running_kl = time.perf_counter(), [], []
        for batch in batches(train, args.batch, rng):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss, _ = batch_loss(model, batch, pad, device, args.first_token_weight)
                running.append(loss.item())
                if kl_on:
                    chosen = [
                        plain_train[plain_order[(plain_next + i) % len(plain_order)]] for i in range(args.plain_batch)
                    ]
                    plain_next += args.plain_batch
                    kl = plain_kl(model, chosen, device)
                    running_kl.append(kl.item())
                    loss = loss + args.plain_weight * kl
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 50 == 0:
                print(
                    f"lr {lr} epoch {epoch} step {step}/{total_steps} "
                    f"loss {sum(running[-50:]) / len(running[-50:]):.3f}"
                    + (f" kl {sum(running_kl[-50:]) / len(running_kl[-50:]):.4f}" if running_kl else ""),
                    flush=True,
                )
        report = validate(model, tokenizer, validation, args.validation_per_condition, device, plain_validation)
        report.update(
            lr=lr,
            epoch=epoch,
            train_loss=sum(running) / len(running),
            train_kl=sum(running_kl) / len(running_kl) if running_kl else None,
            epoch_s=round(time.perf_counter() - epoch_began, 1),
        )
        print(f"lr {lr} epoch {epoch}", json.dumps(report), flush=True)
        state = {
            "lora": {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "epoch": epoch,
            "plain_order": plain_order,
            "plain_next": plain_next,
            "rng": rng.getstate(),
        }
        yield epoch, report, state


def save(model, folder: Path) -> None:
    """The adapter in half precision (what llama.cpp's converter writes anyway): small enough to carry back."""
    model.save_pretrained(folder)
    from safetensors.torch import load_file, save_file

    weights = folder / "adapter_model.safetensors"
    save_file({k: v.half().contiguous() for k, v in load_file(weights).items()}, weights)


if __name__ == "__main__":
    main()
