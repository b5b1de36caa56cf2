#!/usr/bin/env bash
# Corpus-ids, parameter hashes and eval metrics of one build on the synthetic genome: run it on
# two builds (before and after a refactoring) and diff the outputs; every line must be equal.
#   ci/identity.sh SRC BUILD OUT      e.g. ci/identity.sh . build /tmp/id-new
set -euo pipefail
SRC=$1; B=$2; OUT=$3
rm -rf "$OUT"; mkdir -p "$OUT"
ROOT=""; [ "$(id -u)" -eq 0 ] && ROOT="--allow-run-as-root"
MPI="mpirun $ROOT --oversubscribe --bind-to none -np 2"
$B/mixhic-prep synth --out-dir $OUT/in > $OUT/log 2>&1
for kind in "" -loops -tss; do
  $MPI $B/mixhic-prep --config $SRC/configs/prep-synth$kind.ini --config $OUT/in/inputs.ini --output $OUT/corpus$kind.h5 >> $OUT/log 2>&1
  echo "corpus$kind $(h5dump -a /corpus-id $OUT/corpus$kind.h5 2>/dev/null | grep -o '"[0-9a-f]\{16\}"' | head -1)"
done
$MPI $B/mixhic-train --config $SRC/configs/pretrain-tiny.ini --corpus $OUT/corpus.h5 --run-dir $OUT/pre --max-steps 24 --log-every 100 >> $OUT/log 2>&1
echo "pretrain-24 $(grep parameter-hash $OUT/pre/checkpoints/step-00000024/state.txt)"
$MPI $B/mixhic-train --config $SRC/configs/finetune-map-tiny.ini --corpus $OUT/corpus.h5 --run-dir $OUT/map --pretrained $OUT/pre --max-steps 8 --log-every 100 >> $OUT/log 2>&1
echo "finetune-map-8 $(grep parameter-hash $OUT/map/checkpoints/step-00000008/state.txt)"
$MPI $B/mixhic-train --config $SRC/configs/finetune-loop-tiny.ini --corpus $OUT/corpus-loops.h5 --run-dir $OUT/loop --max-steps 8 --log-every 100 >> $OUT/log 2>&1
echo "finetune-loop-8 $(grep parameter-hash $OUT/loop/checkpoints/step-00000008/state.txt)"
$MPI $B/mixhic-train --config $SRC/configs/finetune-expression-tiny.ini --corpus $OUT/corpus-tss.h5 --run-dir $OUT/expr --max-steps 8 --log-every 100 >> $OUT/log 2>&1
echo "finetune-expression-8 $(grep parameter-hash $OUT/expr/checkpoints/step-00000008/state.txt)"
$MPI $B/mixhic-eval --corpus $OUT/corpus.h5 --model ft=$OUT/map --out-dir $OUT/eval >> $OUT/log 2>&1 || echo "eval failed (see $OUT/log)"
echo "eval-map-metrics $(md5sum < $OUT/eval/metrics.csv | cut -c1-16)"
