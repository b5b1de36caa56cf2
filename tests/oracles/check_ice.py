#!/usr/bin/python3
"""Oracle: mixhic's ICE balancing weights equal cooler.balance_cooler's.

Runs python3-cooler's `cooler.balance_cooler(clr, ...)` genome-wide or, with --cis-only, per chromosome
(rescale_marginals=True, store=False) with the given filter/convergence parameters, loads
our weights (a text file, one float per line in bin order, `nan` for masked bins; blank
lines and `#` comments are ignored) and checks that

  * both vectors have one value per bin,
  * the NaN masks are identical,
  * max |ours - cooler| / max(|cooler|, 1e-300) over the finite weights <= tol.

Called by the C++ gtest suite (via /usr/bin/python3) with weights dumped by mixhic's ICE;
usable by hand. Prints `ice: bins=<n> masked=<m> max_rel_err=<x> cooler_scale=<s>`; exit 0
on success, 1 on a mismatch or on unusable inputs (an ERROR line on stderr); argparse
usage errors exit 2.
"""

import argparse
import sys
import warnings

import numpy as np


def fail(msg):
    print(f"check_ice: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def load_weights(path):
    vals = []
    try:
        with open(path) as fh:
            for ln, line in enumerate(fh, 1):
                s = line.split("#", 1)[0].strip()
                if not s:
                    continue
                try:
                    vals.append(float(s))
                except ValueError:
                    fail(f"{path}:{ln}: not a number: {s!r}")
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    return np.array(vals, dtype=np.float64)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: check_ice.py CN.mm9.10000kb.cool ours.txt --ignore-diags 2 "
               "--min-nnz 10 --mad-max 5")
    ap.add_argument("cool_uri", metavar="COOL_URI",
                    help="cooler URI (X.cool or X.mcool::resolutions/N)")
    ap.add_argument("weights", metavar="OUR_WEIGHTS_TXT",
                    help="our weights: one float per line in bin order, 'nan' for masked bins")
    ap.add_argument("--tol", type=float, default=1e-6,
                    help="max relative difference of the finite weights (default 1e-6)")
    ap.add_argument("--ignore-diags", type=int, default=2,
                    help="diagonals dropped, incl. the main one (default 2; 0 = none)")
    ap.add_argument("--min-nnz", type=int, default=10,
                    help="drop bins with fewer nonzero pixels (default 10)")
    ap.add_argument("--min-count", type=float, default=0,
                    help="drop bins with a smaller marginal sum (default 0 = off)")
    ap.add_argument("--mad-max", type=float, default=5,
                    help="MAD filter on log marginals (default 5; 0 = off)")
    ap.add_argument("--cis-only", action="store_true",
                    help="balance each chromosome on its cis contacts (cooler --cis-only)")
    ap.add_argument("--max-iters", type=int, default=200, help="iteration limit (default 200)")
    ap.add_argument("--conv-tol", type=float, default=1e-5,
                    help="convergence: variance of the marginals (default 1e-5)")
    args = ap.parse_args()

    import cooler

    try:
        clr = cooler.Cooler(args.cool_uri)
    except Exception as e:  # noqa: BLE001
        fail(f"cannot open cooler {args.cool_uri}: {e}")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ref, stats = cooler.balance_cooler(
            clr,
            cis_only=args.cis_only,
            trans_only=False,
            ignore_diags=args.ignore_diags if args.ignore_diags > 0 else False,
            mad_max=args.mad_max,
            min_nnz=args.min_nnz,
            min_count=args.min_count,
            rescale_marginals=True,
            tol=args.conv_tol,
            max_iters=args.max_iters,
            store=False,
        )
    for w in caught:
        print(f"check_ice: note: cooler warned: {w.message}", file=sys.stderr)
    ref = np.asarray(ref, dtype=np.float64)
    scale = stats.get("scale", float("nan"))

    ours = load_weights(args.weights)
    nbins = len(ref)
    problems = []
    if len(ours) != nbins:
        fail(f"{args.weights} has {len(ours)} values but the cooler has {nbins} bins")

    ref_nan = ~np.isfinite(ref)
    our_nan = ~np.isfinite(ours)
    masked = int(ref_nan.sum())
    diff_mask = np.flatnonzero(ref_nan != our_nan)
    if diff_mask.size:
        ex = ", ".join(f"bin {i} (ours={ours[i]!r} cooler={ref[i]!r})" for i in diff_mask[:8])
        problems.append(f"NaN masks differ in {diff_mask.size} bins: {ex}"
                        f"{' ...' if diff_mask.size > 8 else ''}")
    both = ~ref_nan & ~our_nan
    if both.any():
        err = np.abs(ours[both] - ref[both]) / np.maximum(np.abs(ref[both]), 1e-300)
        k = int(np.argmax(err))
        max_err = float(err[k])
        worst_bin = int(np.flatnonzero(both)[k])
    else:
        max_err, worst_bin = float("nan"), -1
        problems.append("no bin has a finite weight in both vectors")

    # cis-only balancing gives one scale per chromosome: report their mean over finite ones
    scale_arr = np.atleast_1d(np.asarray(scale, dtype=float))
    finite_scales = scale_arr[np.isfinite(scale_arr)]
    scale_value = float(finite_scales.mean()) if finite_scales.size else float("nan")
    print(f"ice: bins={nbins} masked={masked} max_rel_err={max_err:.3e} cooler_scale={scale_value:.9g}")
    ok = not problems and max_err <= args.tol
    if not ok:
        for p in problems:
            print(f"FAIL: {p}")
        if worst_bin >= 0 and max_err > args.tol:
            b = clr.bins()[worst_bin:worst_bin + 1]
            where = f"{b['chrom'].iloc[0]}:{int(b['start'].iloc[0])}"
            print(f"FAIL: worst bin {worst_bin} ({where}): ours={ours[worst_bin]!r} "
                  f"cooler={ref[worst_bin]!r} rel_err={max_err:.3e} (tol {args.tol:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
