#!/usr/bin/env bash
# Training benchmark: mixhic-train vs the same model trained with PyTorch DDP (gloo, DataLoader
# + h5py: bench/train/ddp_twin.py) on the same corpus, in the same run, 1 and 2 ranks, one
# intra-op thread per rank, the full pre-training loss. Weak scaling: PER_RANK_BATCH samples per
# rank per step. Also two independent 1-rank mixhic-train runs side by side: what this machine
# allows 2 ranks at best (shared caches and memory bandwidth), the ceiling of the scaling figure.
#   bench/train/run.sh [BUILD_DIR=build] [CORPUS]   MODELS="tiny c128" STEPS=... PER_RANK_BATCH=8
# Prints a markdown table (stdout); progress on stderr. BENCH_CSV=FILE (bench/run.sh) also
# appends the suite's rows (section,what,ours,peer,ratio,unit,command) to FILE.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
BUILD=${BUILD#BUILD_DIR=}
CORPUS=${2:-}
MODELS=${MODELS:-"tiny c128"}
PER_RANK_BATCH=${PER_RANK_BATCH:-8}
WARMUP=2
WORK=$(mktemp -d /tmp/mixhic-bench-train-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
MPIRUN=(mpirun --bind-to none)
if [ "$(id -u)" -eq 0 ]; then MPIRUN+=(--allow-run-as-root --oversubscribe); fi
CORES=$(nproc --all)
export OMP_NUM_THREADS=1

if [[ -z $CORPUS ]]; then
  echo "bench/train: building the synthetic corpus" >&2
  "$BUILD/mixhic-prep" synth --out-dir "$WORK/in" >/dev/null 2>&1
  "${MPIRUN[@]}" -np 2 "$BUILD/mixhic-prep" --config "$ROOT/configs/prep-synth.ini" --config "$WORK/in/inputs.ini" \
    --output "$WORK/corpus.h5" >/dev/null 2>&1
  CORPUS=$WORK/corpus.h5
fi

model_args() {  # C depth heads
  case $1 in
    tiny) echo "16 1 2" ;;
    c128) echo "128 2 4" ;;
  esac
}

# ours NP STEPS C DEPTH HEADS RUN -> "samples_per_s data_wait_pct fwd bwd exposed opt rss"
ours() {
  local np=$1 steps=$2 c=$3 d=$4 h=$5 run=$6
  "${MPIRUN[@]}" -np "$np" "$BUILD/mixhic-train" --config "$ROOT/configs/pretrain-tiny.ini" --corpus "$CORPUS" \
    --run-dir "$run" --embed-dim "$c" --depth "$d" --heads "$h" --contrastive-only-epochs 0 --threads 1 \
    --global-batch $((np * PER_RANK_BATCH)) --max-steps "$steps" --checkpoint-every 100000 --log-every 100000 \
    --straggler-every 100000 >"$run.log" 2>&1
  local rss; rss=$(sed -n 's/.*peak RSS per rank \([0-9]*\) MB.*/\1/p' "$run.log")
  awk -F, -v w="$WARMUP" -v b=$((np * PER_RANK_BATCH)) -v rss="$rss" 'NR > 1 && $1 > w {
      n++; ms += $12; wait += $13; f += $14; bw += $15; ex += $16; op += $17 }
    END { printf "%.3f %.2f %.1f %.1f %.1f %.1f %s\n", n * b / (ms / 1000), 100 * wait / ms, f / n, bw / n, ex / n, op / n, rss }' \
    "$run/metrics.csv"
}

twin() {
  local np=$1 steps=$2 c=$3 d=$4 h=$5
  /usr/bin/python3 "$ROOT/bench/train/ddp_twin.py" --corpus "$CORPUS" --np "$np" --global-batch $((np * PER_RANK_BATCH)) \
    --steps "$steps" --warmup "$WARMUP" --threads 1 --embed-dim "$c" --depth "$d" --heads "$h" 2>"$WORK/twin-$np.err" |
    sed -n 's/.*samples_per_s=\([^ ]*\) data_wait_pct=\([^ ]*\) peak_rss_mb=\([^ ]*\).*/\1 \2 \3/p'
}

