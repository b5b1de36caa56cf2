"""Oracle for .cool files written by mixhic's CoolWriter (tests/test_figure.cpp): opens them with
python3-cooler and compares attributes, chromosomes, bins, pixels and matrices with what the test
expects (a dense genome-wide matrix as text).

Exit status 0 when every check passes.
"""
import argparse
import json
import sys

import cooler
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cool")
    ap.add_argument("expected", help="dense genome-wide matrix, whitespace-separated text")
    ap.add_argument("--nnz", type=int, required=True)
    ap.add_argument("--assembly")
    ap.add_argument("--region", help="a UCSC-style region to fetch, e.g. chr2:300-1,100")
    args = ap.parse_args()

    failures = []
    if not cooler.fileops.is_cooler(args.cool):
        failures.append("cooler.fileops.is_cooler says it is not a cooler")
    c = cooler.Cooler(args.cool)
    info = c.info
    for key, want in [("format", "HDF5::Cooler"), ("format-version", 3), ("storage-mode", "symmetric-upper"),
                      ("bin-type", "fixed"), ("generated-by", "mixhic-eval"), ("nnz", args.nnz),
                      ("nbins", len(c.bins()))]:
        if info.get(key) != want:
            failures.append(f"attribute {key} = {info.get(key)!r}, expected {want!r}")
    if args.assembly and info.get("genome-assembly") != args.assembly:
        failures.append(f"genome-assembly {info.get('genome-assembly')!r}, expected {args.assembly!r}")
    if "creation-date" not in info:
        failures.append("no creation-date attribute")
    try:
        json.loads(info.get("metadata", "{}")) if isinstance(info.get("metadata"), str) else None
    except ValueError:
        failures.append(f"metadata is not JSON: {info.get('metadata')!r}")

    # Bins: fixed width from 0 on each chromosome, the last one cut at the chromosome's end.
    binsize = c.binsize
    bins = c.bins()[:]
    for name, length in c.chromsizes.items():
        sel = bins[bins["chrom"] == name]
        starts = np.arange(0, length, binsize)
        if not (np.array_equal(sel["start"].values, starts) and
                np.array_equal(sel["end"].values, np.minimum(starts + binsize, length))):
            failures.append(f"bins of {name} are not [k*{binsize}, min((k+1)*{binsize}, {length}))")

    # Pixels: upper triangle, sorted, float64, no zero or NaN entries.
    px = c.pixels()[:]
    b1, b2, count = px["bin1_id"].values, px["bin2_id"].values, px["count"].values
    if count.dtype != np.float64:
        failures.append(f"count dtype {count.dtype}, expected float64")
    if np.any(b1 > b2):
        failures.append("a pixel below the diagonal")
    order = np.lexsort((b2, b1))
    if not np.array_equal(order, np.arange(len(b1))) or np.any((np.diff(b1) == 0) & (np.diff(b2) == 0)):
        failures.append("pixels not sorted by (bin1, bin2) without duplicates")
    if np.any(count == 0) or np.any(~np.isfinite(count)):
        failures.append("a stored pixel is 0 or not finite")

    expected = np.loadtxt(args.expected, ndmin=2)
    m = c.matrix(balance=False)[:]
    if m.shape != expected.shape:
        failures.append(f"matrix shape {m.shape}, expected {expected.shape}")
    elif not np.array_equal(m, expected):
        i, j = np.argwhere(m != expected)[0]
        failures.append(f"{int((m != expected).sum())} matrix entries differ, first ({i}, {j}): "
                        f"{m[i, j]!r} vs {expected[i, j]!r}")
    summary = f"{len(count)} pixels, matrix {m.shape[0]} x {m.shape[1]}"
    if args.region:
        lo, hi = c.extent(args.region)  # cooler's own parsing of the region into bins
        got = c.matrix(balance=False).fetch(args.region)
        want = expected[lo:hi, lo:hi]
        if got.shape != want.shape or not np.array_equal(got, want):
            failures.append(f"fetch('{args.region}') differs from the expected bins [{lo}, {hi})")
        names = list(c.chromnames)
        trans = c.matrix(balance=False).fetch(names[0], names[-1])
        e0, e1 = c.extent(names[0]), c.extent(names[-1])
        if not np.array_equal(trans, expected[e0[0]:e0[1], e1[0]:e1[1]]):
            failures.append(f"fetch('{names[0]}', '{names[-1]}') differs")
        summary += f", {args.region} = bins [{lo}, {hi}) and the trans block equal"

    for f in failures:
        print("FAIL:", f)
    print(f"check_cool_written: cooler {cooler.__version__}: {summary}; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
