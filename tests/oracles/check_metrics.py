#!/usr/bin/python3
"""Oracle: the evaluation metrics of include/mixhic/metrics.hpp, computed with scipy, sklearn and
numpy on the arrays the C++ test wrote.

Input file (written by tests/test_metrics.cpp), a sequence of
    array NAME d1 [d2 d3]      followed by one line of d1*d2*d3 values ("nan" allowed)
    param NAME VALUE
Output: one "KEY VALUE" line per metric (repr of a float, "nan" for NaN), compared by the C++
test to 1e-10 relative. Exit 0 on success, 1 with an ERROR line on stderr on unusable input or
when the oracle's two insulation implementations disagree.

The references, one per metric:
  pearson / spearman          scipy.stats.pearsonr / spearmanr (NaN for constant input)
  r2 / r2_swapped             sklearn.metrics.r2_score(true, pred) / r2_score(pred, true), the
                              latter as MIX-HIC's trainer_finetune_map.py calls it
  auroc / auprc               sklearn roc_auc_score / average_precision_score
  precision/recall/f1/acc     sklearn *_score on (score > threshold), as trainer_finetune_loop.py
  pooled map metrics          the above over all pixels of all samples flattened (reshape(-1))
  distance-stratified PCC     C.Origami metrics.py distance_stratified_correlation, per d the
                              np.nanmean over samples
  O/E (mean map)              C.Origami metrics.py observed_vs_expected
  O/E (expected by distance)  expected[d] = nanmean of np.diagonal(truth_s, d) over samples;
                              pearsonr of log(M / expected[|i-j|]) over pixels finite in both
  insulation                  cooltools' diamond insulation. cooltools is NOT installed here, so
                              this file carries two implementations of its definition: (1) direct
                              loops over the diamond of each bin, written from the definition
                              (what the C++ is compared with), and (2) a transcription of
                              cooltools/api/insulation.py (get_n_pixels + insul_diamond's
                              bincount over a pixel table, then _get_region_insulation's
                              ==0 -> NaN, log2, non-finite -> NaN), run on samples whose NaNs are
                              whole bad bins (the only NaNs a cooler has). The two must agree.
"""

import sys
import warnings

import numpy as np
from scipy.stats import pearsonr, rankdata, spearmanr
from sklearn.metrics import (accuracy_score, average_precision_score, f1_score, precision_score,
                             r2_score, recall_score, roc_auc_score)

warnings.simplefilter("ignore")


