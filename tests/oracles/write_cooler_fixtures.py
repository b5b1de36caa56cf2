#!/usr/bin/env python3
"""Writes small cooler-family fixtures with python3-cooler, for tests/test_cooler_bigwig.cpp and
tests/test_prep.cpp (balancing columns, the old multi-resolution layout, single-cell .scool).

usage: write_cooler_fixtures.py OUT_DIR   -> in OUT_DIR:
  balanced.cool  two chromosomes (chr1 3 Mb, chr2 2 Mb) at 10 kb, a banded Poisson matrix,
                 cis only; `weight` balanced as cooler's ICE (cis-only, every bin kept, the main
                 diagonal left out: off-diagonal row sums of the balanced matrix are 1),
                 and the same weights again under other names, as current tools write them:
                   KR          = weight,  divisive_weights = False   (multiplicative, says so)
                   ICE         = weight,  no attribute               (multiplicative by name)
                   VC          = 1/weight, divisive_weights = True   (divisive, says so)
                   SCALE       = 1/weight, no attribute              (divisive by name: Juicer's)
                   perChromKR  = 1/weight, divisive_weights = True
                   NEG         = weight with bin 3 of chr2 negative  (a corrupt vector)
  old.mcool      cooler.legacy_zoomify of balanced.cool: groups /1 (10 kb) and /0 (20 kb)
  new.mcool      cooler.zoomify_cooler of balanced.cool: resolutions/{10000,20000}
  cells.scool    cooler.create_scool with cells cellA and cellB (other random counts)
  cellA.cool     cellA's pixels as an ordinary cooler (what cells.scool::cells/cellA must equal)
  track.bw       a bigWig over both chromosomes (pyBigWig), for a prep run on these files
"""
import os
import sys

import cooler
import cooler.reduce
import h5py
import numpy as np
import pandas as pd
import pyBigWig

RES = 10_000
CHROMS = [("chr1", 3_000_000), ("chr2", 2_000_000)]
BAND = 60  # pixels within 60 bins of the diagonal


def banded_pixels(rng, offsets):
    parts = []
    for (lo, hi) in offsets:
        i, j = np.triu_indices(hi - lo)
        keep = j - i < BAND
        i, j = i[keep], j[keep]
        lam = 400.0 / (1.0 + (j - i)) ** 0.9 * rng.uniform(0.5, 1.5, size=i.size)
        c = rng.poisson(lam)
        nz = c > 0
        parts.append(pd.DataFrame({"bin1_id": i[nz] + lo, "bin2_id": j[nz] + lo, "count": c[nz]}))
    return pd.concat(parts, ignore_index=True)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261201)
    chromsizes = pd.Series({name: length for name, length in CHROMS})
    bins = cooler.binnify(chromsizes, RES)
    offsets, at = [], 0
    for _, length in CHROMS:
        n = (length + RES - 1) // RES
        offsets.append((at, at + n))
        at += n
    pixels = banded_pixels(rng, offsets)

    cool = f"{out}/balanced.cool"
    cooler.create_cooler(cool, bins, pixels, ordered=True)
    clr = cooler.Cooler(cool)
    # Matrix balancing as cooler's ICE does it (cis-only: the chromosomes share no contacts;
    # the main diagonal left out), on the dense matrix: cooler.balance_cooler takes ~9 s here.
    dense = clr.matrix(balance=False)[:].astype(np.float64)
    np.fill_diagonal(dense, 0)
    w = np.ones(len(bins))
    for _ in range(500):
        marg = (dense * w[None, :]).sum(axis=1) * w
        if np.abs(marg - 1).max() < 1e-12:
            break
        w /= np.sqrt(marg)
    with h5py.File(cool, "r+") as f:
        f["bins"].create_dataset("weight", data=w)
        f["bins/weight"].attrs["divisive_weights"] = np.bool_(False)
    with h5py.File(cool, "r+") as f:
        def column(name, values, divisive):
            f["bins"].create_dataset(name, data=values)
            if divisive is not None:
                f["bins"][name].attrs["divisive_weights"] = np.bool_(divisive)
        column("KR", w, False)
        column("ICE", w, None)
        column("VC", 1.0 / w, True)
        column("SCALE", 1.0 / w, None)
        column("perChromKR", 1.0 / w, True)
        neg = w.copy()
        neg[offsets[1][0] + 3] = -0.25
        column("NEG", neg, None)

    cooler.reduce.legacy_zoomify(cool, f"{out}/old.mcool", nproc=1, chunksize=10_000_000)
    cooler.zoomify_cooler([cool], f"{out}/new.mcool", resolutions=[RES, 2 * RES], chunksize=10_000_000)

    cell_a = banded_pixels(rng, offsets)
    cell_b = banded_pixels(rng, offsets)
    cooler.create_scool(f"{out}/cells.scool", bins, {"cellA": cell_a, "cellB": cell_b}, ordered=True)
    cooler.create_cooler(f"{out}/cellA.cool", bins, cell_a, ordered=True)

    bw = pyBigWig.open(f"{out}/track.bw", "w")
    bw.addHeader(CHROMS)
    for name, length in CHROMS:
        starts = np.arange(0, length, 1000, dtype=np.int64)
        values = (1.0 + np.sin(starts / 50_000.0) ** 2).astype(np.float64)
        bw.addEntries(name, 0, values=values, span=1000, step=1000)
    bw.close()


if __name__ == "__main__":
    main()
