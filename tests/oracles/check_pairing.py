#!/usr/bin/python3
"""Oracle: a corpus's Hi-C windows and track rows share one genomic coordinate system.

"Pairing" check for a corpus written by `mixhic-prep`. For the samples of one cell type it
takes the peaks of a BED-like file (chrom start end ..., e.g. CTCF broadPeak/narrowPeak; the
peak position is the centre (start+end)//2 of [start, end)) that fall inside each sample span
[start1_bp, start1_bp + W*hic-bin-bp) and checks:

  1. enrichment: the mean value of track T at the track bins holding a peak
     (row track_row1 + (pos - start1_bp)//track-bin-bp) is more than --min-ratio (2) times the
     mean over all the samples' track bins. A track misaligned with its coordinates loses
     this enrichment. Values are first mapped back to the raw scale (z-score undone with
     /normalization/track_mean, track_std; log2p1 undone with 2**x - 1) so the ratio is
     meaningful whatever the corpus's track normalisation.
  2. coordinates: the Hi-C row (pos - start1_bp)//hic-bin-bp is inside the window and its
     genomic bin [start1_bp + row*bin, +bin) contains pos, and the track bin holding pos lies
     inside that same Hi-C bin.

Called by the C++ gtest suite (via /usr/bin/python3), typically on a synthetic genome whose
CTCF track peaks at known sites, or on real IMR90/GM12878 data. Prints
`pairing: peaks=<n> enrichment=<ratio>` as its last line (n = distinct peaks found inside
sample spans); exit 0 when n > 0, ratio > min-ratio and the coordinate checks hold, else 1
(also on unusable inputs, with an ERROR line on stderr; argparse usage errors exit 2).
"""

import argparse
import sys

import h5py
import numpy as np

from oracle_common import alias_candidates, as_str, str_list


