#!/usr/bin/env bash
# CI's second build lane (ci/test.sh; README "Tests"): mixhic built against PyPI's torch 2.11.0
# (CUDA 13 wheel) with MIXHIC_WITH_CUDA=ON and MIXHIC_WITH_NCCL=ON, tested on the CPU.
#   bash ci/install-deps.sh --torch-lane && ci/torch-lane.sh        # build in ./build-torch211
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-torch211}
JOBS=${JOBS:-$(nproc)}
VENV=${MIXHIC_TORCH_VENV:-/opt/mixhic/venv-torch-2.11}
PY=$VENV/bin/python
[ -x "$PY" ] || { echo "torch-lane: no $PY (run: bash ci/install-deps.sh --torch-lane)" >&2; exit 1; }
TORCH_CMAKE=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DMIXHIC_BUILD_TESTS=ON -DMIXHIC_WITH_CUDA=ON \
  -DMIXHIC_WITH_NCCL=ON -DCMAKE_PREFIX_PATH="$TORCH_CMAKE" -DMIXHIC_TWIN_PYTHON="$PY"
cmake --build "$BUILD_DIR" -j "$JOBS"

# One CUDA runtime and one NCCL in the process: the wheel's (LibTorch loads them; a second copy
# from /usr/local/cuda would be a second set of globals).
libs=$(ldd "$BUILD_DIR/mixhic-train")
for lib in libcudart libnccl; do
  n=$(grep -c "$lib\\.so" <<< "$libs" || true)
  if [ "$n" != 1 ]; then
    echo "torch-lane: $BUILD_DIR/mixhic-train links $n copies of $lib (expected 1):" >&2
    grep "$lib" <<< "$libs" >&2 || true
    exit 1
  fi
  grep "$lib\\.so" <<< "$libs" | grep -q "$VENV/" || { echo "torch-lane: $lib is not the wheel's: $(grep "$lib" <<< "$libs")" >&2; exit 1; }
done
echo "torch-lane: mixhic-train links one libcudart and one libnccl, the wheel's"

(cd "$BUILD_DIR" && ctest --output-on-failure -L 'model|train|finetune' -LE gpu --timeout 900)
(cd "$BUILD_DIR" && ctest --output-on-failure -R '^(Comm|GpuBinding|GradBuckets|HangWatchdog|SampleOrder)\.|^MPI\.comm_' -LE gpu --timeout 900)
