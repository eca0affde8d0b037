#!/usr/bin/env bash
# The embedded default job: generate breast-ultrasound-like phantoms, train a small VAE on them with two MPI
# ranks, reconstruct a few images and analyse, layer by layer, how the decoder responds to the lesion pairs.
# Outputs go to ./demo (override: DEMO_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build -c release --show-bin-path)/vae-dist"
[ -x "$bin" ] || { echo "demo: $bin is missing; run scripts/setup.sh first" >&2; exit 1; }
out="${DEMO_DIR:-demo}"
mpirun_flags=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_flags+=(--allow-run-as-root)

"$bin" synth-data --output "$out/phantoms" --count 64 --pairs 8 --img_size 64 --seed 0
mpirun "${mpirun_flags[@]}" -np 2 "$bin" train --train_dir "$out/phantoms/train" --config_path configs/demo-small.yaml \
    --output_dir "$out/vae_output" --img_size 64 --batch_size 8 --epochs 6 --lr 1e-3 --kl_weight 1e-6 \
    --save_interval 3 --threads 1 --overwrite
"$bin" reconstruct --checkpoint "$out/vae_output/vae_final.safetensors" --config configs/demo-small.yaml \
    --img_size 64 --output "$out/reconstructions" "$out"/phantoms/pairs/positive/case_000{1,2,3}.png
mpirun "${mpirun_flags[@]}" -np 2 "$bin" analyze-folder --folder "$out/phantoms/pairs" \
    --checkpoint "$out/vae_output/vae_final.safetensors" --img_size 64 --method both --output "$out/analysis" --threads 1

echo
echo "demo outputs:"
echo "  phantoms:         $out/phantoms (train/, pairs/positive, pairs/negative, pairs/lesions.json)"
echo "  training:         $out/vae_output (checkpoints/, reconstructions/, training_history.json, training_curves.png, vae_final.safetensors)"
echo "  reconstructions:  $out/reconstructions"
echo "  layer analysis:   $out/analysis/batch (report.html, aggregated_results.json, aggregated_differences.png, layer_ranking.csv, lesion_enrichment.csv, pair_metrics.csv, one folder per pair)"
