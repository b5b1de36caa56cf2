#!/usr/bin/python3
"""Python peer of `mixhic-prep` for the prep benchmark (bench/prep/run.sh calls it).

Does the same extraction as mixhic-prep, written the way a careful Python user would with
python3-cooler and pyBigWig, single process (no multiprocessing):

  * parse INPUTS_INI: `cell = NAME PATH.mcool` and `track = CELL TRACKNAME PATH.bw` lines,
    `#` comments, [section] headers and other keys ignored; relative paths are tried as
    given, then relative to the INI's folder;
  * open `PATH::resolutions/<res>` (an .mcool) or PATH (a plain .cool at that resolution);
  * for every chromosome, window start bins floor(k*stride/bin) for k = 0, 1, ... while
    start + W <= nbins(chrom); fetch each window with
    clr.matrix(balance=...).fetch((chrom, s*bin, (s+W)*bin)) (the end clipped to the
    chromosome length);
  * keep windows with >= 10% non-zero pixels whose pixels are all finite; store the upper
    triangle (row-major, with the diagonal) as float32;
  * for each kept window and each of the cell's tracks, the track-bin means
    nan_to_num(bw.values(chrom, s, e)).reshape(A, tb).mean(1) (uncovered bases = 0).

Results are accumulated in numpy arrays (written to an .npz only with --out). The last line
printed is exactly
    peer: windows=<enumerated> kept=<kept> seconds=<s> windows_per_s=<x>
with windows_per_s = enumerated / seconds, timing the whole extraction incl. opening files.
"""

import argparse
import math
import os
import sys
import time

import cooler
import h5py
import numpy as np
import pyBigWig

MIN_NONZERO_FRACTION = 0.10


def die(msg):
    print(f"peer: ERROR: {msg}", file=sys.stderr)
    sys.exit(2)


def resolve_path(p, base):
    if os.path.exists(p) or os.path.isabs(p):
        return p
    q = os.path.join(base, p)
    return q if os.path.exists(q) else p


def parse_inputs(path):
    """-> (cells: [(name, hic_path)], tracks: {cell: [(track_name, bw_path)]})"""
    base = os.path.dirname(os.path.abspath(path))
    cells, tracks = [], {}
    try:
        fh = open(path)
    except OSError as e:
        die(f"cannot read {path}: {e}")
    with fh:
        for ln, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith((";", "[")) or "=" not in line:
                continue
            key, val = (x.strip() for x in line.split("=", 1))
            parts = val.split()
            if key == "cell":
                if len(parts) != 2:
                    die(f"{path}:{ln}: expected `cell = NAME PATH`")
                cells.append((parts[0], resolve_path(parts[1], base)))
            elif key == "track":
                if len(parts) != 3:
                    die(f"{path}:{ln}: expected `track = CELL TRACKNAME PATH`")
                tracks.setdefault(parts[0], []).append((parts[1], resolve_path(parts[2], base)))
    if not cells:
        die(f"{path}: no `cell =` lines")
    for c in tracks:
        if c not in {n for n, _ in cells}:
            die(f"{path}: track for unknown cell {c!r}")
    return cells, tracks


def open_cooler(path, res):
    if "::" in path:
        uri = path
    else:
        try:
            with h5py.File(path, "r") as f:
                multires = "resolutions" in f
        except OSError as e:
            die(f"cannot open {path}: {e}")
        uri = f"{path}::resolutions/{res}" if multires else path
    try:
        clr = cooler.Cooler(uri)
    except Exception as e:  # noqa: BLE001
        die(f"cannot open cooler {uri}: {e}")
    if clr.binsize != res:
        die(f"{uri}: bin size {clr.binsize} != --resolution {res}")
    return clr


def bw_chrom(name, chroms):
    for c in (name, name[3:] if name.lower().startswith("chr") else "chr" + name):
        if c in chroms:
            return c
    return None


