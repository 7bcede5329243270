#!/bin/sh
# The distributed test: 4 processes of spdl_distributed_worker under Open MPI's mpirun, each
# loading its shard of 103 indices for two epochs, then spdl_distributed_check on what they got.
#
#   sh mpirun_test.sh WORKER CHECKER OUT_DIR
#
# Exits 77 (ctest's SKIP_RETURN_CODE) when Open MPI's mpirun is not on PATH: a shell script
# because `cmake -P` can only choose its exit code from CMake 3.29 on.
set -eu

if [ $# -ne 3 ]; then
  echo "usage: sh mpirun_test.sh WORKER CHECKER OUT_DIR" >&2
  exit 2
fi
worker=$1 checker=$2 out_dir=$3
n=103 world=4

if ! mpirun=$(command -v mpirun); then
  echo "SKIPPED: mpirun not found (install Debian's openmpi-bin)"
  exit 77
fi
# Another MPI's mpirun (MPICH's) takes other flags and sets other variables.
if ! "$mpirun" --version 2>&1 | grep -q "Open MPI"; then
  echo "SKIPPED: $mpirun is not Open MPI's (install Debian's openmpi-bin)"
  exit 77
fi

rm -rf "$out_dir"
mkdir -p "$out_dir"

# --allow-run-as-root: Open MPI refuses to start as root otherwise (containers, CI).
# --oversubscribe: 4 processes even where there are fewer cores ("not enough slots").
# torchrun's variables, if this runs inside a torchrun job, would take precedence over Open
# MPI's in distributed_env(): clear them so the workers read mpirun's.
echo "+ mpirun --allow-run-as-root --oversubscribe -np $world $worker $out_dir $n"
env -u RANK -u WORLD_SIZE -u LOCAL_RANK -u LOCAL_WORLD_SIZE \
  "$mpirun" --allow-run-as-root --oversubscribe -np "$world" "$worker" "$out_dir" "$n"

exec "$checker" "$out_dir" "$n" "$world"
