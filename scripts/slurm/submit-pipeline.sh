#!/usr/bin/env bash
# Submits the whole pipeline as Slurm jobs chained by dependencies and prints their ids:
#   prep (mixhic-prep, parallel HDF5)  ->  pre-training  [->  fine-tuning  ->  evaluation]
# each afterok: a job runs only if the one before it succeeded. Fine-tuning and evaluation join
# when FINETUNE_CONFIG is set (e.g. configs/finetune-map-tiny.ini): the fine-tuning job is
# finetune.sbatch with that config and PRETRAINED=$RUN_DIR; the evaluation job (eval.sbatch)
# scores it on FINETUNE_CORPUS's test split (default: the pre-training corpus, right for hic_map).
#   cd mixhic && INPUTS=my-inputs.ini CORPUS=/scratch/corpus.h5 RUN_DIR=/scratch/run \
#     FINETUNE_CONFIG=configs/finetune-map-tiny.ini scripts/slurm/submit-pipeline.sh
# Environment: everything prep.sbatch and pretrain.sbatch read (INPUTS, CORPUS, RUN_DIR,
# PREP_CONFIG, TRAIN_CONFIG, TRAIN_ARGS, ...) is passed on (sbatch exports the environment);
# PREP_SBATCH_ARGS and TRAIN_SBATCH_ARGS add sbatch options (e.g. "-N 4 --ntasks-per-node 4").

# ---- variables -----------------------------------------------------------------------------
MIXHIC_ROOT=${MIXHIC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PREP_SBATCH_ARGS=${PREP_SBATCH_ARGS:-}
TRAIN_SBATCH_ARGS=${TRAIN_SBATCH_ARGS:-}
FINETUNE_CONFIG=${FINETUNE_CONFIG:-}                 # empty: stop after pre-training
FINETUNE_SBATCH_ARGS=${FINETUNE_SBATCH_ARGS:-$TRAIN_SBATCH_ARGS}
EVAL_SBATCH_ARGS=${EVAL_SBATCH_ARGS:-}

set -euo pipefail
command -v sbatch >/dev/null || { echo "submit-pipeline.sh: sbatch not found: run this on a Slurm login node" >&2; exit 2; }
[ -n "${INPUTS:-}" ] || { echo "submit-pipeline.sh: set INPUTS to the config with your cell/track lines" >&2; exit 2; }
export MIXHIC_ROOT
cd "$MIXHIC_ROOT"
# shellcheck disable=SC2086
prep=$(sbatch --parsable $PREP_SBATCH_ARGS scripts/slurm/prep.sbatch)
# shellcheck disable=SC2086
pretrain=$(sbatch --parsable --dependency=afterok:"${prep%%;*}" $TRAIN_SBATCH_ARGS scripts/slurm/pretrain.sbatch)
echo "prep=${prep%%;*}"
echo "pretrain=${pretrain%%;*}"
if [ -n "$FINETUNE_CONFIG" ]; then
  RUN_DIR=${RUN_DIR:-$MIXHIC_ROOT/run}
  CORPUS=${CORPUS:-$MIXHIC_ROOT/corpus.h5}
  FINETUNE_CORPUS=${FINETUNE_CORPUS:-$CORPUS}
  FINETUNE_DIR=${FINETUNE_DIR:-$RUN_DIR-finetune}
  EVAL_DIR=${EVAL_DIR:-$FINETUNE_DIR/eval}
  # shellcheck disable=SC2086
  finetune=$(sbatch --parsable --dependency=afterok:"${pretrain%%;*}" \
    --export=ALL,TRAIN_CONFIG="$FINETUNE_CONFIG",CORPUS="$FINETUNE_CORPUS",RUN_DIR="$FINETUNE_DIR",PRETRAINED="$RUN_DIR" \
    $FINETUNE_SBATCH_ARGS scripts/slurm/finetune.sbatch)
  # shellcheck disable=SC2086
  evaluation=$(sbatch --parsable --dependency=afterok:"${finetune%%;*}" \
    --export=ALL,CORPUS="$FINETUNE_CORPUS",MODELS="finetuned=$FINETUNE_DIR",EVAL_DIR="$EVAL_DIR" \
    $EVAL_SBATCH_ARGS scripts/slurm/eval.sbatch)
  echo "finetune=${finetune%%;*}"
  echo "eval=${evaluation%%;*}"
fi
