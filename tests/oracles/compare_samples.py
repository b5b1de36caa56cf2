#!/usr/bin/env python3
"""Checks that two mixhic corpora hold the same samples, bit for bit (h5py oracle).

Used to show that a .hic input and the .cool converted from it give the same corpus: the
/samples datasets that depend on the Hi-C (windows, coordinates, filters) must be identical.

usage: compare_samples.py A.h5 B.h5   -> "samples: n=N, identical" or a difference and exit 1
"""
import sys

import h5py
import numpy as np

DATASETS = ["hic", "chrom", "start1_bp", "start2_bp", "split", "nonzero_frac", "masked_bins"]


def main():
    a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
    n = a["samples/hic"].shape[0]
    bad = []
    for name in DATASETS:
        x, y = a["samples/" + name][()], b["samples/" + name][()]
        if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
            diff = "" if x.shape != y.shape else f", max |diff| {np.nanmax(np.abs(x.astype(float) - y.astype(float)))}"
            bad.append(f"samples/{name}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}{diff}")
    if n == 0:
        bad.append("no samples")
    if bad:
        print("samples differ:\n  " + "\n  ".join(bad))
        sys.exit(1)
    print(f"samples: n={n}, {a['samples/hic'].shape[1]} values each, identical")


if __name__ == "__main__":
    main()
