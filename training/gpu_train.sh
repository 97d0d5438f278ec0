#!/usr/bin/env bash
# One training run on a bare GPU machine (the device tool), after the GGUF pieces were
# copied to /tmp/gguf by earlier calls: assemble and check the model, install the
# carried wheels (transformers 5.24 reads Gemma 3 GGUF correctly; the image's 5.17
# does not), train, and put the adapter and its log under $OUT.
#   carry: .gpu/wheels .gpu/examples (with plain.jsonl)    env: LR EPOCHS (defaults 1e-4, 3)
#   The shipped adapter (decoy twins, docs/memory-adapter.md): LR=3e-4 EPOCHS=1 training/gpu_train.sh --oracle-twins 1.0
#   --decoy-twins 1.0 --plain-weight 1 --plain-batch 2 --max-tokens 1408 --validation-per-condition 48 (7 minutes on an H100)
#   The KL adapter before it: LR=3e-4 EPOCHS=1 training/gpu_train.sh --oracle-twins 1.0 --plain-weight 1 --plain-batch 2
#   (about 5 minutes: load 80 s, an epoch 210 s; with --plain-batch 4 an epoch takes 270 s, so
#   two epochs do not fit one 10-minute command). A longer run spans calls made within the
#   machine's 30 s warm window (/tmp stays): --epochs 3 --stop-after-epochs 1 in the first,
#   --epochs 3 --resume --stop-after-epochs 1 in each next; every call brings back the best
#   adapter so far.
set -euo pipefail
expected=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
model=/tmp/gguf/gemma-3-270m-q4_k_m.gguf
if [ ! -f "$model" ]; then
    cat /tmp/gguf/gguf.part* > "$model.partial"
    echo "$expected  $model.partial" | sha256sum -c - && mv "$model.partial" "$model"
fi
[ -d /tmp/pylib/transformers ] || pip install -q --no-deps --target /tmp/pylib .gpu/wheels/*.whl
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
PYTHONPATH=/tmp/pylib:. python -m training.train_adapter --examples .gpu/examples --gguf "$model" \
    --out /tmp/trained --lr "${LR:-1e-4}" --epochs "${EPOCHS:-3}" "$@"
cp /tmp/trained/train_log.json "$OUT/"
cp /tmp/trained/adapter/adapter_model.safetensors /tmp/trained/adapter/adapter_config.json \
   /tmp/trained/adapter/config.json "$OUT/"
