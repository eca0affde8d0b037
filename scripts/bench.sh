#!/usr/bin/env bash
# Reference benchmarks (docs/PERFORMANCE.md): vae-dist next to PyTorch on the same machine, run alternately, with
# medians over ROUNDS rounds and the ratios. Not a test: nothing here fails on a slow result.
#
# PyTorch runs from the Python of TORCH_VENV (default ~/torch-venv) with the reference programs in scripts/bench/;
# without it vae-dist is measured alone. Install it once (see docs/PERFORMANCE.md):
#   python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
#   ~/torch-venv/bin/pip install diffusers
#
# Output: a header naming the host (CPU model, family and model numbers), the OpenBLAS core and who chose it, our
# kernels (avx2 or avx512) and PyTorch's version; then a line per row, each followed by the kernels and BLAS core that
# row ran on (from its own JSON) and, where it has products, their GEMM rate as a share of the sgemm ceiling (the
# better of our kernel and OpenBLAS on a large product) and of the measured FMA peak of the same threads.
#
# Environment: ROUNDS (3), THREADS (2), ROWS (which rows, default all:
# "sgemm small sd128 sd256 sd256accum analyze256 analyze512 mpi"), TORCH_MICRO (1: PyTorch's micro-batch in the sd256
# rows, whose batch of 8 at 256 px does not fit in memory at once for PyTorch; sd256accum runs vae-dist with the same
# micro-batches through --grad_accum, sd256 with the whole batch at once), FAST_CONV (1: vae-dist with --fast_conv,
# Winograd F(4×4)). A quick run:
#   ROUNDS=1 ROWS="sgemm small analyze256" scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-3}"
threads="${THREADS:-2}"
rows="${ROWS:-sgemm small sd128 sd256 sd256accum analyze256 analyze512 mpi}"
micro="${TORCH_MICRO:-1}"
fast=""
[ "${FAST_CONV:-0}" = 1 ] && fast="--fast_conv"
swift build -c release --product vae-dist >/dev/null
bin="$(swift build -c release --show-bin-path)/vae-dist"
torch="${TORCH_VENV:-$HOME/torch-venv}/bin/python"
have_torch=0
[ -x "$torch" ] && have_torch=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
field() { sed -n "s/.*\"$1\" : \([0-9.e+-]*\).*/\1/p" | head -1; }
# A string field of bench's JSON (first occurrence), as printed (JSON escapes left as they are).
text_field() { sed -n "s/.*\"$1\" : \"\(.*\)\".*/\1/p" | head -1; }
# A field of one of bench's JSON objects ("peak", "measured_fma"; neither holds another object).
inner_field() { sed -n "/\"$1\" : {/,/}/p" | field "$2"; }
torch_field() { sed -n "s#.*$1=\([0-9.]*\).*#\1#p" | head -1; }
wanted() { [[ " $rows " == *" $1 "* ]]; }
# The convolutions' GEMM rate: the GEMMs' GFLOP per step over the seconds spent in them (conv and attention).
gemm_rate() { awk -v f="$(field gflop_per_step <<<"$1")" -v c="$(field 'conv (GEMM)' <<<"$1")" -v a="$(field attention <<<"$1")" \
    'BEGIN { print f / (c + (a == "" ? 0 : a)) }'; }
# What a run of vae-dist ran on, from its JSON: our kernels and the OpenBLAS core (and who chose it).
ran_on() { printf 'kernels %s, OpenBLAS %s' "$(text_field kernels <<<"$1")" "$(text_field blas_core_status <<<"$1")"; }

