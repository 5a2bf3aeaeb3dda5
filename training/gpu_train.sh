#!/usr/bin/env bash
# Train on one NVIDIA GPU for a given number of minutes, from a pack made by
# `python -m pillow_nnc.train.pack` (photos, start weights, options, wheels).
#   bash training/gpu_train.sh PACK MINUTES OUT
# Writes OUT/run/checkpoint.pt (resumable here: python -m pillow_nnc.train --out OUT/run)
# and OUT/run/log.jsonl. Needs Python 3.12 with torch (CUDA), numpy, pillow,
# safetensors and tqdm; installs the pack's wheels into /tmp/site.
set -euo pipefail
PACK=${1:?pack folder}
MINUTES=${2:-9}
OUTDIR=${3:?output folder}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$PACK"/wheels/*.whl
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# Batch 32 of 256-pixel patches: a GPU wants far more pixels per step than
# the CPU runs' 8 x 128 px; validation runs later on the CPU (--val-every 0).
# shellcheck disable=SC2046
python3 -m pillow_nnc.train --device "${DEVICE:-cuda}" --data "$PACK/train" --init-from "$PACK/init.safetensors" \
    --out "$OUTDIR/run" --minutes "$MINUTES" --batch "${BATCH:-32}" --patch "${PATCH:-256}" --val-every 0 \
    --threads "${THREADS:-4}" --workers "${WORKERS:-10}" --ckpt-minutes 2 $(cat "$PACK/train-args")
