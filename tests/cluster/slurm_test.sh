#!/usr/bin/env bash
# Slurm jobs on the test cluster (run as `cluster.sh run 3 --slurm -- slurm_test.sh ...` from
# the repository's root):
#   slurm_test.sh batch SCRIPT      sbatch --wait SCRIPT; prints its output and exit status
#   slurm_test.sh salloc CMD...     salloc -N 3 --ntasks-per-node=2 CMD...
#   slurm_test.sh scancel CMD...    sbatch a job running CMD (which prints "ready:" once it
#                                   works), scancel it, then check that nothing of it is left
#                                   on any host
# Jobs run with the allocation's real capacity: the test harness's oversubscription is
# removed, so spawn_nodes checks against the slots Slurm gave (MPI_UNIVERSE_SIZE).
set -u
: "${SLURM_CONF:?run me through cluster.sh run --slurm}"
unset OMPI_MCA_rmaps_base_oversubscribe
work=$(mktemp -d "${TMPDIR:-/tmp}/cadre-slurm-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The job's processes (not Slurm's own daemons) still on the cluster's hosts.
job_leftovers() {
  "$CADRE_CLUSTER_SH" pids "$CADRE_CLUSTER" |
    awk '$3 ~ /(cadre-[a-z-]*|orted|mpirun|slurmstepd|srun)$/ || $4 ~ /cadre-run$/' 
}

case "${1:-}" in
  batch)
    sbatch --wait --output="$work/out" -D "$PWD" "$2"
    rc=$?
    cat "$work/out"
    echo "slurm_test: the batch job exited with $rc"
    exit $rc ;;
  salloc)
    shift
    salloc -N 3 --ntasks-per-node=2 "$@"
    rc=$?
    echo "slurm_test: salloc exited with $rc"
    exit $rc ;;
  scancel)
    shift
    printf '#!/bin/bash\nexec %s\n' "$*" >"$work/job.sh"
    id=$(sbatch --parsable -N 3 --ntasks-per-node=2 --output="$work/out" -D "$PWD" "$work/job.sh")
    echo "slurm_test: submitted job $id"
    for _ in $(seq 600); do
      grep -q '^ready:' "$work/out" 2>/dev/null && break
      sleep 0.1
    done
    if ! grep -q '^ready:' "$work/out" 2>/dev/null; then
      cat "$work/out" 2>/dev/null
      echo "slurm_test: FAIL: job $id never became ready"
      scancel "$id"
      exit 1
    fi
    t0=$(now_ms)
    scancel "$id"
    echo "slurm_test: cancelled job $id"
    for _ in $(seq 600); do
      [ -z "$(squeue -h -j "$id" 2>/dev/null)" ] && [ -z "$(job_leftovers)" ] && break
      sleep 0.1
    done
    cat "$work/out"
    left=$(job_leftovers)
    if [ -n "$left" ]; then
      echo "slurm_test: FAIL: 60 s after scancel still running:"
      echo "$left"
      exit 1
    fi
    echo "slurm_test: job $id and all its processes gone $(($(now_ms) - t0)) ms after scancel" ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
