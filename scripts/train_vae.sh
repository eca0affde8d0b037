#!/usr/bin/env bash
# The original tool's train_vae.sh, running vae-dist. Settings below can be overridden from the environment
# (TRAIN_DIR=... EPOCHS=... scripts/train_vae.sh); any further flag is passed on (scripts/train_vae.sh --lr 3e-4).
# NP=4 runs 4 MPI ranks; MPIRUN_FLAGS adds mpirun flags (e.g. "--hostfile hostfiles/cluster --bind-to none").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/vae-dist-env.sh"

TRAIN_DIR="${TRAIN_DIR:-../data/breast_tumors/train_images}"
CONFIG_PATH="${CONFIG_PATH:-}"
OUTPUT_DIR="${OUTPUT_DIR:-vae_output}"
BATCH_SIZE="${BATCH_SIZE:-8}"
EPOCHS="${EPOCHS:-100}"
LR="${LR:-1e-4}"
KL_WEIGHT="${KL_WEIGHT:-1.0}"
IMG_SIZE="${IMG_SIZE:-256}"
SAVE_INTERVAL="${SAVE_INTERVAL:-10}"

translate_device "$@"
config=()
[ -n "$CONFIG_PATH" ] && config=(--config_path "$CONFIG_PATH")
echo "training a VAE on $TRAIN_DIR -> $OUTPUT_DIR (${NP:-1} rank(s))"
run_vae_dist train --train_dir "$TRAIN_DIR" "${config[@]}" --output_dir "$OUTPUT_DIR" --batch_size "$BATCH_SIZE" \
    --epochs "$EPOCHS" --lr "$LR" --kl_weight "$KL_WEIGHT" --img_size "$IMG_SIZE" --save_interval "$SAVE_INTERVAL" \
    ${args[@]+"${args[@]}"}
