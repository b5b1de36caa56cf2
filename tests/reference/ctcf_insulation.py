#!/usr/bin/env python3
"""A parameter-free map predictor from the CTCF track: what the tracks alone explain per diagonal.

Issue-5 yardstick for the hic_map task (README "Evaluation / Measured"). For each window of a
tiles corpus, bin k's barrier strength is the maximum of the CTCF track over the bin's track bins
minus the window's 80th percentile of those maxima (0 below it); pixel (i, j) is predicted as minus
the sum of the barrier strengths of the bins between them, i < k <= j. The score is mixhic-eval's
distance-stratified PCC (C.Origami: per window and diagonal d, mean over d = 2 .. W-3, then over
windows), so it compares with the table mixhic-eval prints for the same corpus and split.
  /usr/bin/python3 tests/reference/ctcf_insulation.py CORPUS.h5 [--split test] [--track CTCF]
"""
import argparse

import h5py
import numpy as np

SPLITS = {"train": 0, "val": 1, "test": 2}


def distance_stratified_pcc(pred, truth, ignore=2):
    w = len(truth)
    r = []
    for d in range(ignore, w - 2):
        x, y = np.diagonal(pred, d), np.diagonal(truth, d)
        if x.std() > 0 and y.std() > 0:
            r.append(np.corrcoef(x, y)[0, 1])
    return np.mean(r) if r else np.nan


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--split", default="test", choices=SPLITS)
    ap.add_argument("--track", default="CTCF")
    ap.add_argument("--quantile", type=float, default=0.8)
    a = ap.parse_args()
    f = h5py.File(a.corpus, "r")
    g, s = f["geometry"].attrs, f["samples"]
    w, per_anchor = int(g["window-bins"]), int(g["track-bins-per-anchor"])
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["tracks/name"][:]]
    channel = names.index(a.track)
    signal = f["tracks/signal"]
    iu = np.triu_indices(w)
    scores = []
    np.seterr(invalid="ignore")  # windows with a constant diagonal: corrcoef divides by 0, skipped above
    for i in np.where(s["split"][:] == SPLITS[a.split])[0]:
        truth = np.zeros((w, w))
        truth[iu] = s["hic"][i]
        row = int(s["track_row1"][i])
        strength = signal[row:row + per_anchor, channel].reshape(w, -1).max(1)
        strength = np.maximum(strength - np.quantile(strength, a.quantile), 0)
        c = np.cumsum(strength)
        pred = -np.abs(c[None, :] - c[:, None])  # sum over i < k <= j
        scores.append(distance_stratified_pcc(pred, truth))
    print(f"CTCF insulation ({a.track} maxima above the window's {a.quantile:.0%} quantile), {a.split} split, "
          f"{len(scores)} windows: distance-stratified PCC {np.nanmean(scores):.4f}")


if __name__ == "__main__":
    main()
