#!/usr/bin/env bash
# The prepared GPU check (README "GPU"), for a machine with an NVIDIA GPU, PyTorch 2.11 (CUDA 13)
# in its python3 and no network: no MPI, HDF5, Boost, fmt, GoogleTest or libbigwig installed.
#
#   ci/gpu-check.sh fetch   # HERE (network): apt-get download those Debian 12 packages and their
#                           # runtime libraries into .device/debs (ignored by git; carry it)
#   ci/gpu-check.sh build   # unpack them with dpkg -x into .device/prefix (never into /), then
#                           # configure and build against python3's LibTorch with CUDA and NCCL
#   ci/gpu-check.sh check   # the gpu-labelled tests, mixhic-bench allreduce --comm nccl, the C=128
#                           # and C=256 bf16 pre-training step next to the PyTorch twin; results
#                           # (logs, CSV, summary.md) under $OUT
#   ci/gpu-check.sh         # build, then check (one device call; ~8 minutes on one H200)
#
# Environment: PYTHON (default python3: the one whose torch is built against), OUT (default
# .device/out), JOBS (default nproc), BATCH (64) and STEPS (50) of the step benchmarks,
# GPU_BUILD_DIR (.device/build), GPU_TARGETS (the targets `build` makes).
# The build half also runs on a CPU-only machine (it stops before the first CUDA call), which is
# how CI's machines check it against the torch-2.11 lane:
#   PYTHON=/opt/mixhic/venv-torch-2.11/bin/python ci/gpu-check.sh build
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEV=$ROOT/.device
DEBS=$DEV/debs
PREFIX=$DEV/prefix
BUILD=${GPU_BUILD_DIR:-$DEV/build}
OUT=${OUT:-$DEV/out}
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
BATCH=${BATCH:-64}
STEPS=${STEPS:-50}
MULTIARCH=x86_64-linux-gnu

# What the build needs that such an image lacks: headers and CMake/pkg-config files (-dev) and
# the tools to build. Their runtime libraries are added by `fetch` with their dependencies.
DEV_PACKAGES=(libopenmpi-dev libhdf5-openmpi-dev libboost-program-options1.74-dev libboost1.74-dev
              libfmt-dev libgtest-dev libbigwig-dev libpng-dev zlib1g-dev libaec-dev libjpeg62-turbo-dev
              libcurl4-gnutls-dev libhwloc-dev libevent-dev libibverbs-dev libpmix-dev)
RUNTIME_PACKAGES=(openmpi-bin openmpi-common libopenmpi3 libhdf5-openmpi-103-1 libboost-program-options1.74.0 libfmt9
                  libbigwig0 libpng16-16 cmake cmake-data make pkgconf pkg-config)
# Present in every image that runs python3 and a C++ compiler; never taken from Debian.
BASE_PACKAGES='^(libc6|libc-bin|libgcc-s1|libstdc\+\+6|gcc-12-base|zlib1g|debconf|dpkg|perl-base|tar|coreutils|libcrypt1|libselinux1|libpcre2-8-0|libzstd1|liblzma5|libbz2-1.0|libtinfo6|libacl1|libattr1|libaudit1|libaudit-common|libcap-ng0|libgmp10|libmd0|debianutils|base-files|init-system-helpers|libdebconfclient0|libpam.*|mawk|sensible-utils|ucf|install-info|readline-common|libreadline8|libexpat1|libffi8|libssl3|ca-certificates|openssl|perl|perl-modules.*|libperl.*|libgdbm.*|libdb5.3|python3.*|libpython3.*|libsqlite3-0|media-types|tzdata|netbase|libncursesw6|libuuid1|libblkid1|libmount1|libsystemd0|libudev1|liblz4-1|libgcrypt20|libgpg-error0|libcap2|libkmod2|dbus.*|libdbus.*|systemd.*|adduser|passwd|login|lsb-base|sysvinit-utils|libsemanage.*|libsepol2|gcc|g\+\+|cpp|gcc-12|g\+\+-12|cpp-12|libgcc-12-dev|libstdc\+\+-12-dev|libc6-dev|libc-dev-bin|linux-libc-dev|binutils.*|libbinutils|libctf.*|libgprofng0|libjansson4|libasan8|libtsan2|liblsan0|libubsan1|libitm1|libquadmath0|libgomp1|libatomic1|libcc1-0|libisl23|libmpc3|libmpfr6|rpcsvc-proto|libtirpc.*|libnsl.*|libcrypt-dev|gfortran.*|libgfortran.*)$'
# Pulled in by Debian's Depends but never loaded by mixhic's binaries or the build (ssh launchers,
# X11 and OpenCL plugins of hwloc, installer front ends, perl modules): left out to stay within a
# device call's 64 MiB of carried files.
UNUSED_PACKAGES='^(openssh-client|procps|libproc2-0|usrmerge|usr-is-merged|libhwloc-plugins|libx11-.*|libxau6|libxcb1|libxdmcp6|libxext6|libxnvctrl0|ocl-icd-libopencl1|cdebconf|libdebian-installer4|libnewt0.52|libslang2|libtextwrap1|lib.*-perl|libelogind0|libedit2|libfido2-1|libcbor0.8|libwrap0)$'

