#!/usr/bin/env bash
# Restarts a training job that dies (a node lost, a rank killed by the OOM killer, a network failure), continuing
# from its last checkpoint with --resume auto, up to --max_restarts times:
#
#   scripts/train_elastic.sh --max_restarts 3 -- mpirun --hostfile hostfiles/cluster -np 8 vae-dist train … --output_dir out
#
# Everything after `--` is the job's command line (mpirun, srun, or vae-dist alone); on a restart it is run again
# without its --overwrite and --resume, plus --resume auto. A wrapper rather than a vae-dist flag: once a rank dies,
# MPI ends the whole job (Open MPI 4.1 cannot shrink a running world), so only a process outside the job can start
# it again; and a wrapper can run a new mpirun line, e.g. with a hostfile that no longer lists the lost node
# (--hostfile is read again at each start).
#
# Not restarted: success (exit 0, also a run stopped by SIGUSR1/SIGTERM with its checkpoint: that stop was asked
# for), a usage error (exit 64), and a failure vae-dist reports as "Error: …" (a problem every rank meets: bad input,
# an output directory in use, a non-finite loss), which a restart would meet again. SIGINT, SIGTERM and SIGUSR1 sent
# to this script go to the job, and end the restarts.
#
# Options: --max_restarts N (default 3), --restart_delay SECONDS before each restart (default 10).
set -uo pipefail

max_restarts=3 delay=10
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
        --max_restarts|--max-restarts) max_restarts="${2:-}"; shift 2 ;;
        --restart_delay|--restart-delay) delay="${2:-}"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "train_elastic: unknown option $1 (the job's command line goes after --)" >&2; exit 64 ;;
    esac
done
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "train_elastic: give the job's command line after --, e.g. -- mpirun -np 4 vae-dist train …" >&2; exit 64; }
[[ "$max_restarts" =~ ^[0-9]+$ ]] || { echo "train_elastic: --max_restarts must be a whole number, got '$max_restarts'" >&2; exit 64; }
[[ "$delay" =~ ^[0-9]+$ ]] || { echo "train_elastic: --restart_delay must be whole seconds, got '$delay'" >&2; exit 64; }

first=("$@")
# The restart's command: the same without --overwrite (a new run) and --resume (another start point), plus --resume auto.
again=()
skip_next=0
for arg in "${first[@]}"; do
    if [ "$skip_next" -eq 1 ]; then skip_next=0; continue; fi
    case "$arg" in
        --overwrite) ;;
        --resume) skip_next=1 ;;
        --resume=*) ;;
        *) again+=("$arg") ;;
    esac
done
again+=(--resume auto)

errors="$(mktemp "${TMPDIR:-/tmp}/train_elastic.XXXXXX")"
job=0 stopping=0
forward() { stopping=1; [ "$job" -gt 0 ] && kill -"$1" "$job" 2>/dev/null; }
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward USR1' USR1
trap 'rm -f "$errors"' EXIT

attempt=0
command=("${first[@]}")
while :; do
    # stderr is shown as it comes and kept, to tell a reported error from a crash.
    "${command[@]}" 2> >(tee "$errors" >&2) &
    job=$!
    status=0
    # wait returns early when a forwarded signal arrives; wait again until the job has ended.
    while :; do
        wait "$job"; status=$?
        kill -0 "$job" 2>/dev/null || break
    done
    job=0
    sleep 0.2  # let tee finish writing $errors
    if [ "$status" -eq 0 ]; then exit 0; fi
    if [ "$stopping" -eq 1 ]; then echo "train_elastic: stopped by a signal (exit $status); not restarting" >&2; exit "$status"; fi
    if [ "$status" -eq 64 ]; then exit 64; fi
    if grep -q '^Error: ' "$errors"; then
        echo "train_elastic: the job reported an error that a restart would meet again (exit $status); not restarting" >&2
        exit "$status"
    fi
    if [ "$attempt" -ge "$max_restarts" ]; then
        echo "train_elastic: the job failed (exit $status) after $attempt restart(s); giving up (--max_restarts $max_restarts)" >&2
        exit "$status"
    fi
    attempt=$((attempt + 1))
    echo "train_elastic: the job failed (exit $status); restart $attempt of $max_restarts in ${delay} s with --resume auto" >&2
    sleep "$delay"
    if [ "$stopping" -eq 1 ]; then echo "train_elastic: stopped by a signal; not restarting" >&2; exit "$status"; fi
    command=("${again[@]}")
done
