#!/usr/bin/env bash
# Installs every Debian 12 package mixhic needs to build, test and benchmark.
# Idempotent: packages already installed are skipped, so a warm machine costs ~1 s.
# Called by ci/test.sh and scripts/quickstart.sh; safe to run by hand (needs root or sudo).
# With --torch-lane it also makes the virtual environment of CI's second build lane (PyPI's
# torch==2.11.0, the CUDA 13 wheel the GPU machines ship) at $MIXHIC_TORCH_VENV
# (default /opt/mixhic/venv-torch-2.11); an environment that already imports that torch is kept.
set -euo pipefail
TORCH_LANE=0
if [ "${1:-}" = "--torch-lane" ]; then TORCH_LANE=1; fi
TORCH_VERSION=2.11.0
TORCH_VENV=${MIXHIC_TORCH_VENV:-/opt/mixhic/venv-torch-2.11}

PACKAGES=(
  # toolchain
  build-essential cmake ccache pkg-config git
  # LibTorch (CPU) and the BLAS it must use: without libopenblas0-pthread LibTorch
  # falls back to reference BLAS and matmul is ~14x slower.
  libtorch-dev libopenblas0-pthread
  # MPI, parallel HDF5 and the libraries the binaries link
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
  libboost-program-options-dev libfmt-dev libgtest-dev libbigwig-dev zlib1g-dev libpng-dev
  # test oracles (system python3, not a virtualenv)
  python3 python3-numpy python3-cooler python3-pybigwig python3-h5py python3-scipy python3-sklearn
  # the PyTorch twin of the model (tests/reference) and the DDP peer of the benchmarks
  python3-torch
  # the fuzz lane (ci/fuzz.sh): Clang with libFuzzer, ASan and UBSan
  clang-14 libclang-rt-14-dev
  # a one-node Slurm cluster for the tests of scripts/slurm (ci/slurm-local.sh)
  slurmctld slurmd slurm-client munge
  # the virtual environment of the torch-2.11 lane (--torch-lane)
  python3-venv
)

# The torch-2.11 lane's environment: PyPI's wheel pulls its CUDA 13 runtime, cuDNN and NCCL as
# nvidia-* wheels (~4.5 GB), which LibTorch's CMake config and mixhic's runtime path then use.
make_torch_venv() {
  if "$TORCH_VENV/bin/python" -c "import torch, numpy, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    echo "install-deps: torch $TORCH_VERSION present in $TORCH_VENV"
    return
  fi
  echo "install-deps: making $TORCH_VENV with torch==$TORCH_VERSION (PyPI, several minutes)"
  rm -rf "$TORCH_VENV.tmp"
  mkdir -p "$(dirname "$TORCH_VENV")"
  /usr/bin/python3 -m venv "$TORCH_VENV.tmp"  # Debian's python3 (python3-venv), not another on PATH
  # The environment is built under a temporary name and renamed once torch imports: a killed
  # install never leaves a half-made one behind. pip's own scripts keep the temporary name in
  # their #! lines, so pip is always run as `python -m pip`.
  "$TORCH_VENV.tmp/bin/python" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" numpy
  "$TORCH_VENV.tmp/bin/python" -c "import torch; print('install-deps: torch', torch.__version__)"
  rm -rf "$TORCH_VENV"
  mv "$TORCH_VENV.tmp" "$TORCH_VENV"
  sed -i "s#$TORCH_VENV.tmp#$TORCH_VENV#g" "$TORCH_VENV/pyvenv.cfg" "$TORCH_VENV"/bin/activate* 2>/dev/null || true
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  if [ "$TORCH_LANE" = 1 ]; then make_torch_venv; fi
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
if [ "$TORCH_LANE" = 1 ]; then make_torch_venv; fi