fetch() {
  command -v apt-get > /dev/null || { echo "gpu-check fetch: needs apt-get (run it on a Debian 12 machine with network)" >&2; exit 1; }
  mkdir -p "$DEBS.tmp"
  # Runtime libraries: the recursive Depends of the runtime packages and of the -dev packages'
  # libraries, less what every image has.
  mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                           --no-replaces --no-enhances --no-pre-depends "${RUNTIME_PACKAGES[@]}" | grep -E '^[a-z0-9]' |
                         grep -vE "$BASE_PACKAGES" | grep -vE "$UNUSED_PACKAGES" | grep -v -- '-dev$' | sort -u)
  (cd "$DEBS.tmp" && apt-get download -q "${DEV_PACKAGES[@]}" "${closure[@]}" > /dev/null)
  rm -rf "$DEBS" && mv "$DEBS.tmp" "$DEBS"
  echo "gpu-check fetch: $(ls "$DEBS" | wc -l) packages, $(du -sh "$DEBS" | cut -f1) in $DEBS"
}

# The unpacked prefix: Debian's absolute /usr paths in pkg-config files and Open MPI's wrapper
# point into it (OPAL_PREFIX), and its libraries come first on the loader's path.
use_prefix() {
  export PATH="$PREFIX/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$PREFIX/usr/lib/$MULTIARCH:$PREFIX/usr/lib/$MULTIARCH/openmpi/lib:$PREFIX/usr/lib/$MULTIARCH/hdf5/openmpi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$PREFIX/usr/lib/$MULTIARCH/pkgconfig:$PREFIX/usr/share/pkgconfig"
  export OPAL_PREFIX="$PREFIX/usr"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
}

