#!/usr/bin/python3
"""Oracle: the binned epigenomic tracks of a mixhic corpus equal what pyBigWig gives.

For every sample of one cell type of a corpus written by `mixhic-prep` with
track-transform "none" and track-zscore 0, compares rows [track_row1, track_row1 + A) of
`/tracks/signal` (one column per track, in `/tracks/name` order) with

    np.nan_to_num(np.array(bw.values(chrom, s, e), dtype=np.float64)).reshape(A, tb).mean(axis=1)

over the sample span [start1_bp, start1_bp + W*hic-bin-bp) (A = track-bins-per-anchor,
tb = track-bin-bp). Bases the bigWig does not cover count as 0, including bases past the
chromosome end and chromosomes missing from the bigWig. Off-diagonal ("pair") samples also
check anchor 2 (start2_bp, track_row2). Chromosome names are matched with/without "chr".
Error metric: max |ours - oracle| / max(|oracle|, 1e-6) (float32 storage).

Called by the C++ gtest suite (via /usr/bin/python3) after running mixhic-prep; usable by
hand. Prints `tracks: n=<samples> max_rel_err=<x>`; exit 0 when n > 0 and max_rel_err <= tol,
1 otherwise, also on unusable inputs (an ERROR line on stderr); argparse usage errors
exit 2.
"""

import argparse
import sys

import h5py
import numpy as np

from oracle_common import as_str, str_list, resolve_chrom

DENOM_FLOOR = 1e-6


def fail(msg):
    print(f"check_tracks: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def bw_span_values(bw, bw_chroms, chrom, s, e):
    """Per-base values of [s, e) with NaN/uncovered/out-of-chromosome bases as 0."""
    out = np.zeros(e - s, dtype=np.float64)
    if chrom is None:
        return out
    clen = int(bw_chroms[chrom])
    ee = min(e, clen)
    if ee > s:
        v = np.array(bw.values(chrom, s, ee), dtype=np.float64)
        out[: ee - s] = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def oracle_bins(bw, bw_chroms, chrom, s, A, tb):
    return bw_span_values(bw, bw_chroms, chrom, s, s + A * tb).reshape(A, tb).mean(axis=1)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: check_tracks.py corpus.h5 --cell-index 0 synthA.CTCF.bw synthA.ATAC.bw "
               "synthA.H3K27ac.bw synthA.H3K27me3.bw")
    ap.add_argument("corpus", metavar="CORPUS", help="corpus HDF5 written by mixhic-prep")
    ap.add_argument("--cell-index", type=int, required=True,
                    help="index into /cells: the samples with /samples/cell == I are checked")
    ap.add_argument("bigwigs", metavar="BIGWIG", nargs="+",
                    help="this cell's bigWig files, in the corpus's /tracks/name order")
    ap.add_argument("--tol", type=float, default=1e-6,
                    help="max allowed relative error (default 1e-6)")
    args = ap.parse_args()

    import pyBigWig

    try:
        f = h5py.File(args.corpus, "r")
    except OSError as e:
        fail(f"cannot open corpus {args.corpus}: {e}")
    with f:
        fmt = as_str(f.attrs.get("format", ""))
        if fmt != "mixhic-corpus":
            fail(f"{args.corpus}: format attr is {fmt!r}, not 'mixhic-corpus'")
        norm = f["normalization"].attrs
        tt = as_str(norm.get("track-transform", ""))
        tz = int(norm.get("track-zscore", -1))
        if tt != "none" or tz != 0:
            fail(f"corpus has track-transform={tt!r} track-zscore={tz}; this oracle needs "
                 f"track-transform = none and track-zscore = 0")
        geo = f["geometry"].attrs
        W = int(geo["window-bins"])
        bin_bp = int(geo["hic-bin-bp"])
        tb = int(geo["track-bin-bp"])
        A = int(geo["track-bins-per-anchor"])
        if A * tb != W * bin_bp:
            fail(f"geometry: track-bins-per-anchor*track-bin-bp = {A}*{tb} != "
                 f"window-bins*hic-bin-bp = {W}*{bin_bp}")
        names = str_list(f["tracks/name"])
        if len(names) != len(args.bigwigs):
            fail(f"corpus has {len(names)} tracks {names} but {len(args.bigwigs)} bigWigs given")
        cells = str_list(f["cells/name"])
        if not 0 <= args.cell_index < len(cells):
            fail(f"--cell-index {args.cell_index} out of range: corpus has {len(cells)} cells")
        chrom_names = str_list(f["chroms/name"])
        sel = np.flatnonzero(f["samples/cell"][()] == args.cell_index)
        s_chrom = f["samples/chrom"][()][sel]
        s_start1 = f["samples/start1_bp"][()][sel]
        s_row1 = f["samples/track_row1"][()][sel]
        s_start2 = f["samples/start2_bp"][()][sel] if "samples/start2_bp" in f else s_start1
        s_row2 = f["samples/track_row2"][()][sel] if "samples/track_row2" in f else s_row1
        signal = f["tracks/signal"]
        R, T = signal.shape
        if T != len(names):
            fail(f"/tracks/signal has {T} columns but /tracks/name has {len(names)}")

        bws = []
        for p in args.bigwigs:
            try:
                bw = pyBigWig.open(p)
            except Exception as e:  # noqa: BLE001
                fail(f"cannot open bigWig {p}: {e}")
            if bw is None or not bw.isBigWig():
                fail(f"{p} is not a bigWig")
            bws.append((bw, bw.chroms()))

        n = 0
        max_err = -1.0
        worst = None
        problems = []
        missing_noted = set()
        for k in range(len(sel)):
            si = int(sel[k])
            name = chrom_names[int(s_chrom[k])]
            anchors = [(int(s_start1[k]), int(s_row1[k]))]
            if int(s_start2[k]) != int(s_start1[k]):
                anchors.append((int(s_start2[k]), int(s_row2[k])))
            for (start, row) in anchors:
                if row < 0 or row + A > R:
                    problems.append(f"sample {si}: track rows [{row},{row + A}) outside "
                                    f"/tracks/signal ({R} rows)")
                    continue
                ours = np.asarray(signal[row:row + A, :], dtype=np.float64)
                for t, (bw, bwc) in enumerate(bws):
                    bchrom = resolve_chrom(name, bwc)
                    if bchrom is None and (t, name) not in missing_noted:
                        missing_noted.add((t, name))
                        print(f"check_tracks: note: {name} not in {args.bigwigs[t]}; "
                              f"oracle uses zeros", file=sys.stderr)
                    ref = oracle_bins(bw, bwc, bchrom, start, A, tb)
                    col = ours[:, t]
                    err = np.abs(col - ref) / np.maximum(np.abs(ref), DENOM_FLOOR)
                    err[~np.isfinite(col)] = np.inf
                    i = int(np.argmax(err))
                    if float(err[i]) > max_err:
                        max_err = float(err[i])
                        worst = (f"sample {si} ({name}:{start}) track {t} ({names[t]}) bin {i} "
                                 f"[{start + i * tb},{start + (i + 1) * tb}) row {row + i}: "
                                 f"ours={col[i]!r} oracle={ref[i]!r}")
            n += 1

    max_err = max_err if n else float("nan")
    print(f"tracks: n={n} max_rel_err={max_err:.3e}")
    ok = n > 0 and max_err <= args.tol and not problems
    if not ok:
        if n == 0:
            print(f"FAIL: no samples of cell {args.cell_index} in the corpus")
        for p in problems[:20]:
            print(f"FAIL: {p}")
        if n and worst is not None and max_err > args.tol:
            print(f"FAIL: worst {worst} (tol {args.tol:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
