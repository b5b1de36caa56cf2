#!/usr/bin/env python3
"""Recomputes mixhic-eval's loop and expression metrics from its predictions.tsv with sklearn/scipy.

usage: check_predictions.py loop|expression EVAL_DIR

Prints `COLUMN METRIC VALUE` lines (metric names as in metrics.csv) for every model column of
predictions.tsv, computed here from the written predictions alone.
"""
import csv
import sys
import warnings

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, f1_score, r2_score, roc_auc_score


def main():
    warnings.filterwarnings("ignore")  # constant-input warnings: the value printed says it
    task, eval_dir = sys.argv[1], sys.argv[2]
    with open(eval_dir + "/predictions.tsv") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    header, body = rows[0], rows[1:]
    if task == "loop":
        labels = np.array([int(r[3]) for r in body])
        for c in range(4, len(header)):
            name = header[c][len("p_"):]
            p = np.array([float(r[c]) for r in body])
            print(name, "AUROC", roc_auc_score(labels, p))
            print(name, "AUPRC", average_precision_score(labels, p))
            print(name, "F1", f1_score(labels, (p > 0.5).astype(int), zero_division=0))
    else:
        truth = np.array([float(r[3]) for r in body])
        for c in range(4, len(header)):
            p = np.array([float(r[c]) for r in body])
            print(header[c], "PCC", stats.pearsonr(truth, p)[0])
            print(header[c], "R2", r2_score(truth, p))


if __name__ == "__main__":
    main()
