# Sourced by train.sbatch and analyze.sbatch: `launch` is the command that starts one vae-dist rank per SLURM task,
# each computing with the task's --cpus-per-task cores (`threads`, passed to vae-dist as --threads).
#   LAUNCHER=srun (default): srun --mpi=pmix (Open MPI built with PMIx, SLURM's pmix plugin). srun is given
#     --cpus-per-task again: since SLURM 22.05 it no longer inherits it from sbatch, and each task would get one core.
#   LAUNCHER=mpirun: Open MPI's mpirun inside the allocation (it reads the nodes and tasks from SLURM), each rank
#     bound to its own --cpus-per-task cores (Open MPI's default would bind a rank to one core or a whole socket).
# VAE_DIST is the binary (scripts/vae-dist-env.sh: this checkout's release build, else vae-dist on PATH).
threads="${SLURM_CPUS_PER_TASK:-}"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "Error: SLURM_CPUS_PER_TASK is '$threads': submit with sbatch --cpus-per-task N (the threads of each rank)" >&2; exit 64; }
case "${LAUNCHER:-srun}" in
    srun) launch=(srun --mpi=pmix --cpus-per-task="$threads" --kill-on-bad-exit=1) ;;
    mpirun) launch=(mpirun --map-by "slot:PE=$threads" --bind-to core) ;;
    *) echo "Error: LAUNCHER must be srun or mpirun, got '$LAUNCHER'" >&2; exit 64 ;;
esac