# The header, once, before the first row's line: it needs a run's JSON for the BLAS core and kernels.
header_done=0
header() {
    [ "$header_done" = 1 ] && return 0
    header_done=1
    local cpu
    if [ -r /proc/cpuinfo ]; then
        cpu="$(awk -F'\t*: ' '$1 == "model name" && !n {n = $2} $1 == "cpu family" && !f {f = $2} $1 == "model" && !m {m = $2}
            END {printf "%s (family %s, model %s)", n, f, m}' /proc/cpuinfo)"
    else
        cpu="$(text_field cpu <<<"$1")"
    fi
    echo "host: $cpu, $(getconf _NPROCESSORS_ONLN) processor(s); $(ran_on "$1")"
    if [ "$have_torch" = 1 ]; then
        echo "PyTorch $("$torch" -c 'import torch; print(torch.__version__, "(%d threads by default; the reference programs set THREADS)" % torch.get_num_threads())')"
    fi
    echo "vae-dist${fast:+ $fast} vs PyTorch, $threads threads, median of $rounds alternating rounds"
}

ceiling=""; fma_peak=""
if wanted sgemm; then
    values=(); own=(); blas=(); fma=(); clock=(); peak=""; peak_clock=""; peak_ports=""
    for _ in $(seq "$rounds"); do
        out="$($bin bench --mode sgemm --steps 5 --threads "$threads" --json)"
        values+=("$(field gflops_per_second <<<"$out")"); own+=("$(field own_kernel_gflops <<<"$out")")
        blas+=("$(field openblas_gflops <<<"$out")")
        fma+=("$(inner_field measured_fma gflops <<<"$out")"); clock+=("$(inner_field measured_fma implied_megahertz <<<"$out")")
        peak="$(inner_field peak gflops <<<"$out")"; peak_clock="$(inner_field peak megahertz <<<"$out")"
        peak_ports="$(inner_field peak fma_ports <<<"$out")"
    done
    # The ceiling is the better of our kernel and OpenBLAS on the same products; beside it the FMA rate the same
    # threads reach (and the clock it implies) and the arithmetic peak by formula (its clock read or assumed).
    ceiling="$(printf '%s\n' "${values[@]}" | median)"
    fma_peak="$(printf '%s\n' "${fma[@]}" | median)"
    header "$out"
    printf '%-38s %.1f GFLOP/s (a 2048×2048×2048 product per thread, %s threads): ours %.1f, OpenBLAS %.1f, measured FMA peak %.1f (clock ≈ %.0f MHz), formula peak %s\n' \
        "sgemm ceiling" "$ceiling" "$threads" "$(printf '%s\n' "${own[@]}" | median)" "$(printf '%s\n' "${blas[@]}" | median)" \
        "$fma_peak" "$(printf '%s\n' "${clock[@]}" | median)" \
        "$([ -n "$peak" ] && printf '%.1f (assumed %.0f MHz, %s FMA ports)' "$peak" "$peak_clock" "$peak_ports" || echo unknown)"
    printf '%-38s ran on %s\n' "" "$(ran_on "$out")"
fi

