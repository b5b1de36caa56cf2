#!/usr/bin/env bash
# Submits the whole pipeline as Slurm jobs chained by dependencies and prints their ids:
#   prep (mixhic-prep, parallel HDF5)  ->  pre-training (afterok: only if prep succeeded)
# Fine-tuning and evaluation jobs join the chain when mixhic-eval exists (issue 5).
#   cd mixhic && INPUTS=my-inputs.ini CORPUS=/scratch/corpus.h5 RUN_DIR=/scratch/run scripts/slurm/submit-pipeline.sh
# Environment: everything prep.sbatch and pretrain.sbatch read (INPUTS, CORPUS, RUN_DIR,
# PREP_CONFIG, TRAIN_CONFIG, TRAIN_ARGS, ...) is passed on (sbatch exports the environment);
# PREP_SBATCH_ARGS and TRAIN_SBATCH_ARGS add sbatch options (e.g. "-N 4 --ntasks-per-node 4").

# ---- variables -----------------------------------------------------------------------------
MIXHIC_ROOT=${MIXHIC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
PREP_SBATCH_ARGS=${PREP_SBATCH_ARGS:-}
TRAIN_SBATCH_ARGS=${TRAIN_SBATCH_ARGS:-}

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
