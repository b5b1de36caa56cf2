#!/usr/bin/env bash
# bench/run.sh — the performance suite: every benchmark on this machine in one go, each figure next
# to a peer measured in the same run (or the machine's own limit), written to
# bench/results/<date>-<host>.md and .csv (rows: section,what,ours,peer,ratio,unit,command).
#
#   bench/run.sh [BUILD_DIR]          (default: build)      QUICK=1: fewer repeats and steps (~5 min)
#
# Sections (README "Benchmarks"):
#   prep       mixhic-prep windows/s, 1 and 2 ranks, vs python3-cooler + pyBigWig (bench/prep/run.sh)
#   read       the trainer's loader (random train batches) vs a raw sequential read of the same file
#              (the storage limit) and vs h5py reading the same batches (bench/read/peer.py); cold
#              page cache (posix_fadvise DONTNEED) and warm
#   allreduce  the trainer's MPI all-reduce on the model's real gradient buckets and a 4 KB-256 MB
#              sweep vs a bare MPI_Allreduce of the same bytes; algbw, busbw, #wrong; MIXHIC_MIN_BUSBW
#              gates the sweep's mean busbw as nccl-tests does
#   train      mixhic-train vs the PyTorch DDP twin, tiny and C=128, 1 and 2 ranks (bench/train/run.sh)
#   flops      the model step's achieved GFLOP/s per core vs a large GEMM on the same core (the
#              practical peak) and vs the PyTorch twin
#   gpu        bf16 C=128/C=256 samples/s, MFU and the twin ratio: measured only on a GPU host
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
BUILD=${BUILD#BUILD_DIR=}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
QUICK=${QUICK:-0}
PY=/usr/bin/python3
cd "$ROOT"

MPIRUN=(mpirun --bind-to none)
if [[ $(id -u) -eq 0 ]]; then MPIRUN+=(--allow-run-as-root --oversubscribe); fi
CORES=$(OMP_NUM_THREADS='' nproc)   # GNU nproc reports OMP_NUM_THREADS when it is set
export OMP_NUM_THREADS=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mixhic-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
CSV=$WORK/rows.csv
echo "section,what,ours,peer,ratio,unit,command" >"$CSV"
say() { printf '== %s\n' "$*" >&2; }
field() { sed -n "s/.*[ :]$1=\([^ ]*\).*/\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else printf "" }'; }
row() { printf '%s,"%s",%s,%s,%s,%s,"%s"\n' "$@" >>"$CSV"; }  # section what ours peer ratio unit command

say "building mixhic-prep mixhic-train mixhic-model mixhic-bench in $BUILD"
cmake --build "$BUILD" -j "$CORES" --target mixhic-prep mixhic-train mixhic-model mixhic-bench >/dev/null

# ---- prep (also makes the corpus the read benchmark uses) --------------------------------------
say "prep: mixhic-prep vs python3-cooler + pyBigWig"
if [[ $QUICK = 1 ]]; then export REPEATS=1 PEER_CHROMS=chr1; fi
BENCH_CSV=$CSV CORPUS_OUT=$WORK/corpus.h5 bench/prep/run.sh "$BUILD" >"$WORK/prep.md"

# ---- corpus read -------------------------------------------------------------------------------
say "read: the trainer's loader vs a sequential read and vs h5py"
READ_STEPS=$([[ $QUICK = 1 ]] && echo 100 || echo 300)
for temp in cold warm; do
  flag=$([[ $temp = cold ]] && echo --cold || true)
  for np in 1 2; do
    cmd="mpirun -np $np mixhic-bench read --corpus CORPUS --io mpio --batch 8 --steps $READ_STEPS $flag"
    line=$("${MPIRUN[@]}" -np "$np" "$BUILD/mixhic-bench" read --corpus "$WORK/corpus.h5" --io mpio --batch 8 \
      --steps "$READ_STEPS" $flag --samples-out "$WORK/samples-$np.txt" 2>/dev/null | grep '^read-bench:')
    echo "$temp np=$np: $line" >>"$WORK/read.txt"
    ours=$(field loader_samples_per_s "$line")
    raw=$(field raw_samples_per_s_equiv "$line")
    row read "loader, $np rank(s), $temp: samples/s vs one sequential pass over the file (samples/s at its MB/s)" \
      "$ours" "$raw" "$(ratio "$ours" "$raw")" samples/s "$cmd"
    if [[ $np = 1 ]]; then
      peer_line=$($PY bench/read/peer.py --corpus "$WORK/corpus.h5" --samples "$WORK/samples-1.txt" $flag)
      echo "$temp h5py: $peer_line" >>"$WORK/read.txt"
      peer=$(field samples_per_s "$peer_line")
      row read "loader, 1 rank, $temp: samples/s vs h5py reading the same batches" "$ours" "$peer" \
        "$(ratio "$ours" "$peer")" samples/s "$cmd vs bench/read/peer.py --corpus CORPUS --samples SAMPLES $flag"
    fi
  done
done
sample_bytes=$(field sample_bytes "$(head -n 1 "$WORK/read.txt")")
file_mb=$(field file_mb "$(head -n 1 "$WORK/read.txt")")

# ---- all-reduce --------------------------------------------------------------------------------
say "allreduce: the trainer's MPI path vs bare MPI_Allreduce, 2 ranks"
AR_MAX=$([[ $QUICK = 1 ]] && echo $((64 << 20)) || echo $((256 << 20)))
ar_rc=0
"${MPIRUN[@]}" -np 2 "$BUILD/mixhic-bench" allreduce --model-config configs/model/tiny.ini \
  --model-config configs/model/mixhic-c128.ini --max-bytes "$AR_MAX" --csv "$WORK/allreduce.csv" \
  >"$WORK/allreduce.txt" 2>&1 || ar_rc=$?
grep -v '^\[' "$WORK/allreduce.txt" >&2 || true
# rows: per size, mixhic vs bare (time ratio = bare time / our time: > 1 means we are faster)
tail -n +2 "$WORK/allreduce.csv" | while IFS=, read -r what bytes ranks comm t alg bus wrong bt balg bbus bwrong; do
  row allreduce "${what//\"/} ($bytes B, $ranks ranks, #wrong $wrong/$bwrong): busbw vs bare MPI_Allreduce" "$bus" "$bbus" \
    "$(ratio "$bus" "$bbus")" GB/s "mpirun -np 2 mixhic-bench allreduce --model-config configs/model/tiny.ini --model-config configs/model/mixhic-c128.ini"
done
if [[ $ar_rc != 0 ]]; then echo "bench/run.sh: the all-reduce benchmark failed (wrong results or below MIXHIC_MIN_BUSBW)" >&2; fi

# ---- train -------------------------------------------------------------------------------------
say "train: mixhic-train vs the PyTorch DDP twin"
if [[ $QUICK = 1 ]]; then export MODELS=tiny; fi
BENCH_CSV=$CSV bench/train/run.sh "$BUILD" >"$WORK/train.md"   # on the quickstart's synthetic corpus

# ---- model FLOPs vs the CPU's practical peak ---------------------------------------------------
say "flops: model step GFLOP/s per core vs a large GEMM on one core, and vs the PyTorch twin"
gemm1=$("$BUILD/mixhic-bench" gemm --threads 1 --n 2048 2>/dev/null | grep '^gemm-bench:')
gemmn=$("$BUILD/mixhic-bench" gemm --threads "$CORES" --n 2048 2>/dev/null | grep '^gemm-bench:')
peak1=$(field gflops_per_thread "$gemm1")
row flops "GEMM 2048^3 float32, 1 thread (the practical per-core peak)" "$peak1" "" "" GFLOP/s "mixhic-bench gemm --threads 1"
row flops "GEMM 2048^3 float32, $CORES threads" "$(field gflops "$gemmn")" "" "" GFLOP/s "mixhic-bench gemm --threads $CORES"
THREADS=1 GEMM_PEAK=$peak1 MODELS=$([[ $QUICK = 1 ]] && echo tiny || echo "tiny mixhic-c128") BENCH_CSV=$CSV \
  bench/model/run.sh "$BUILD" >"$WORK/flops.md"

# ---- GPU ---------------------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu=$(nvidia-smi -L | head -n 1)
  gpu_note="not yet measured: a GPU is present ($gpu) but this suite times the CPU build; the bf16 GPU step needs a CUDA LibTorch build (README \"GPU\")"
else
  gpu_note="not yet measured: no GPU on this host"
fi
for c in 128 256; do
  row gpu "C=$c bf16 pre-training step: samples/s, MFU, vs PyTorch twin on the same GPU" "" "" "" "" "$gpu_note"
done

# ---- report ------------------------------------------------------------------------------------
host=$(hostname -s 2>/dev/null || hostname)
day=$(date +%Y-%m-%d)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
torchver=$(dpkg-query -W -f '${Version}' libtorch-dev 2>/dev/null || echo unknown)
blas=$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || echo unknown)
mkdir -p bench/results
out=bench/results/$day-$host
{
  echo "# mixhic benchmark suite, $day, $host"
  echo
  echo "Host: $host, $CORES cores, ${cpu:-unknown CPU}, $(free -g | awk '/^Mem:/{print $2}') GiB. Commit $commit$dirty."
  echo "LibTorch $torchver; BLAS $blas; $(mpirun --version 2>/dev/null | head -n 1). Command: \`$([[ $QUICK = 1 ]] && echo 'QUICK=1 ')bench/run.sh\`."
  echo "Ratios are ours / peer (higher is better for rates) unless the row says otherwise; the CSV next to this file has the same rows."
  echo
  echo "| section | what | ours | peer or limit | ratio | unit | command |"
  echo "|---|---|---|---|---|---|---|"
  $PY - "$CSV" <<'EOF'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print("| {section} | {what} | {ours} | {peer} | {ratio} | {unit} | `{command}` |".format(**r))
EOF
  echo
  echo "## prep"
  echo
  sed 's/^# /### /' "$WORK/prep.md"
  echo
  echo "## corpus read"
  echo
  echo "Corpus: the prep section's np=2 corpus ($file_mb MB, $sample_bytes bytes read per sample: packed Hi-C + both anchors' track rows)."
  echo "The loader reads random train batches (8 per rank per step, sorted within the batch) on its own thread and unpacks them into model-ready tensors; \"cold\" drops the file's pages before each measurement."
  echo
  echo '```'
  cat "$WORK/read.txt"
  echo '```'
  echo
  echo "## all-reduce (2 ranks, one host: shared memory)"
  echo
  echo '```'
  grep -v '^\[' "$WORK/allreduce.txt"
  echo '```'
  echo
  echo "## train"
  echo
  sed 's/^# /### /' "$WORK/train.md"
  echo
  echo "## model FLOPs vs the CPU's limit"
  echo
  echo '```'
  echo "$gemm1"
  echo "$gemmn"
  echo '```'
  echo
  sed 's/^# /### /' "$WORK/flops.md"
  echo
  echo "## GPU"
  echo
  echo "$gpu_note."
} >"$out.md"
cp "$CSV" "$out.csv"
echo "written: $out.md and $out.csv" >&2
exit "$ar_rc"