def fail(msg):
    print(f"check_metrics: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def read_input(path):
    arrays, params = {}, {}
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        head = lines[i].split()
        i += 1
        if not head:
            continue
        if head[0] == "param":
            params[head[1]] = float(head[2])
        elif head[0] == "array":
            shape = tuple(int(d) for d in head[2:])
            vals = np.array(lines[i].split(), dtype=np.float64)
            i += 1
            if vals.size != int(np.prod(shape)):
                fail(f"{path}: array {head[1]}: expected {int(np.prod(shape))} values, got {vals.size}")
            arrays[head[1]] = vals.reshape(shape)
        else:
            fail(f"{path}: unknown line {' '.join(head)!r}")
    return arrays, params


OUT = []


def emit(key, value):
    OUT.append(f"{key} {float(value)!r}")


def pcc(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.isnan(x).any() or np.isnan(y).any():
        return np.nan
    return pearsonr(x, y)[0]


def scc(x, y):
    return spearmanr(x, y).correlation


def r2(y_true, y_pred):
    # sklearn raises on NaN; the C++ propagates it like scipy's correlations.
    if np.isnan(y_true).any() or np.isnan(y_pred).any():
        return np.nan
    return r2_score(y_true, y_pred)


def pcc_finite(x, y):
    m = np.isfinite(x) & np.isfinite(y)
    return pcc(x[m], y[m])


def select(m, upper):
    """The pixels of one map in the order the C++ gathers them."""
    if not upper:
        return m.reshape(-1)
    return m[np.triu_indices(m.shape[0])]


def nanmean_or_nan(v):
    v = np.asarray(v, dtype=np.float64)
    return np.nan if np.isnan(v).all() else np.nanmean(v)


# --- insulation: (1) loops from the definition -------------------------------------------------
def insulation_loops(mat, window, ignore_diags):
    n = mat.shape[0]
    score = np.full(n, np.nan)
    for k in range(n):
        total, valid = 0.0, 0
        for a in range(window):
            for b in range(window):
                if a + b < ignore_diags:
                    continue
                i, j = k - a, k + b
                if i < 0 or j >= n:
                    continue
                if np.isnan(mat[i, j]):
                    continue
                total += mat[i, j]
                valid += 1
        if valid:
            score[k] = total / valid
    score = score / np.nanmedian(score)
    score[score == 0] = np.nan
    score = np.log2(score)
    score[~np.isfinite(score)] = np.nan
    return score


# --- insulation: (2) transcription of cooltools/api/insulation.py ------------------------------
def cooltools_get_n_pixels(bad_bin_mask, window, ignore_diags):
    N = len(bad_bin_mask)
    n_pixels = np.zeros(N)
    loc_bad_bin_mask = np.zeros(N, dtype=bool)
    for i_shift in range(0, window):
        for j_shift in range(0, window):
            if i_shift + j_shift < ignore_diags:
                continue
            loc_bad_bin_mask[:] = False
            if i_shift == 0:
                loc_bad_bin_mask |= bad_bin_mask
            else:
                loc_bad_bin_mask[i_shift:] |= bad_bin_mask[:-i_shift]
            if j_shift == 0:
                loc_bad_bin_mask |= bad_bin_mask
            else:
                loc_bad_bin_mask[:-j_shift] |= bad_bin_mask[j_shift:]
            n_pixels[i_shift:(-j_shift if j_shift else None)] += (
                1 - loc_bad_bin_mask[i_shift:(-j_shift if j_shift else None)])
    return n_pixels


def insulation_cooltools(mat, window, ignore_diags):
    N = mat.shape[0]
    bad = np.isnan(mat).all(axis=1)
    # The balanced pixel table of a cooler: upper triangle, count * weight1 * weight2 with a NaN
    # weight on bad bins; here the dense map plays count (weights 1 on good bins).
    weight = np.where(bad, np.nan, 1.0)
    ii, jj = np.triu_indices(N)
    count = np.nan_to_num(mat[ii, jj])
    balanced = count * weight[ii] * weight[jj]
    keep = jj - ii <= (window - 1) * 2
    i, j, balanced = ii[keep], jj[keep], balanced[keep]
    valid = ~np.isnan(balanced)
    n_pixels = cooltools_get_n_pixels(bad, window, ignore_diags)
    sum_balanced = np.zeros(N)
    for i_shift in range(0, window):
        for j_shift in range(0, window):
            if i_shift + j_shift < ignore_diags:
                continue
            mask = (i + i_shift == j - j_shift) & (i + i_shift < N) & (j - j_shift >= 0)
            sum_balanced += np.bincount(i[mask & valid] + i_shift, balanced[mask & valid], minlength=N)
    score = sum_balanced / n_pixels
    score /= np.nanmedian(score)
    score[score == 0] = np.nan
    score = np.log2(score)
    score[~np.isfinite(score)] = np.nan
    return score


def nan_is_bad_bins_only(mat):
    bad = np.isnan(mat).all(axis=1)
    return np.array_equal(np.isnan(mat), bad[:, None] | bad[None, :])


def insulation_block(tag, pred, truth, window, ignore_diags):
    per_sample = []
    agreed = 0
    for s in range(pred.shape[0]):
        tracks = []
        for name, m in (("pred", pred[s]), ("truth", truth[s])):
            t = insulation_loops(m, window, ignore_diags)
            if nan_is_bad_bins_only(m):
                c = insulation_cooltools(m, window, ignore_diags)
                if not np.allclose(t, c, rtol=1e-12, atol=1e-12, equal_nan=True):
                    fail(f"{tag}: sample {s} {name}: loop and cooltools insulation differ: "
                         f"max |diff| {np.nanmax(np.abs(t - c))}, NaN masks equal "
                         f"{np.array_equal(np.isnan(t), np.isnan(c))}")
                agreed += 1
            for k, v in enumerate(t):
                emit(f"{tag}.track_{name}.{s}.{k}", v)
            tracks.append(t)
        per_sample.append(pcc_finite(tracks[0], tracks[1]))
    for s, v in enumerate(per_sample):
        emit(f"{tag}.pcc.{s}", v)
    emit(f"{tag}.pcc_mean", nanmean_or_nan(per_sample))
    emit(f"{tag}.cooltools_agreed", agreed)


def map_block(tag, pred, truth, ignore_diags, min_points):
    n, w, _ = pred.shape
    for upper, name in ((False, "full"), (True, "upper")):
        p = np.concatenate([select(pred[s], upper) for s in range(n)])
        t = np.concatenate([select(truth[s], upper) for s in range(n)])
        emit(f"{tag}.pooled_{name}.pcc", pcc(p, t))
        emit(f"{tag}.pooled_{name}.spearman", scc(p, t))
        emit(f"{tag}.pooled_{name}.r2", r2(t, p))
        emit(f"{tag}.pooled_{name}.r2_swapped", r2(p, t))
        per = [pcc(select(pred[s], upper), select(truth[s], upper)) for s in range(n)]
        for s, v in enumerate(per):
            emit(f"{tag}.per_sample_{name}.{s}", v)
        emit(f"{tag}.per_sample_{name}.mean", nanmean_or_nan(per))
        # C.Origami observed_vs_expected: each set minus its own mean map.
        pr, tr = pred - pred.mean(axis=0, keepdims=True), truth - truth.mean(axis=0, keepdims=True)
        oe = [pcc(select(pr[s], upper), select(tr[s], upper)) for s in range(n)]
        for s, v in enumerate(oe):
            emit(f"{tag}.oe_mean_map_{name}.{s}", v)
        emit(f"{tag}.oe_mean_map_{name}.mean", nanmean_or_nan(oe))
        # cooltools-style O/E with expected from the truth.
        expected = np.array([nanmean_or_nan(np.concatenate([np.diagonal(truth[s], d) for s in range(n)]))
                             for d in range(w)])
        dist = np.abs(np.subtract.outer(np.arange(w), np.arange(w)))
        oe2 = []
        for s in range(n):
            lp, lt = np.log(pred[s] / expected[dist]), np.log(truth[s] / expected[dist])
            lp, lt = select(lp, upper), select(lt, upper)
            m = np.isfinite(lp) & np.isfinite(lt)
            oe2.append(pcc(lp[m], lt[m]))
        for s, v in enumerate(oe2):
            emit(f"{tag}.oe_expected_{name}.{s}", v)
        emit(f"{tag}.oe_expected_{name}.mean", nanmean_or_nan(oe2))

    # C.Origami distance_stratified_correlation, then per-d nanmean over samples.
    means = np.full(w, np.nan)
    for d in range(w):
        if w - d < min_points:
            break
        rs = [pcc(np.diagonal(pred[s], d), np.diagonal(truth[s], d)) for s in range(n)]
        rs = [r for r in rs if not np.isnan(r)]
        emit(f"{tag}.dist.count.{d}", len(rs))
        if rs:
            means[d] = np.mean(rs)
        emit(f"{tag}.dist.mean.{d}", means[d])
    emit(f"{tag}.dist.summary", nanmean_or_nan(means[ignore_diags:w - min_points + 1]))


def expected_block(tag, maps):
    n, w, _ = maps.shape
    for d in range(w):
        diag = np.concatenate([np.diagonal(maps[s], d) for s in range(n)])
        emit(f"{tag}.expected.{d}", nanmean_or_nan(diag))


def main():
    if len(sys.argv) != 2:
        print("usage: check_metrics.py INPUT", file=sys.stderr)
        sys.exit(2)
    a, p = read_input(sys.argv[1])
    try:
        # Scalars.
        for name in ("v", "ties"):
            x, y = a[f"{name}_x"], a[f"{name}_y"]
            emit(f"{name}.pearson", pcc(x, y))
            emit(f"{name}.spearman", scc(x, y))
            emit(f"{name}.r2", r2_score(x, y))
            emit(f"{name}.r2_swapped", r2_score(y, x))
        emit("nan.pearson_finite", pcc_finite(a["nan_x"], a["nan_y"]))
        for k, r in enumerate(rankdata(a["ties_x"], method="average")):
            emit(f"ranks.{k}", r)

        # Expression (CAGE: genes x 100 bins, flattened).
        t, q = a["expr_true"].reshape(-1), a["expr_pred"].reshape(-1)
        emit("expr.pcc", pcc(q, t))
        emit("expr.spearman", scc(q, t))
        emit("expr.r2", r2_score(t, q))
        emit("expr.r2_swapped", r2_score(q, t))

        # Loops.
        labels, scores, thr = a["labels"], a["scores"], p["threshold"]
        hard = (scores > thr).astype(int)
        emit("loop.auroc", roc_auc_score(labels, scores))
        emit("loop.auprc", average_precision_score(labels, scores))
        emit("loop.precision", precision_score(labels, hard))
        emit("loop.recall", recall_score(labels, hard))
        emit("loop.f1", f1_score(labels, hard))
        emit("loop.accuracy", accuracy_score(labels, hard))

        # Maps.
        ig, mp = int(p["ignore_diags"]), int(p["min_points"])
        map_block("maps", a["pred"], a["truth"], ig, mp)
        expected_block("train", a["train"])
        insulation_block("ins", a["pred"], a["truth"], int(p["ins_window"]), int(p["ins_ignore_diags"]))
        map_block("bad", a["bad_pred"], a["bad_truth"], ig, mp)
        insulation_block("bad_ins", a["bad_pred"], a["bad_truth"], int(p["bad_ins_window"]),
                         int(p["ins_ignore_diags"]))
    except KeyError as e:
        fail(f"{sys.argv[1]}: missing {e}")
    print("\n".join(OUT))


if __name__ == "__main__":
    main()
