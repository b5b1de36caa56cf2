#!/usr/bin/env bash
# The fuzz lane (tests/fuzz, issue 22): a separate Clang build of the parsers with ASan + UBSan +
# libFuzzer, then `ctest -L fuzz`: each target fuzzes for MIXHIC_FUZZ_SECONDS (default 60) from
# its committed seeds and fails on any crash, sanitizer report, leak or timeout; saved crash
# inputs (tests/fuzz/regressions/) run once each. ci/test.sh calls it after the main suite.
#   ci/fuzz.sh                        # build in ./build-fuzz
#   FUZZ_SECONDS=600 ci/fuzz.sh       # a longer run
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DMIXHIC_FUZZ=ON -DMIXHIC_BUILD_TESTS=OFF -DMIXHIC_WITH_CUDA=OFF -DMIXHIC_WITH_NCCL=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
      -DMIXHIC_FUZZ_SECONDS="${FUZZ_SECONDS:-60}" > "$BUILD_DIR/configure.log" 2>&1 || { cat "$BUILD_DIR/configure.log"; exit 1; }
cmake --build "$BUILD_DIR" --target mixhic_fuzz -j "$JOBS"
ctest --test-dir "$BUILD_DIR" -L fuzz --output-on-failure
