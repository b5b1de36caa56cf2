#!/usr/bin/env bash
# Model benchmark: pre-training step (forward + backward + AdamW) samples/s on this CPU, the
# LibTorch model (mixhic-model bench) vs its PyTorch twin (tests/reference/mixhic_twin.py bench),
# same architecture, same batch, same thread count, in the same run.
#   bench/model/run.sh [BUILD_DIR=build]        THREADS=2 BATCH=8 STEPS=... MODELS="tiny mixhic-c128"
# BENCH_CSV=FILE (bench/run.sh) also appends the suite's rows to FILE: GFLOP/s vs the twin and,
# with GEMM_PEAK=GFLOP/s (mixhic-bench gemm on the same THREADS), vs that peak.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
BUILD=${BUILD#BUILD_DIR=}
THREADS=${THREADS:-$(nproc)}
BATCH=${BATCH:-8}
BIN=$BUILD/mixhic-model
TWIN=$ROOT/tests/reference/mixhic_twin.py
[[ -x $BIN ]] || { echo "bench/model/run.sh: $BIN missing (cmake --build $BUILD --target mixhic-model)" >&2; exit 1; }

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
rows=()
for name in ${MODELS:-tiny mixhic-c128}; do
  steps=${STEPS:-$([[ $name = tiny ]] && echo 30 || echo 6)}
  ini=$ROOT/configs/model/$name.ini
  C=$(sed -n 's/^embed-dim *= *//p' "$ini"); D=$(sed -n 's/^depth *= *//p' "$ini"); H=$(sed -n 's/^heads *= *//p' "$ini")
  json="{\"embed_dim\": $C, \"depth\": $D, \"heads\": $H, \"mlp_ratio\": 2, \"n_tracks\": 2, \"window_bins\": 50, \"hic_bin_bp\": 5000, \"track_bin_bp\": 100}"
  ours=$("$BIN" bench --config "$ini" --batch "$BATCH" --steps "$steps" --threads "$THREADS" 2>/dev/null | grep '^model-bench:')
  peer=$(/usr/bin/python3 "$TWIN" bench --config "$json" --batch "$BATCH" --steps "$steps" --threads "$THREADS" | grep '^model-bench:')
  o=$(field samples_per_s "$ours"); p=$(field samples_per_s "$peer"); g=$(field gflops "$ours")
  ratio=$(awk -v a="$o" -v b="$p" 'BEGIN{printf "%.2f", a/b}')
  echo "$name: libtorch $o samples/s ($g GFLOP/s), pytorch twin $p samples/s, ratio $ratio" >&2
  rows+=("| $name (C=$C, depth $D) | $o | $p | $ratio | $g |")
  if [[ -n ${BENCH_CSV:-} ]]; then
    cmd="mixhic-model bench --config configs/model/$name.ini --batch $BATCH --threads $THREADS"
    pg=$(awk -v g="$g" -v a="$o" -v b="$p" 'BEGIN{printf "%.2f", g * b / a}')   # same FLOPs per sample
    echo "flops,\"$name (C=$C) training step, $THREADS thread(s): GFLOP/s (analytic 3x forward) vs PyTorch twin\",$g,$pg,$ratio,GFLOP/s,\"$cmd vs tests/reference/mixhic_twin.py bench --threads $THREADS\"" >>"$BENCH_CSV"
    if [[ -n ${GEMM_PEAK:-} ]]; then
      echo "flops,\"$name (C=$C) training step, $THREADS thread(s): GFLOP/s vs the GEMM peak of $THREADS core(s)\",$g,$GEMM_PEAK,$(awk -v a="$g" -v b="$GEMM_PEAK" 'BEGIN{printf "%.2f", a/b}'),GFLOP/s,\"$cmd vs mixhic-bench gemm --threads $THREADS\"" >>"$BENCH_CSV"
    fi
  fi
done
echo "# model benchmark, $(date +%Y-%m-%d), $(hostname -s), $THREADS threads, batch $BATCH, reference geometry (2 tracks, 50x50)"
echo
echo "| config | LibTorch samples/s | PyTorch twin samples/s | ratio | LibTorch GFLOP/s (analytic 3x forward) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Commands: \`mixhic-model bench --config configs/model/NAME.ini --batch $BATCH --threads $THREADS\` and"
echo "\`tests/reference/mixhic_twin.py bench --config JSON --batch $BATCH --threads $THREADS\`."
