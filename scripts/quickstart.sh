#!/usr/bin/env bash
# The main command (README): the whole pipeline on an embedded default, on a fresh Debian 12,
# with nothing else to set up. Generates a synthetic genome (Hi-C .mcool + bigWig tracks whose
# marks really shape the map), builds the training corpus with 2 MPI ranks, and validates it.
#   scripts/quickstart.sh [WORK_DIR]      (default: ./quickstart)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$ROOT/quickstart}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
NP=${NP:-2}

step() { printf '\n== %s\n' "$*"; }

step "1/4 dependencies (Debian packages, skipped when present)"
bash "$ROOT/ci/install-deps.sh"

step "2/4 build (Release) in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target mixhic-prep mixhic-model

MPIRUN=(mpirun -np "$NP" --bind-to none)
if [ "$(id -u)" -eq 0 ]; then MPIRUN+=(--allow-run-as-root --oversubscribe); fi

step "3/4 synthetic inputs: 2 cell types, 4 chromosomes, CTCF/ATAC/H3K27ac/H3K27me3"
mkdir -p "$WORK"
"$BUILD_DIR/mixhic-prep" synth --out-dir "$WORK/inputs"

step "4/4 corpus: ICE balancing + windows + track bins on $NP MPI ranks"
"${MPIRUN[@]}" "$BUILD_DIR/mixhic-prep" --config "$ROOT/configs/prep-synth.ini" \
  --config "$WORK/inputs/inputs.ini" --output "$WORK/corpus.h5" 2>&1 | grep -v ' = '
"$BUILD_DIR/mixhic-prep" inspect "$WORK/corpus.h5" --verify

step "model the corpus will train (tiny config; training is issue 4)"
"$BUILD_DIR/mixhic-model" describe --config "$ROOT/configs/model/tiny.ini" --corpus "$WORK/corpus.h5"

printf '\nquickstart: corpus ready at %s\n' "$WORK/corpus.h5"
