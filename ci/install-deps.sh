#!/usr/bin/env bash
# Installs every Debian 12 package mixhic needs to build, test and benchmark.
# Idempotent: packages already installed are skipped, so a warm machine costs ~1 s.
# Called by ci/test.sh and scripts/quickstart.sh; safe to run by hand (needs root or sudo).
set -euo pipefail

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
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