unpack() {
  [ -d "$DEBS" ] || { echo "gpu-check: $DEBS is missing: run 'ci/gpu-check.sh fetch' where there is network and carry .device/debs" >&2; exit 1; }
  if [ ! -f "$PREFIX/.unpacked" ] || [ "$DEBS" -nt "$PREFIX/.unpacked" ]; then
    rm -rf "$PREFIX.tmp" && mkdir -p "$PREFIX.tmp"
    for d in "$DEBS"/*.deb; do dpkg -x "$d" "$PREFIX.tmp"; done
    # pkg-config files and Open MPI's wrapper data name /usr: rewrite them into the prefix.
    grep -rlI --null '/usr' "$PREFIX.tmp/usr/lib/$MULTIARCH/pkgconfig" "$PREFIX.tmp/usr/lib/$MULTIARCH/openmpi/lib/pkgconfig" \
      "$PREFIX.tmp/usr/share/openmpi" "$PREFIX.tmp/usr/share/pkgconfig" 2>/dev/null |
      xargs -0 -r sed -i -E "s#(^|[=' \"]|-I|-L)/usr([/' \"]|\$)#\1$PREFIX/usr\2#g"
    # Relative symlinks survive the move; absolute ones (Debian's alternatives) are re-pointed.
    find "$PREFIX.tmp" -type l | while read -r l; do
      t=$(readlink "$l")
      case "$t" in /usr/*|/etc/*) ln -sfn "$PREFIX$t" "$l" ;; esac
    done
    rm -rf "$PREFIX" && mv "$PREFIX.tmp" "$PREFIX"
    find "$PREFIX" -type l | while read -r l; do
      t=$(readlink "$l")
      case "$t" in "$PREFIX.tmp"/*) ln -sfn "$PREFIX${t#"$PREFIX.tmp"}" "$l" ;; esac
    done
    touch "$PREFIX/.unpacked"
  fi
}

build() {
  unpack
  use_prefix
  local torch_cmake
  torch_cmake=$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  echo "gpu-check build: LibTorch $("$PYTHON" -c 'import torch; print(torch.__version__)') from $torch_cmake"
  local cmake_bin=cmake
  command -v cmake > /dev/null || cmake_bin="$PREFIX/usr/bin/cmake"
  [ -x "$(command -v "$cmake_bin")" ] || { echo "gpu-check build: no cmake (carry the cmake packages: ci/gpu-check.sh fetch)" >&2; exit 1; }
  command -v g++ > /dev/null || { echo "gpu-check build: this machine has no C++ compiler (g++)" >&2; exit 1; }
  mkdir -p "$BUILD"
  "$cmake_bin" -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMIXHIC_BUILD_TESTS=ON \
    -DMIXHIC_WITH_CUDA=ON -DMIXHIC_WITH_NCCL=ON -DCMAKE_PREFIX_PATH="$torch_cmake;$PREFIX/usr;$PREFIX/usr/lib/$MULTIARCH/cmake" \
    -DMPI_C_COMPILER="$PREFIX/usr/bin/mpicc.openmpi" -DMPIEXEC_EXECUTABLE="$PREFIX/usr/bin/mpirun.openmpi" \
    -DCMAKE_INCLUDE_PATH="$PREFIX/usr/include" -DCMAKE_LIBRARY_PATH="$PREFIX/usr/lib/$MULTIARCH" \
    -DMIXHIC_TWIN_PYTHON="$(command -v "$PYTHON")" -DMIXHIC_PYTHON="$(command -v "$PYTHON")" > "$BUILD/configure.log" 2>&1 ||
    { tail -40 "$BUILD/configure.log"; exit 1; }
  grep -E "Found Torch|mixhic:" "$BUILD/configure.log" || true
  # shellcheck disable=SC2086
  "$cmake_bin" --build "$BUILD" -j "$JOBS" --target ${GPU_TARGETS:-mixhic_gpu_tests mixhic_distributed_tests mixhic-bench mixhic-train mixhic-model}
  [ -x "$BUILD/mixhic-train" ] || return 0
  echo "gpu-check build: one CUDA runtime and one NCCL in mixhic-train:"
  ldd "$BUILD/mixhic-train" | grep -E 'libcudart|libnccl' | tee "$BUILD/ldd-accel.txt"
  [ -x "$BUILD/mixhic-train" ] || return 0
  [ "$(grep -c libcudart "$BUILD/ldd-accel.txt")" -le 1 ] && [ "$(grep -c libnccl "$BUILD/ldd-accel.txt")" -le 1 ] ||
    { echo "gpu-check build: more than one libcudart or libnccl" >&2; exit 1; }
}

check() {
  use_prefix
  mkdir -p "$OUT"
  local rc=0
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>&1 || true
  cp "$BUILD/ldd-accel.txt" "$OUT/" 2>/dev/null || true
  echo "== gpu-labelled tests" | tee "$OUT/summary.md"
  (cd "$BUILD" && ctest -L gpu --output-on-failure --timeout 300 > "$OUT/ctest-gpu.log" 2>&1) || rc=1
  grep -E "tests passed|tests failed|\*\*\*" "$OUT/ctest-gpu.log" | tee -a "$OUT/summary.md" || true
  "$BUILD/tests/mixhic_distributed_tests" --gtest_filter='Comm.Nccl*:HangWatchdog.*' > "$OUT/nccl-comm.log" 2>&1 || rc=1
  echo "== mixhic-bench allreduce --comm nccl (1 rank)" | tee -a "$OUT/summary.md"
  timeout 120 "$BUILD/mixhic-bench" allreduce --comm nccl --min-bytes 4096 --max-bytes 268435456 \
    > "$OUT/allreduce-nccl.txt" 2>&1 || rc=1
  tail -20 "$OUT/allreduce-nccl.txt" | tee -a "$OUT/summary.md"
  echo "== bf16 pre-training step, mixhic vs the PyTorch twin (samples/s, MFU vs 989 TFLOP/s, peak memory)" | tee -a "$OUT/summary.md"
  # The same geometry and batch on both sides (bench/model/run.sh's reference geometry).
  local field='s/.*samples_per_s=\([^ ]*\).*/\1/p'
  for C in 128 256; do
    local ini=configs/model/mixhic-c$C.ini D H ours peer
    D=$(sed -n 's/^depth *= *//p' "$ini"); H=$(sed -n 's/^heads *= *//p' "$ini")
    local json="{\"embed_dim\": $C, \"depth\": $D, \"heads\": $H, \"mlp_ratio\": 2, \"n_tracks\": 2, \"window_bins\": 50, \"hic_bin_bp\": 5000, \"track_bin_bp\": 100}"
    timeout 150 "$BUILD/mixhic-model" bench --config "$ini" --batch "$BATCH" --steps "$STEPS" --device cuda \
      --precision bf16 --peak-tflops 989 > "$OUT/step-c$C-mixhic.txt" 2>&1 || rc=1
    timeout 150 "$PYTHON" tests/reference/mixhic_twin.py bench --config "$json" --batch "$BATCH" --steps "$STEPS" \
      --device cuda --precision bf16 > "$OUT/step-c$C-twin.txt" 2>&1 || rc=1
    ours=$(grep -h '^model-bench:' "$OUT/step-c$C-mixhic.txt" || true); peer=$(grep -h '^model-bench:' "$OUT/step-c$C-twin.txt" || true)
    echo "C=$C mixhic: ${ours:-FAILED}" | tee -a "$OUT/summary.md"
    echo "C=$C twin:   ${peer:-FAILED}" | tee -a "$OUT/summary.md"
    if [ -n "$ours" ] && [ -n "$peer" ]; then
      awk -v a="$(sed -n "$field" <<<"$ours")" -v b="$(sed -n "$field" <<<"$peer")" -v c="$C" \
        'BEGIN{printf "C=%s mixhic / twin samples/s: %.2f\n", c, a / b}' | tee -a "$OUT/summary.md"
    fi
  done
  echo "gpu-check: exit $rc; results in $OUT" | tee -a "$OUT/summary.md"
  return $rc
}

case "${1:-all}" in
  fetch) fetch ;;
  build) build ;;
  check) check ;;
  all) build && check ;;
  *) echo "usage: ci/gpu-check.sh [fetch|build|check]" >&2; exit 2 ;;
esac
