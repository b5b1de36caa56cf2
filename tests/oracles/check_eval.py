#!/usr/bin/env python3
"""Independent recomputation of mixhic-eval's hic_map baseline and outputs, from the corpus alone.

usage: check_eval.py CORPUS.h5 EVAL_DIR [SPLIT]

Reads the corpus with h5py (not mixhic's reader), rebuilds every window of the split and the
distance-decay baseline of the train split with numpy, scores the baseline with scipy/sklearn and
prints one `name value` line per figure mixhic-eval also reports, plus checks of truth.cool
(read with python3-cooler): every window of the split equals cooler's fetch of its region in
its cell's file, truth.CELL.cool.
"""
import sys
import warnings

import cooler
import h5py
import numpy as np
from scipy import stats
from sklearn.metrics import r2_score


def windows(f, idx, W):
    packed = f["samples/hic"][:]
    iu = np.triu_indices(W)
    out = np.zeros((len(idx), W, W))
    for k, i in enumerate(idx):
        m = np.zeros((W, W))
        m[iu] = packed[i]
        out[k] = m + np.triu(m, 1).T
    return out


def main():
    warnings.filterwarnings("ignore")  # constant-input warnings: the value printed says it
    corpus, eval_dir = sys.argv[1], sys.argv[2]
    split = sys.argv[3] if len(sys.argv) > 3 else "test"
    with h5py.File(corpus, "r") as f:
        W = int(f["geometry"].attrs["window-bins"])
        res = int(f["geometry"].attrs["hic-bin-bp"])
        test = f["splits/" + split][:]
        train = f["splits/train"][:]
        truth = windows(f, test, W)
        tr = windows(f, train, W)
        chroms = [c.decode() for c in f["chroms/name"][:]]
        chrom = f["samples/chrom"][:]
        cell = f["samples/cell"][:]
        cells = [c.decode() for c in f["cells/name"][:]]
        start = f["samples/start1_bp"][:]
    expected = np.array([np.mean([np.diagonal(m, d).mean() for m in tr]) for d in range(W)])
    decay = np.array([[expected[abs(i - j)] for j in range(W)] for i in range(W)])
    pred = np.broadcast_to(decay, truth.shape)
    t, p = truth.ravel(), pred.ravel()
    print("pooled_pcc", stats.pearsonr(t, p)[0])
    print("pooled_spearman", stats.spearmanr(t, p).correlation)
    print("pooled_r2", r2_score(t, p))
    # distance-stratified: per diagonal, samples where both diagonals vary; then the mean over d
    per_d = []
    for d in range(2, W - 2):
        rs = []
        for s in range(len(truth)):
            a, b = np.diagonal(pred[s], d), np.diagonal(truth[s], d)
            if np.std(a) > 0 and np.std(b) > 0:
                rs.append(stats.pearsonr(a, b)[0])
        per_d.append(np.mean(rs) if rs else np.nan)
    print("distance_pcc_defined", int(np.sum(np.isfinite(per_d))))
    # truth.cool: each window equals cooler's fetch of its region
    worst = 0.0
    for k, i in enumerate(test):
        c = cooler.Cooler(eval_dir + "/truth." + cells[cell[i]] + ".cool")
        region = (chroms[chrom[i]], int(start[i]), int(start[i]) + W * res)
        m = c.matrix(balance=False).fetch(region)
        worst = max(worst, float(np.max(np.abs(m - truth[k]))))
    print("truth_cool_max_abs_diff", worst)
    print("truth_cool_bins", c.binsize, len(c.chromnames))
    print("truth_cool_windows", len(test))


if __name__ == "__main__":
    main()