echo "# training benchmark, $(date +%Y-%m-%d), $(hostname -s), $CORES cores, 1 thread per rank, $PER_RANK_BATCH samples per rank per step"
echo
echo "| model | ranks | mixhic-train samples/s | PyTorch DDP twin samples/s | ratio | scaling eff. mixhic (twin) | data wait % mixhic (twin) | fwd / bwd / all-reduce wait / optimizer ms | peak RSS MB mixhic (twin) |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in $MODELS; do
  read -r C D H <<<"$(model_args "$m")"
  steps=${STEPS:-$([[ $m = tiny ]] && echo 30 || echo 8)}
  declare -A O T
  for np in 1 2; do
    echo "bench/train: $m, $np rank(s), mixhic-train" >&2
    O[$np]=$(ours "$np" "$steps" "$C" "$D" "$H" "$WORK/$m-$np")
    echo "bench/train: $m, $np rank(s), PyTorch DDP twin" >&2
    T[$np]=$(twin "$np" "$steps" "$C" "$D" "$H")
  done
  echo "bench/train: $m, two independent 1-rank runs side by side (machine ceiling)" >&2
  ( ours 1 "$steps" "$C" "$D" "$H" "$WORK/$m-solo-a" >"$WORK/solo-a" ) &
  ( ours 1 "$steps" "$C" "$D" "$H" "$WORK/$m-solo-b" >"$WORK/solo-b" ) &
  wait
  s1=$(cut -d' ' -f1 <<<"${O[1]}")
  ceiling=$(awk -v a="$(cut -d' ' -f1 "$WORK/solo-a")" -v b="$(cut -d' ' -f1 "$WORK/solo-b")" -v s="$s1" 'BEGIN{printf "%.0f", 100 * (a + b) / (2 * s)}')
  for np in 1 2; do
    read -r os ow of ob oe oo orss <<<"${O[$np]}"
    read -r ts tw trss <<<"${T[$np]}"
    ratio=$(awk -v a="$os" -v b="$ts" 'BEGIN{printf "%.2f", a/b}')
    if [[ $np = 1 ]]; then eff="—"; else
      eff=$(awk -v a="$os" -v b="$(cut -d' ' -f1 <<<"${O[1]}")" -v c="$ts" -v d="$(cut -d' ' -f1 <<<"${T[1]}")" \
        'BEGIN{printf "%.0f%% (%.0f%%)", 100*a/(2*b), 100*c/(2*d)}')
      eff="$eff; ceiling ${ceiling}%"
    fi
    echo "| $m (C=$C) | $np | $os | $ts | $ratio | $eff | $ow ($tw) | $of / $ob / $oe / $oo | $orss ($trss) |"
    if [[ -n ${BENCH_CSV:-} ]]; then
      cmd="mpirun -np $np mixhic-train --config configs/pretrain-tiny.ini --embed-dim $C --depth $D --heads $H --threads 1 --global-batch $((np * PER_RANK_BATCH)) vs bench/train/ddp_twin.py --np $np"
      echo "train,\"$m (C=$C) $np rank(s): samples/s vs PyTorch DDP twin\",$os,$ts,$ratio,samples/s,\"$cmd\"" >>"$BENCH_CSV"
      echo "train,\"$m (C=$C) $np rank(s): peak RSS per rank vs twin\",$orss,$trss,$(awk -v a="$orss" -v b="$trss" 'BEGIN{printf "%.2f", a/b}'),MB,\"$cmd\"" >>"$BENCH_CSV"
      echo "train,\"$m (C=$C) $np rank(s): data wait % of step vs twin\",$ow,$tw,,%,\"$cmd\"" >>"$BENCH_CSV"
      if [[ $np = 2 ]]; then
        e_o=$(awk -v a="$os" -v b="$(cut -d' ' -f1 <<<"${O[1]}")" 'BEGIN{printf "%.1f", 100*a/(2*b)}')
        e_t=$(awk -v c="$ts" -v d="$(cut -d' ' -f1 <<<"${T[1]}")" 'BEGIN{printf "%.1f", 100*c/(2*d)}')
        echo "train,\"$m (C=$C) scaling efficiency 1->2 ranks vs twin (machine ceiling ${ceiling}%)\",$e_o,$e_t,$(awk -v a="$e_o" -v b="$e_t" 'BEGIN{printf "%.2f", a/b}'),%,\"$cmd\"" >>"$BENCH_CSV"
      fi
    fi
  done
  unset O T
done
echo
echo "Commands: \`bench/train/run.sh build\` (mixhic-train --config configs/pretrain-tiny.ini --embed-dim C ... --contrastive-only-epochs 0"
echo "--threads 1 --global-batch ranks x $PER_RANK_BATCH; bench/train/ddp_twin.py --np ranks ...). Timed steps exclude $WARMUP warm-up steps."