def track_bins(bw, chroms, chrom, s, e, A, tb):
    vals = np.zeros(e - s, dtype=np.float64)
    c = bw_chrom(chrom, chroms)
    if c is not None:
        ee = min(e, int(chroms[c]))
        if ee > s:
            vals[: ee - s] = np.nan_to_num(np.array(bw.values(c, s, ee), dtype=np.float64))
    return vals.reshape(A, tb).mean(axis=1)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: peer.py --inputs in/inputs.ini --resolution 5000 --window-bins 50 "
               "--stride-bp 62500 --track-bin-bp 100 --balance none")
    ap.add_argument("--inputs", required=True, metavar="INPUTS_INI",
                    help="INI with `cell = NAME PATH.mcool` and `track = CELL NAME PATH.bw` lines")
    ap.add_argument("--resolution", type=int, default=5000, help="Hi-C bin size in bp (5000)")
    ap.add_argument("--window-bins", type=int, default=50, help="window side W in bins (50)")
    ap.add_argument("--stride-bp", type=int, default=62500, help="window stride in bp (62500)")
    ap.add_argument("--track-bin-bp", type=int, default=100, help="track bin size in bp (100)")
    ap.add_argument("--balance", choices=["none", "weight"], default="none",
                    help="none = raw counts, weight = cooler 'weight' column (default none)")
    ap.add_argument("--chroms", default="",
                    help="comma-separated chromosomes to use (default: all in the Hi-C file)")
    ap.add_argument("--out", default="", help="also write the arrays to this .npz")
    args = ap.parse_args()

    b, W, stride, tb = args.resolution, args.window_bins, args.stride_bp, args.track_bin_bp
    if min(b, W, stride, tb) <= 0:
        die("--resolution, --window-bins, --stride-bp and --track-bin-bp must be > 0")
    if (W * b) % tb:
        die(f"window span {W * b} bp is not a multiple of --track-bin-bp {tb}")
    A = W * b // tb
    iu = np.triu_indices(W)
    only = [c for c in args.chroms.split(",") if c]

    t0 = time.perf_counter()
    cells, tracks = parse_inputs(args.inputs)
    balance = False if args.balance == "none" else "weight"
    enumerated = kept = 0
    rej_sparse = rej_nonfinite = 0
    hic_out, trk_out, meta = [], [], []
    for ci, (cell, hic_path) in enumerate(cells):
        clr = open_cooler(hic_path, b)
        if balance and "weight" not in clr.bins().columns:
            die(f"{hic_path}: --balance weight but no 'weight' bin column")
        bws = []
        for tname, p in tracks.get(cell, []):
            try:
                bw = pyBigWig.open(p)
            except Exception as e:  # noqa: BLE001
                die(f"cannot open bigWig {p}: {e}")
            bws.append((bw, bw.chroms()))
        mat = clr.matrix(balance=balance)
        for chrom, clen in clr.chromsizes.items():
            if only and chrom not in only:
                continue
            clen = int(clen)
            nbins = math.ceil(clen / b)
            k = 0
            while True:
                s = (k * stride) // b
                if s + W > nbins:
                    break
                k += 1
                enumerated += 1
                start, end = s * b, (s + W) * b
                m = mat.fetch((chrom, start, min(end, clen)))
                if np.count_nonzero(m) < MIN_NONZERO_FRACTION * m.size:
                    rej_sparse += 1
                    continue
                if not np.isfinite(m).all():
                    rej_nonfinite += 1
                    continue
                hic_out.append(m[iu].astype(np.float32))
                trk = np.empty((A, len(bws)), dtype=np.float32)
                for t, (bw, bwc) in enumerate(bws):
                    trk[:, t] = track_bins(bw, bwc, chrom, start, end, A, tb)
                trk_out.append(trk)
                meta.append((ci, chrom, start))
                kept += 1
        for bw, _ in bws:
            bw.close()

    hic = np.stack(hic_out) if hic_out else np.zeros((0, len(iu[0])), np.float32)
    trk = np.stack(trk_out) if trk_out else np.zeros((0, A, 0), np.float32)
    seconds = time.perf_counter() - t0

    if args.out:
        np.savez(args.out, hic=hic, tracks=trk,
                 cell=np.array([x[0] for x in meta], dtype=np.int16),
                 chrom=np.array([x[1] for x in meta]),
                 start_bp=np.array([x[2] for x in meta], dtype=np.int64))
    print(f"peer: rejected sparse={rej_sparse} nonfinite={rej_nonfinite}; "
          f"hic {hic.shape} {hic.nbytes / 1e6:.1f} MB, tracks {trk.shape} "
          f"{trk.nbytes / 1e6:.1f} MB", file=sys.stderr)
    rate = enumerated / seconds if seconds > 0 else float("nan")
    print(f"peer: windows={enumerated} kept={kept} seconds={seconds:.3f} windows_per_s={rate:.2f}")


if __name__ == "__main__":
    main()