# row KEY NAME "ours args" "torch args" [gemm]: with gemm, the GEMM rate and its share of the ceiling too.
row() {
    local key="$1" name="$2" ours="$3" theirs="$4" gemm="${5:-}"
    wanted "$key" || return 0
    local ours_s=() ours_mb=() ours_gemm=() torch_s=() torch_mb=() ours_json=""
    for _ in $(seq "$rounds"); do
        out="$($bin bench $ours $fast --threads "$threads" --json)"
        ours_json="$out"
        ours_s+=("$(field seconds_per_step <<<"$out")")
        ours_mb+=("$(field peak_resident_mb <<<"$out")")
        ours_gemm+=("$(gemm_rate "$out")")
        if [ "$have_torch" = 1 ]; then
            out="$($torch $theirs)"
            torch_s+=("$(torch_field 's/[a-z]*' <<<"$out")")
            torch_mb+=("$(torch_field maxrss_MB <<<"$out")")
        fi
    done
    header "$ours_json"
    local os om og
    os="$(printf '%s\n' "${ours_s[@]}" | median)"
    om="$(printf '%s\n' "${ours_mb[@]}" | median)"
    og="$(printf '%s\n' "${ours_gemm[@]}" | median)"
    if [ "$have_torch" = 1 ]; then
        local ts tm
        ts="$(printf '%s\n' "${torch_s[@]}" | median)"
        tm="$(printf '%s\n' "${torch_mb[@]}" | median)"
        awk -v n="$name" -v os="$os" -v om="$om" -v ts="$ts" -v tm="$tm" 'BEGIN {
            printf "%-38s vae-dist %8.3f s %6.0f MB | PyTorch %8.3f s %6.0f MB | speed %.2fx  memory %.2fx\n", n, os, om, ts, tm, ts / os, om / tm }'
    else
        awk -v n="$name" -v os="$os" -v om="$om" 'BEGIN { printf "%-38s vae-dist %8.3f s %6.0f MB (no PyTorch)\n", n, os, om }'
    fi
    printf '%-38s ran on %s\n' "" "$(ran_on "$ours_json")"
    if [ -n "$gemm" ]; then
        awk -v g="$og" -v c="$ceiling" -v p="$fma_peak" 'BEGIN {
            if (c == "") printf "%-38s conv GEMM %.1f GFLOP/s (ROWS without sgemm: no ceiling)\n", "", g
            else printf "%-38s conv GEMM %.1f GFLOP/s = %.0f%% of the %.1f GFLOP/s sgemm ceiling, %.0f%% of the %.1f GFLOP/s measured FMA peak\n", "", g, 100 * g / c, c, 100 * g / p, p }'
    fi
}

bench="scripts/bench"
row small "train small (ch 32, 64 px, batch 8)" "--config configs/bench-small.yaml --img_size 64 --batch_size 8 --steps 4" \
    "$bench/torch_train_step.py 32 1,2,4,4 2 64 8 4 $threads" gemm
row sd128 "train SD v1 (128 px, batch 2)" "--preset sd-v1 --img_size 128 --batch_size 2 --steps 2" \
    "$bench/torch_train_step.py 128 1,2,4,4 2 128 2 2 $threads" gemm
row sd256 "train SD v1 (256 px, batch 8), per step" "--preset sd-v1 --img_size 256 --batch_size 8 --steps 1" \
    "$bench/torch_train_step.py 128 1,2,4,4 2 256 8 1 $threads $micro" gemm
row sd256accum "train SD v1 (256 px, 8 in micro-batches of $micro)" "--preset sd-v1 --img_size 256 --batch_size $micro --grad_accum $((8 / micro)) --steps 1" \
    "$bench/torch_train_step.py 128 1,2,4,4 2 256 8 1 $threads $micro" gemm
row analyze256 "analyse one pair, SD v1, 256 px" "--preset sd-v1 --mode analyze --img_size 256 --steps 2" \
    "$bench/torch_analyze_pair.py 256 $threads" gemm
row analyze512 "analyse one pair, SD v1, 512 px" "--preset sd-v1 --mode analyze --img_size 512 --steps 1" \
    "$bench/torch_analyze_pair.py 512 $threads" gemm

# Data parallelism on one node: 2 ranks × 1 thread against 1 rank × 2 threads (same global batch), alternating.
if wanted mpi; then
    small="--config configs/bench-small.yaml --img_size 64 --batch_size 8 --steps 4"
    ones=() twos=()
    for _ in $(seq "$rounds"); do
        ones+=("$($bin bench $small $fast --threads 2 --json | field seconds_per_step)")
        out="$(mpirun --oversubscribe -np 2 "$bin" bench $small $fast --threads 1 --json)"
        twos+=("$(field seconds_per_step <<<"$out")")
    done
    header "$out"
    one="$(printf '%s\n' "${ones[@]}" | median)"
    two="$(printf '%s\n' "${twos[@]}" | median)"
    awk -v a="$one" -v b="$two" 'BEGIN { printf "%-38s 1 rank x 2 threads %.3f s | 2 ranks x 1 thread %.3f s | ratio %.2f\n", "train small, 2 ranks vs 2 threads", a, b, b / a }'
    printf '%-38s ran on %s\n' "" "$(ran_on "$out")"
fi
