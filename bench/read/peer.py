#!/usr/bin/env python3
"""The corpus-read peer: h5py reading the same batches mixhic-bench read wrote (--samples-out),
as a PyTorch Dataset would: per batch, each sample's packed Hi-C row unpacked to W x W and both
anchors' track rows (read once when they are the same rows, as mixhic's loader does), stacked into float32 arrays (the model-ready tensors mixhic's loader makes).
  bench/read/peer.py --corpus CORPUS --samples SAMPLES.txt [--cold]
Prints one line: read-peer: samples_per_s=... mb_per_s=...
"""
import argparse
import os
import time

import h5py
import numpy as np


def drop_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--samples", required=True, help="one global batch of corpus sample indices per line")
    ap.add_argument("--cold", action="store_true", help="drop the file's cached pages first")
    a = ap.parse_args()
    batches = [[int(x) for x in line.split()] for line in open(a.samples) if line.strip()]
    if a.cold:
        drop_page_cache(a.corpus)
    t0 = time.perf_counter()
    with h5py.File(a.corpus, "r") as f:
        g = f["geometry"].attrs
        W = int(g["window-bins"])
        A = int(g["track-bins-per-anchor"])
        hic, signal = f["samples/hic"], f["tracks/signal"]
        row1, row2 = f["samples/track_row1"][:], f["samples/track_row2"][:]
        full = hic.shape[1] == W * W
        iu = np.triu_indices(W)
        n = 0
        for batch in batches:
            h = np.empty((len(batch), 1, W, W), np.float32)
            e = np.empty((len(batch), 2 * A, signal.shape[1]), np.float32)
            for k, i in sorted(enumerate(batch), key=lambda kv: kv[1]):
                v = hic[i]
                if full:
                    h[k, 0] = v.reshape(W, W)
                else:
                    m = np.zeros((W, W), np.float32)
                    m[iu] = v
                    m.T[iu] = v
                    h[k, 0] = m
                e[k, :A] = signal[row1[i]:row1[i] + A]
                e[k, A:] = e[k, :A] if row2[i] == row1[i] else signal[row2[i]:row2[i] + A]
            n += len(batch)
    s = time.perf_counter() - t0
    sample_bytes = 4 * (hic.shape[1] + (1 if row2[batches[0][0]] == row1[batches[0][0]] else 2) * A * e.shape[2])
    print(f"read-peer: samples={n} seconds={s:.4f} samples_per_s={n / s:.1f} mb_per_s={n * sample_bytes / s / 1e6:.1f}")


if __name__ == "__main__":
    main()
