#!/usr/bin/env bash
# Reference benchmarks (docs/PERFORMANCE.md): vae-dist next to PyTorch on the same machine, alternating, with
# medians over ROUNDS rounds and the ratios. PyTorch runs only if its venv exists (TORCH_VENV, default
# ~/torch-venv; see docs/PERFORMANCE.md). Not a test: nothing here fails on a slow result.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-3}"
threads="${THREADS:-2}"
bin="$(swift build -c release --show-bin-path)/vae-dist"
[ -x "$bin" ] || swift build -c release --product vae-dist
shared="${SHARED:-../shared}/bench"
torch="${TORCH_VENV:-$HOME/torch-venv}/bin/python"
have_torch=0
[ -x "$torch" ] && [ -d "$shared" ] && have_torch=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
field() { sed -n "s/.*\"$1\" : \([0-9.e+-]*\).*/\1/p" | head -1; }
torch_field() { sed -n "s#.*$1=\([0-9.]*\).*#\1#p" | head -1; }

# row NAME "ours args" "torch command"
row() {
    local name="$1" ours="$2" theirs="$3"
    local ours_s=() ours_mb=() torch_s=() torch_mb=()
    for _ in $(seq "$rounds"); do
        out="$($bin bench $ours --threads "$threads" --json)"
        ours_s+=("$(echo "$out" | field seconds_per_step)")
        ours_mb+=("$(echo "$out" | field peak_resident_mb)")
        if [ "$have_torch" = 1 ]; then
            out="$($torch $theirs)"
            torch_s+=("$(echo "$out" | torch_field 's/[a-z]*')")
            torch_mb+=("$(echo "$out" | torch_field maxrss_MB)")
        fi
    done
    local os om
    os="$(printf '%s\n' "${ours_s[@]}" | median)"
    om="$(printf '%s\n' "${ours_mb[@]}" | median)"
    if [ "$have_torch" = 1 ]; then
        local ts tm
        ts="$(printf '%s\n' "${torch_s[@]}" | median)"
        tm="$(printf '%s\n' "${torch_mb[@]}" | median)"
        awk -v n="$name" -v os="$os" -v om="$om" -v ts="$ts" -v tm="$tm" 'BEGIN {
            printf "%-34s vae-dist %8.3f s %6.0f MB | PyTorch %8.3f s %6.0f MB | speed %.2fx  memory %.2fx\n", n, os, om, ts, tm, ts / os, om / tm }'
    else
        awk -v n="$name" -v os="$os" -v om="$om" 'BEGIN { printf "%-34s vae-dist %8.3f s %6.0f MB (no PyTorch venv)\n", n, os, om }'
    fi
}

echo "vae-dist vs PyTorch, $threads threads, median of $rounds alternating rounds"
row "train small (ch 32, 64 px, batch 8)" "--config configs/bench-small.yaml --img_size 64 --batch_size 8 --steps 4" \
    "$shared/torch_train_step.py 32 1,2,4,4 2 64 8 4 $threads"
row "train SD v1 (128 px, batch 2)" "--preset sd-v1 --img_size 128 --batch_size 2 --steps 2" \
    "$shared/torch_train_step.py 128 1,2,4,4 2 128 2 2 $threads"
row "analyse one pair, SD v1, 256 px" "--preset sd-v1 --mode analyze --img_size 256 --steps 2" \
    "$shared/torch_analyze_pair.py 256 $threads"

# Data parallelism on one node: 2 ranks × 1 thread against 1 rank × 2 threads (same global batch).
one="$($bin bench --config configs/bench-small.yaml --img_size 64 --batch_size 8 --steps 4 --threads 2 --json | field seconds_per_step)"
two="$(mpirun --oversubscribe -np 2 "$bin" bench --config configs/bench-small.yaml --img_size 64 --batch_size 8 --steps 4 --threads 1 --json | field seconds_per_step)"
awk -v a="$one" -v b="$two" 'BEGIN { printf "%-34s 1 rank x 2 threads %.3f s | 2 ranks x 1 thread %.3f s | ratio %.2f\n", "train small, MPI overlap", a, b, b / a }'
