#!/usr/bin/env bash
# The real paired data of ../shared/data end to end: pre-train and fine-tune Hi-C map prediction
# on IMR90 (chr21:28.0-30.31 Mb, 10 kb, CTCF + H3K27ac), then predict GM12878's maps of the same
# region from GM12878's tracks alone (a cell type the model never saw) and score them with
# mixhic-eval next to the distance-decay baseline and the same model without pre-training.
#   bench/real/run.sh [BUILD_DIR] [WORK_DIR]        (the README's "Real data" numbers)
# 231 bins give 46 windows of 50 bins (stride 4 bins) per cell type: a smoke-scale experiment,
# reported as measured.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
WORK=${2:-/tmp/mixhic-real}
DATA=${MIXHIC_SHARED_DATA:-$ROOT/../shared/data}
NP=${NP:-2}
EPOCHS_PRETRAIN=${EPOCHS_PRETRAIN:-20}
EPOCHS_FINETUNE=${EPOCHS_FINETUNE:-40}
[ -d "$DATA/hic" ] || { echo "bench/real: no $DATA (the shared real data); nothing to run" >&2; exit 2; }
MPIRUN=(mpirun -np "$NP" --bind-to none)
if [ "$(id -u)" -eq 0 ]; then MPIRUN+=(--allow-run-as-root --oversubscribe); fi
rm -rf "$WORK" && mkdir -p "$WORK"

prep() {  # CELL -> $WORK/CELL.h5 (every window in the train split: one region, no held-out chromosome)
  "${MPIRUN[@]}" "$BUILD/mixhic-prep" --output "$WORK/$1.h5" \
    --cell "$1 $DATA/hic/hg19.$1.chr21_28.0-30.3Mb.10kb.KRnorm.cool" \
    --track "$1 CTCF $DATA/tracks/hg19.$1.CTCF.chr21_28.0-30.3Mb.bw" \
    --track "$1 H3K27ac $DATA/tracks/hg19.$1.H3K27ac.chr21_28.0-30.3Mb.bw" \
    --resolution 10000 --window-bins 50 --stride-bp 40000 --track-bin-bp 200 \
    --regions chr21:28000000-30310000 --balance none --hic-transform oe --track-zscore true \
    --val-chroms "" --test-chroms "" 2>&1 | grep -E "wrote|error"
}
prep IMR90
prep GM12878
TRAIN=("${MPIRUN[@]}" "$BUILD/mixhic-train" --corpus "$WORK/IMR90.h5" --log-every 1000)
"${TRAIN[@]}" --config "$ROOT/configs/pretrain-tiny.ini" --run-dir "$WORK/pretrain" --epochs "$EPOCHS_PRETRAIN" \
  --lr 5e-4 --contrastive-only-epochs 2 2>&1 | grep -E "step .*/|finished|error"
for kind in pretrained scratch; do
  "${TRAIN[@]}" --config "$ROOT/configs/finetune-map-tiny.ini" --run-dir "$WORK/map-$kind" --epochs "$EPOCHS_FINETUNE" \
    $([ "$kind" = pretrained ] && echo --pretrained "$WORK/pretrain") 2>&1 | grep -E "step .*/|finished|error"
done
echo "== IMR90-trained models on GM12878 (unseen cell type), all 46 windows; distance decay from IMR90"
"${MPIRUN[@]}" "$BUILD/mixhic-eval" --corpus "$WORK/GM12878.h5" --split train --model pretrained="$WORK/map-pretrained" \
  --model scratch="$WORK/map-scratch" --baseline-corpus "$WORK/IMR90.h5" --out-dir "$WORK/eval-GM12878" 2>&1 | grep -v ' = '
echo "== the same models on their own training windows (IMR90), for scale"
"${MPIRUN[@]}" "$BUILD/mixhic-eval" --corpus "$WORK/IMR90.h5" --split train --model pretrained="$WORK/map-pretrained" \
  --model scratch="$WORK/map-scratch" --out-dir "$WORK/eval-IMR90" --figures 1 2>&1 | grep -v ' = '
