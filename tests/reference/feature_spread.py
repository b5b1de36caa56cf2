#!/usr/bin/env python3
"""How different the pre-training features of different windows are at initialisation.

Issue-5 diagnostic for the contrastive collapse (README "Evaluation / Measured"): loads 16 train
windows of a tiles corpus, builds the PyTorch twin (mixhic_twin.py, tiny geometry from the
corpus, the reference's initialisation) and prints the InfoNCE loss at initialisation next to log B, and the mean off-diagonal
cosine similarity, across windows, of the pooled shared features and of the encoders' pooled
tokens. A cosine near 1 means that modality gives the contrastive loss nothing to match on.
  /usr/bin/python3 tests/reference/feature_spread.py CORPUS.h5 [--embed-dim 16 --depth 1 --heads 2]
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mixhic_twin  # noqa: E402


def mean_offdiag_cos(x):
    x = torch.nn.functional.normalize(x, dim=-1)
    c = x @ x.t()
    n = len(x)
    return float((c.sum() - c.diag().sum()) / (n * n - n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--embed-dim", type=int, default=16)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=16)
    a = ap.parse_args()
    torch.manual_seed(99)
    f = h5py.File(a.corpus, "r")
    g = f["geometry"].attrs
    W, A = int(g["window-bins"]), int(g["track-bins-per-anchor"])
    sig = f["tracks/signal"]
    train = f["splits/train"][:][: a.samples]
    iu = np.triu_indices(W)
    hic = np.zeros((len(train), 1, W, W), np.float32)
    epi = np.zeros((len(train), 2 * A, sig.shape[1]), np.float32)
    for k, i in enumerate(train):
        v = f["samples/hic"][i]
        hic[k, 0][iu] = v
        hic[k, 0].T[iu] = v
        r1, r2 = int(f["samples/track_row1"][i]), int(f["samples/track_row2"][i])
        epi[k, :A], epi[k, A:] = sig[r1:r1 + A], sig[r2:r2 + A]
    print(f"Hi-C values: mean {hic.mean():.4f}, std {hic.std():.4f}, std across windows {(hic - hic.mean(0)).std():.4f}")
    cfg = {"embed_dim": a.embed_dim, "depth": a.depth, "heads": a.heads, "mlp_ratio": 2, "n_tracks": sig.shape[1],
           "window_bins": W, "hic_bin_bp": int(g["hic-bin-bp"]), "track_bin_bp": int(g["track-bin-bp"]), "dropout": 0.0}
    model = mixhic_twin.MixHicTwin(cfg)
    for m in model.modules():  # the reference's initialisation (spec 3.5), as mixhic-train's
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.LayerNorm):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)
    model.train()
    with torch.no_grad():
        out = model(torch.tensor(hic), torch.tensor(epi))
    esm, msm = out["epi_share"].mean(1), out["hic_share"].mean(1)
    print(f"InfoNCE at initialisation {float(out['contrastive']):.4f} (log B = {np.log(len(train)):.4f})")
    print(f"mean off-diagonal cosine across windows: pooled shared features epi {mean_offdiag_cos(esm):.4f}, "
          f"Hi-C {mean_offdiag_cos(msm):.4f}; pooled encoder tokens epi {mean_offdiag_cos(out['epi_tokens'].mean(1)):.4f}, "
          f"Hi-C {mean_offdiag_cos(out['hic_tokens'].mean(1)):.4f}")


if __name__ == "__main__":
    main()
