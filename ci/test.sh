#!/usr/bin/env bash
# The test command (README): installs missing Debian packages, configures a Release build,
# builds and runs the whole ctest suite (GPU-labelled tests excluded: CI has no GPU). Labels:
# mpi (under mpirun), model, train (mixhic-train end to end), slurm (a real one-node Slurm).
# Then the fuzz lane (ci/fuzz.sh): a small Clang ASan/UBSan build of the parsers in
# $BUILD_DIR-fuzz, each libFuzzer target for FUZZ_SECONDS (60) and src/io's unit tests once.
# SKIP_FUZZ=1 leaves it out.
# Then the torch-2.11 lane: the whole project again in $BUILD_DIR-torch211 against PyPI's
# torch==2.11.0 (the CUDA 13 wheel the GPU machines ship; ci/install-deps.sh --torch-lane makes
# its virtual environment once) with CUDA and NCCL on; it checks that mixhic-train links one
# libcudart and one libnccl, and runs the labels that exercise the model, the trainer and its
# checkpoints (model, train, finetune) and the distributed unit tests on the CPU, the PyTorch
# twin under that torch. SKIP_TORCH_LANE=1 leaves it out.
#   ci/test.sh                 # build in ./build
#   BUILD_DIR=/tmp/b ci/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

if [ "${SKIP_TORCH_LANE:-0}" != 1 ]; then bash ci/install-deps.sh --torch-lane; else bash ci/install-deps.sh; fi
# The Slurm tests' fixture starts a one-node cluster once and its cleanup stops it; this stops it
# even if a test run is killed half-way.
if [ "$(id -u)" -eq 0 ]; then trap "bash '$PWD/ci/slurm-local.sh' down >/dev/null 2>&1 || true" EXIT; fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DMIXHIC_BUILD_TESTS=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
# One test at a time: the MPI tests start up to 3 ranks on this 2-core machine.
(cd "$BUILD_DIR" && ctest --output-on-failure -LE gpu --timeout 900)
if [ "${SKIP_FUZZ:-0}" != 1 ]; then FUZZ_BUILD_DIR="$BUILD_DIR-fuzz" bash ci/fuzz.sh; fi
if [ "${SKIP_TORCH_LANE:-0}" != 1 ]; then BUILD_DIR="$BUILD_DIR-torch211" JOBS=$JOBS bash ci/torch-lane.sh; fi
