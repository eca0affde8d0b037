#!/usr/bin/env bash
# The original tool's run_analysis.sh, running vae-dist:
#   scripts/run_analysis.sh single --img1 tumor.png --img2 masked_tumor.png --method both --checkpoint W
#   scripts/run_analysis.sh folder --folder data/ultrasound_pairs --method both --checkpoint W
# Every flag of analyze_vae_layers.py is passed on; NP=8 spreads folder pairs over 8 MPI ranks.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/vae-dist-env.sh"

usage="usage: scripts/run_analysis.sh single|folder [analyze flags…]  (see: vae-dist analyze --help)"
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
mode="$1"; shift
translate_device "$@"
case "$mode" in
    single) run_vae_dist analyze ${args[@]+"${args[@]}"} ;;
    folder) run_vae_dist analyze-folder ${args[@]+"${args[@]}"} ;;
    *) echo "Error: unknown mode '$mode'; $usage" >&2; exit 2 ;;
esac