def fail(msg):
    print(f"check_pairing: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def load_peaks(path):
    """{chrom: sorted int64 array of peak centres}"""
    peaks = {}
    try:
        with open(path) as fh:
            for ln, line in enumerate(fh, 1):
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                parts = line.split()
                if len(parts) < 3:
                    fail(f"{path}:{ln}: expected at least 3 columns (chrom start end)")
                try:
                    s, e = int(parts[1]), int(parts[2])
                except ValueError:
                    if ln == 1:
                        continue  # a header line
                    fail(f"{path}:{ln}: start/end are not integers")
                peaks.setdefault(parts[0], []).append((s + e) // 2)
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    return {c: np.unique(np.array(v, dtype=np.int64)) for c, v in peaks.items()}


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: check_pairing.py corpus.h5 --cell-index 0 --peaks peaks.bed "
               "--track-index 0")
    ap.add_argument("corpus", metavar="CORPUS", help="corpus HDF5 written by mixhic-prep")
    ap.add_argument("--cell-index", type=int, required=True,
                    help="index into /cells: the samples with /samples/cell == I are used")
    ap.add_argument("--peaks", required=True, metavar="BROADPEAK_OR_BED",
                    help="BED-like peak file (chrom start end ...); peak position = centre")
    ap.add_argument("--track-index", type=int, required=True,
                    help="column of /tracks/signal holding the peak assay (e.g. CTCF)")
    ap.add_argument("--min-ratio", type=float, default=2.0,
                    help="required enrichment: mean at peak bins / mean at all bins (default 2)")
    args = ap.parse_args()

    peaks = load_peaks(args.peaks)
    try:
        f = h5py.File(args.corpus, "r")
    except OSError as e:
        fail(f"cannot open corpus {args.corpus}: {e}")
    with f:
        fmt = as_str(f.attrs.get("format", ""))
        if fmt != "mixhic-corpus":
            fail(f"{args.corpus}: format attr is {fmt!r}, not 'mixhic-corpus'")
        geo = f["geometry"].attrs
        W = int(geo["window-bins"])
        bin_bp = int(geo["hic-bin-bp"])
        tb = int(geo["track-bin-bp"])
        A = int(geo["track-bins-per-anchor"])
        span = W * bin_bp
        if A * tb != span:
            fail(f"geometry: A*track-bin-bp = {A}*{tb} != W*hic-bin-bp = {W}*{bin_bp}")
        names = str_list(f["tracks/name"])
        if not 0 <= args.track_index < len(names):
            fail(f"--track-index {args.track_index} out of range: tracks are {names}")
        cells = str_list(f["cells/name"])
        if not 0 <= args.cell_index < len(cells):
            fail(f"--cell-index {args.cell_index} out of range: corpus has {len(cells)} cells")
        norm = f["normalization"].attrs
        transform = as_str(norm.get("track-transform", "none"))
        zscore = int(norm.get("track-zscore", 0))
        t = args.track_index
        mean = std = None
        if zscore:
            mean = float(f["normalization/track_mean"][t])
            std = float(f["normalization/track_std"][t])
        chrom_names = str_list(f["chroms/name"])
        sel = np.flatnonzero(f["samples/cell"][()] == args.cell_index)
        s_chrom = f["samples/chrom"][()][sel]
        s_start = f["samples/start1_bp"][()][sel]
        s_row = f["samples/track_row1"][()][sel]
        signal = f["tracks/signal"]

        def raw(x):
            x = np.asarray(x, dtype=np.float64)
            if zscore:
                x = x * std + mean
            if transform == "log2p1":
                x = np.exp2(x) - 1.0
            return x

        peak_vals = []
        all_sum, all_n = 0.0, 0
        found = set()
        coord_problems = []
        for k in range(len(sel)):
            name = chrom_names[int(s_chrom[k])]
            start, row0 = int(s_start[k]), int(s_row[k])
            vals = raw(signal[row0:row0 + A, t])
            if vals.shape[0] != A:
                coord_problems.append(f"sample {int(sel[k])}: track rows [{row0},{row0 + A}) "
                                      f"outside /tracks/signal")
                continue
            all_sum += float(vals.sum())
            all_n += A
            pk = None
            for c in alias_candidates(name):
                if c in peaks:
                    pk = peaks[c]
                    break
            if pk is None:
                continue
            lo, hi = np.searchsorted(pk, [start, start + span])
            for pos in pk[lo:hi]:
                pos = int(pos)
                ti = (pos - start) // tb
                hrow = (pos - start) // bin_bp
                gb0 = start + hrow * bin_bp
                tb0 = start + ti * tb
                if not (0 <= hrow < W and gb0 <= pos < gb0 + bin_bp):
                    coord_problems.append(f"{name}:{pos}: Hi-C row {hrow} -> [{gb0},"
                                          f"{gb0 + bin_bp}) does not contain it")
                if not (0 <= ti < A and tb0 <= pos < tb0 + tb
                        and gb0 <= tb0 and tb0 + tb <= gb0 + bin_bp):
                    coord_problems.append(f"{name}:{pos}: track bin {ti} [{tb0},{tb0 + tb}) is "
                                          f"not inside Hi-C bin [{gb0},{gb0 + bin_bp})")
                peak_vals.append(float(vals[ti]))
                found.add((name, pos))

    n = len(found)
    mean_all = all_sum / all_n if all_n else float("nan")
    mean_peak = float(np.mean(peak_vals)) if peak_vals else float("nan")
    ratio = mean_peak / mean_all if all_n and mean_all > 0 else float("nan")
    print(f"pairing-detail: samples={len(sel)} peak_bins={len(peak_vals)} "
          f"mean_at_peaks={mean_peak:.6g} mean_all_bins={mean_all:.6g} track={names[t]!r}")
    ok = n > 0 and ratio > args.min_ratio and not coord_problems
    if not ok:
        if n == 0:
            print(f"FAIL: no peak of {args.peaks} falls inside a sample of cell {args.cell_index}")
        elif not ratio > args.min_ratio:
            print(f"FAIL: enrichment {ratio:.4g} <= {args.min_ratio:g}: the track does not peak "
                  f"at the peak coordinates (misaligned tracks or wrong track index?)")
        for p in coord_problems[:20]:
            print(f"FAIL: {p}")
    print(f"pairing: peaks={n} enrichment={ratio:.4g}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
