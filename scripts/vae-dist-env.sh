# Sourced by train_vae.sh and run_analysis.sh: finds the binary and runs it, under mpirun when NP is set.
# VAE_DIST: the binary (default: this checkout's release build, else vae-dist on PATH).
# NP: MPI ranks (unset: one process). MPIRUN_FLAGS: extra mpirun flags, e.g. "--hostfile hostfiles/cluster".

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${VAE_DIST:-}" ]; then
    if [ -x "$repo/.build/release/vae-dist" ]; then VAE_DIST="$repo/.build/release/vae-dist"
    elif command -v vae-dist >/dev/null 2>&1; then VAE_DIST="$(command -v vae-dist)"
    else echo "Error: no vae-dist binary: run scripts/setup.sh, or set VAE_DIST=/path/to/vae-dist" >&2; exit 1
    fi
fi

# The original scripts pass --device cuda:N (and set CUDA_VISIBLE_DEVICES); this build runs on CPUs and scales
# with mpirun ranks, so a CUDA device becomes --device cpu with a notice.
translate_device() {
    args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --device) shift; device="${1:-}"; [ $# -gt 0 ] && shift ;;
            --device=*) device="${1#--device=}"; shift ;;
            *) args+=("$1"); shift; continue ;;
        esac
        if [ "${device,,}" != cpu ]; then
            echo "note: --device $device ignored: vae-dist computes on CPUs (set NP=4 to run 4 MPI ranks)" >&2
        fi
    done
}

run_vae_dist() {
    if [ -n "${NP:-}" ]; then
        flags=(-np "$NP")
        [ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
        # shellcheck disable=SC2206  # MPIRUN_FLAGS is a list of words by design
        flags+=(${MPIRUN_FLAGS:-})
        exec mpirun "${flags[@]}" "$VAE_DIST" "$@"
    fi
    exec "$VAE_DIST" "$@"
}
