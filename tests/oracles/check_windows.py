#!/usr/bin/python3
"""Oracle: the Hi-C windows of a mixhic corpus equal what python3-cooler fetches.

Checks, for every sample of one cell type of a corpus written by `mixhic-prep`, that the stored
window (`/samples/hic`, upper triangle row-major with the diagonal, or the full matrix for
hic-layout "full") equals the cooler fetch of `[start1_bp, start1_bp + W*hic-bin-bp)` (rows) x
`[start2_bp, ...)` (columns), balanced and then transformed as dataprep/CORPUS_SCHEMA.md
("Normalisation order") says. Balancing (--balance):

  none           clr.matrix(balance=False)
  weight         clr.matrix(balance='weight')            (cooler weights multiply)
  KR/VC/VC_SQRT/SCALE
                 clr.matrix(balance=False) / outer(v1, v2) with v = the bin column
                 (Juicer vectors divide; cooler's balance=NAME would multiply, so it is
                 NOT used for these columns)

Transform (--transform, default: the corpus's /normalization attr hic-transform), v = balanced:

  none           v
  log1p          ln(1 + v)
  reference      min(v, clamp) / scale, clamp = the /normalization attr reference-clamp and
                 scale = max of min(v, clamp) over the finite pixels of the chromosome (1 if 0)
  oe             v / expected[d] (0 where expected[d] is 0), d = bin2 - bin1 < W, expected[d] =
                 sum of the finite v on diagonal d of the chromosome / number of positions
                 (i, i+d) on it whose two bins are both unmasked

"The chromosome" is its configured regions when the corpus was built with `regions = ...` (read
from the /provenance attr config; empty = whole chromosomes): only pixels and positions with
both bins inside one region count. The oracle computes scale and expected itself from cooler
pixel queries, never from the corpus, and then also compares them with the corpus's
/normalization/chrom_scale and /normalization/expected (for transforms that do not use them the
schema's constants: scale 1, expected 0), relative tolerance --stats-tol.

NaN oracle pixels (a bin with a NaN, zero or infinite balancing value) must be stored as 0,
and only in samples whose masked_bins > 0; masked_bins must equal the number of such bins.
Error metric: max over pixels of |ours - oracle| / max(|oracle|, 1e-12); the default --tol is
1e-6 for transform none and 1e-5 for the others (float32 storage of a transformed value).

Called by the C++ gtest suite (via /usr/bin/python3) after running mixhic-prep on real or
synthetic inputs; usable by hand too. Prints `windows: n=<samples> max_rel_err=<x>`, then
`chrom_scale: n=<K> max_rel_err=<x> (...)` and `expected: n=<K*W> max_rel_err=<x> (...)`, and
exits 0 when n > 0, max_rel_err <= tol and both statistics agree, 1 otherwise, also on unusable
inputs (an ERROR line on stderr); argparse usage errors exit 2.
"""

import argparse
import sys

import h5py
import numpy as np

from oracle_common import as_str, str_list, resolve_chrom

JUICER_COLUMNS = ("KR", "VC", "VC_SQRT", "SCALE")
TRANSFORMS = ("none", "log1p", "reference", "oe")
DENOM_FLOOR = 1e-12
DENSE_BLOCK_MAX_BINS = 3000  # fetch a chromosome's span once when it is at most this wide
STATS_ROW_CHUNK = 2000  # rows of a region per cooler pixel query for scale / expected


def fail(msg):
    print(f"check_windows: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def config_regions(f, chrom_names, chrom_lens):
    """The corpus's configured regions as {corpus chrom index: [(start_bp, end_bp), ...]}, from
    the `regions = ...` line of the /provenance attr config; None when it is empty or absent
    (whole chromosomes). Syntax as mixhic-prep's: CHROM[:START-END], comma separated."""
    if "provenance" not in f or "config" not in f["provenance"].attrs:
        fail("the corpus has no /provenance attr config: its regions, which scale and expected "
             "depend on, are unknown")
    value = ""
    for line in as_str(f["provenance"].attrs["config"]).splitlines():
        key, eq, val = line.partition("=")
        if eq and key.strip() == "regions":
            value = val.strip()
    if not value:
        return None
    regions = {}
    for item in filter(None, (x.strip() for x in value.split(","))):
        chrom, colon, span = item.rpartition(":")
        if not colon:
            chrom, span = item, ""
        name = resolve_chrom(chrom, chrom_names)
        if name is None:
            fail(f"configured region {item!r} names no corpus chromosome {chrom_names}")
        k = chrom_names.index(name)
        start, _, end = span.partition("-")
        try:
            start_bp = int(start.replace("_", "")) if start else 0
            end_bp = int(end.replace("_", "")) if end else int(chrom_lens[k])
        except ValueError:
            fail(f"configured region {item!r}: expected CHROM:START-END")
        regions.setdefault(k, []).append((start_bp, end_bp))
    return regions


def transform_window(ref, transform, clamp, scale, expected, d):
    """The stored value of the balanced pixels ref (their NaNs are the caller's); d = their
    diagonal offsets bin2 - bin1 (only oe uses them)."""
    if transform == "none":
        return ref
    if transform == "log1p":
        return np.log1p(ref)
    if transform == "reference":
        return np.minimum(ref, clamp) / scale
    e = expected[np.minimum(d, expected.size - 1)]  # oe; d >= W is reported by the caller
    return np.where(e > 0, ref / np.where(e > 0, e, 1.0), 0.0)


def compare_stats(label, ours, oracle, tol, source):
    """One report line and the problems of a corpus statistic against the oracle's."""
    if ours is None:
        return f"{label}: absent from the corpus", [f"/normalization/{label} is missing"]
    if ours.shape != oracle.shape:
        return (f"{label}: shape {ours.shape} != oracle {oracle.shape}",
                [f"/normalization/{label} has shape {ours.shape}, expected {oracle.shape}"])
    err = np.abs(ours - oracle) / np.maximum(np.abs(oracle), DENOM_FLOOR)
    err[~np.isfinite(ours)] = np.inf
    k = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else None
    e = float(err[k]) if err.size else 0.0
    line = f"{label}: n={err.size} max_rel_err={e:.3e} ({source})"
    if e <= tol:
        return line, []
    return line, [f"/normalization/{label}{list(k)} = {ours[k]!r}, oracle {oracle[k]!r} "
                  f"(rel err {e:.3e} > {tol:g})"]


def unpack_window(row, W, layout):
    if layout == "full":
        if row.size != W * W:
            fail(f"hic-layout full but a row has {row.size} values, expected {W*W}")
        return row.reshape(W, W).astype(np.float64)
    n = W * (W + 1) // 2
    if row.size != n:
        fail(f"hic-layout upper-triangle but a row has {row.size} values, expected {n}")
    m = np.zeros((W, W), dtype=np.float64)
    iu = np.triu_indices(W)  # row-major order (i, j>=i): same as i*W - i*(i-1)/2 + (j-i)
    m[iu] = row
    m[(iu[1], iu[0])] = row
    return m


class Oracle:
    """Fetches oracle windows from cooler, caching one dense block per chromosome."""

    def __init__(self, clr, balance):
        self.clr = clr
        self.balance = balance
        self.binsize = clr.binsize
        self.chromsizes = dict(clr.chromsizes)
        cols = list(clr.bins().columns)
        if balance == "weight" and "weight" not in cols:
            fail(f"--balance weight but the cooler has no 'weight' bin column (has {cols})")
        if balance in JUICER_COLUMNS and balance not in cols:
            fail(f"--balance {balance} but the cooler has no '{balance}' bin column (has {cols})")
        self.block = None  # (chrom, lo_bin, hi_bin, matrix, bin_values)

    def _raw_fetch(self, chrom, s, e, s2=None, e2=None):
        clr = self.clr
        r1 = (chrom, s, e)
        r2 = r1 if s2 is None else (chrom, s2, e2)
        if self.balance == "none":
            return clr.matrix(balance=False).fetch(r1, r2)
        if self.balance == "weight":
            return clr.matrix(balance="weight").fetch(r1, r2)
        m = clr.matrix(balance=False).fetch(r1, r2).astype(np.float64)
        v1 = clr.bins().fetch(r1)[self.balance].to_numpy(dtype=np.float64)
        v2 = clr.bins().fetch(r2)[self.balance].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = m / np.outer(v1, v2)
        out[~np.isfinite(out)] = np.nan  # v == 0 or NaN: a masked bin
        return out

    def bin_factors(self, chrom, s, e):
        """The multiplicative balancing factor of each bin of [s, e) (s a bin start): 1, the
        cooler weight, or 1/v of a Juicer column; NaN or inf for an unusable bin."""
        if self.balance == "none":
            return np.ones(-(-(e - s) // self.binsize))
        col = "weight" if self.balance == "weight" else self.balance
        v = self.clr.bins().fetch((chrom, s, e))[col].to_numpy(dtype=np.float64)
        if self.balance in JUICER_COLUMNS:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(np.isfinite(v) & (v != 0), 1.0 / v, np.nan)
        return v

    def bin_mask(self, chrom, s, e):
        """True for the bins of [s, e) whose balancing value is unusable (NaN/0/inf)."""
        return ~np.isfinite(self.bin_factors(chrom, s, e))

    def chrom_stats(self, chrom, extents, W, clamp):
        """(scale, expected[0..W-1]) of one chromosome over its extents [(start_bp, end_bp)],
        from cooler pixel queries: balanced v = count * f[i] * f[j] for the stored pixels i <= j
        with both bins in one extent. scale = max of min(v, clamp) over finite v (1 if that is
        0); expected[d] = sum of finite v with j - i = d / count of positions (i, i + d) in an
        extent with both bins unmasked (0 if none)."""
        b, clen = self.binsize, self.chromsizes[chrom]
        nbins, first = -(-clen // b), self.clr.offset(chrom)
        pixels = self.clr.matrix(balance=False, as_pixels=True, join=False)
        vmax, sums, npos = 0.0, np.zeros(W), np.zeros(W, dtype=np.int64)
        for start_bp, end_bp in extents:
            lo, hi = start_bp // b, min(nbins, -(-end_bp // b))
            f = self.bin_factors(chrom, lo * b, min(hi * b, clen))
            good = np.isfinite(f)
            for d in range(min(W, hi - lo)):
                npos[d] += np.count_nonzero(good[:hi - lo - d] & good[d:])
            for r in range(lo, hi, STATS_ROW_CHUNK):  # rows [r, r2) x columns [r, hi)
                r2 = min(r + STATS_ROW_CHUNK, hi)
                px = pixels.fetch((chrom, r * b, min(r2 * b, clen)),
                                  (chrom, r * b, min(hi * b, clen)))
                i = px["bin1_id"].to_numpy(dtype=np.int64) - first - lo
                j = px["bin2_id"].to_numpy(dtype=np.int64) - first - lo
                upper = j >= i  # what symmetric-upper coolers store; robust if one mirrors
                i, j = i[upper], j[upper]
                v = px["count"].to_numpy(dtype=np.float64)[upper] * f[i] * f[j]
                fin = np.isfinite(v)
                i, j, v = i[fin], j[fin], v[fin]
                if v.size:
                    vmax = max(vmax, float(np.minimum(v, clamp).max()))
                near = (j - i) < W
                sums += np.bincount((j - i)[near], weights=v[near], minlength=W)
        expected = np.where(npos > 0, sums / np.maximum(npos, 1), 0.0)
        return (vmax if vmax > 0 else 1.0), expected

    def prepare_block(self, chrom, lo_bp, hi_bp):
        """Fetch [lo_bp, hi_bp) of chrom once if it is small enough; later windows slice it."""
        clen = self.chromsizes[chrom]
        hi_bp = min(hi_bp, clen)
        nb = -(-(hi_bp - lo_bp) // self.binsize)
        if lo_bp % self.binsize or nb > DENSE_BLOCK_MAX_BINS or nb <= 0:
            self.block = None
            return
        self.block = (chrom, lo_bp // self.binsize, lo_bp // self.binsize + nb,
                      np.asarray(self._raw_fetch(chrom, lo_bp, hi_bp), dtype=np.float64))

    def window(self, chrom, s1, s2, W):
        clen = self.chromsizes[chrom]
        b = self.binsize
        if s1 % b or s2 % b:
            fail(f"window start {chrom}:{s1}/{s2} is not a multiple of the bin size {b}")
        blk = self.block
        if blk is not None and blk[0] == chrom:
            i0, j0 = s1 // b - blk[1], s2 // b - blk[1]
            if 0 <= i0 and i0 + W <= blk[2] - blk[1] and 0 <= j0 and j0 + W <= blk[2] - blk[1]:
                return blk[3][i0:i0 + W, j0:j0 + W]
        e1, e2 = min(s1 + W * b, clen), min(s2 + W * b, clen)
        m = self._raw_fetch(chrom, s1, e1, s2, e2)
        return np.asarray(m, dtype=np.float64)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: check_windows.py corpus.h5 synthA.mcool::resolutions/5000 "
               "--cell-index 0 --balance weight")
    ap.add_argument("corpus", metavar="CORPUS", help="corpus HDF5 written by mixhic-prep")
    ap.add_argument("cool_uri", metavar="COOL_URI",
                    help="cooler URI of the cell's Hi-C at the corpus resolution, e.g. "
                         "X.mcool::resolutions/5000 or X.cool")
    ap.add_argument("--cell-index", type=int, required=True,
                    help="index into /cells: the samples with /samples/cell == I are checked")
    ap.add_argument("--balance", required=True,
                    choices=["none", "weight", "KR", "VC", "VC_SQRT", "SCALE"],
                    help="how the oracle balances: none = raw counts, weight = cooler "
                         "weights (multiply), KR/VC/VC_SQRT/SCALE = Juicer bin columns (divide)")
    ap.add_argument("--transform", choices=TRANSFORMS, default=None,
                    help="the transform the oracle applies (default: the corpus's "
                         "/normalization attr hic-transform)")
    ap.add_argument("--tol", type=float, default=None,
                    help="max allowed relative error of a stored value (default 1e-6 for "
                         "transform none, 1e-5 for the others)")
    ap.add_argument("--stats-tol", type=float, default=1e-9,
                    help="max allowed relative error of the corpus's chrom_scale and expected "
                         "against the oracle's (default 1e-9)")
    args = ap.parse_args()

    import cooler  # imported late so --help works without it

    try:
        f = h5py.File(args.corpus, "r")
    except OSError as e:
        fail(f"cannot open corpus {args.corpus}: {e}")
    with f:
        fmt = as_str(f.attrs.get("format", ""))
        if fmt != "mixhic-corpus":
            fail(f"{args.corpus}: format attr is {fmt!r}, not 'mixhic-corpus'")
        norm = f["normalization"].attrs
        corpus_transform = as_str(norm.get("hic-transform", ""))
        transform = args.transform or corpus_transform
        if transform not in TRANSFORMS:
            fail(f"corpus hic-transform is {corpus_transform!r}; pass --transform "
                 f"{{{','.join(TRANSFORMS)}}}")
        if transform != corpus_transform:
            print(f"check_windows: note: corpus hic-transform is {corpus_transform!r}, oracle "
                  f"uses {transform!r}", file=sys.stderr)
        tol = args.tol if args.tol is not None else (1e-6 if transform == "none" else 1e-5)
        clamp = float(norm["reference-clamp"]) if "reference-clamp" in norm else None
        if transform == "reference" and clamp is None:
            fail("transform reference but the corpus has no /normalization attr reference-clamp")
        corpus_balance = as_str(norm.get("hic-balance", ""))
        if corpus_balance and corpus_balance != args.balance:
            print(f"check_windows: note: corpus hic-balance is {corpus_balance!r}, oracle uses "
                  f"{args.balance!r}", file=sys.stderr)
        geo = f["geometry"].attrs
        W = int(geo["window-bins"])
        bin_bp = int(geo["hic-bin-bp"])
        layout = as_str(geo.get("hic-layout", "upper-triangle"))
        cells = str_list(f["cells/name"])
        if not 0 <= args.cell_index < len(cells):
            fail(f"--cell-index {args.cell_index} out of range: corpus has {len(cells)} cells")
        chrom_names = str_list(f["chroms/name"])
        chrom_lens = f["chroms/length"][()]
        s_cell = f["samples/cell"][()]
        sel = np.flatnonzero(s_cell == args.cell_index)
        s_chrom = f["samples/chrom"][()][sel]
        s_start1 = f["samples/start1_bp"][()][sel]
        s_start2 = f["samples/start2_bp"][()][sel] if "samples/start2_bp" in f else s_start1
        s_masked = f["samples/masked_bins"][()][sel] if "samples/masked_bins" in f \
            else np.zeros(len(sel), dtype=np.int64)
        hic = f["samples/hic"]

        try:
            clr = cooler.Cooler(args.cool_uri)
        except Exception as e:  # noqa: BLE001
            fail(f"cannot open cooler {args.cool_uri}: {e}")
        if clr.binsize != bin_bp:
            fail(f"cooler bin size {clr.binsize} != corpus hic-bin-bp {bin_bp}")
        oracle = Oracle(clr, args.balance)
        avail = set(clr.chromnames)

        # scale / expected per corpus chromosome: computed from cooler where the transform uses
        # them, the schema's constants otherwise; then checked against the corpus's
        K = len(chrom_names)
        scale, expected = np.ones(K), np.zeros((K, W))
        sources = {"chrom_scale": f"constant 1: transform {transform}",
                   "expected": f"constant 0: transform {transform}"}
        if transform in ("reference", "oe"):
            regions = config_regions(f, chrom_names, chrom_lens)
            sources["chrom_scale" if transform == "reference" else "expected"] = \
                f"oracle's, over {'whole chromosomes' if regions is None else 'the regions'}"
            for k, name in enumerate(chrom_names):
                extents = [(0, int(chrom_lens[k]))] if regions is None else regions.get(k, [])
                if not extents:
                    continue
                cname = resolve_chrom(name, avail)
                if cname is None:
                    fail(f"corpus chromosome {name!r} (or chr-aliases) not in cooler")
                sc, ex = oracle.chrom_stats(cname, extents, W,
                                            np.inf if clamp is None else clamp)
                if transform == "reference":
                    scale[k] = sc
                else:
                    expected[k] = ex
        stat_lines, problems = [], []
        for label, mine in (("chrom_scale", scale), ("expected", expected)):
            ds = f"normalization/{label}"
            ours = None
            if ds in f and f[ds].ndim >= 1 and f[ds].shape[0] == len(cells):
                ours = np.asarray(f[ds][args.cell_index], dtype=np.float64)
            line, bad = compare_stats(label, ours, mine, args.stats_tol, sources[label])
            stat_lines.append(line)
            problems += bad

        n = 0
        worst = (-1.0, None)  # (err, description)
        # group by chromosome so each chromosome's span is fetched once when small
        for ci in np.unique(s_chrom):
            name = chrom_names[ci]
            cname = resolve_chrom(name, avail)
            if cname is None:
                fail(f"corpus chromosome {name!r} (or chr-aliases) not in cooler "
                     f"{sorted(avail)[:10]}...")
            if int(chrom_lens[ci]) != int(oracle.chromsizes[cname]):
                print(f"check_windows: note: {name} length {int(chrom_lens[ci])} in corpus vs "
                      f"{int(oracle.chromsizes[cname])} in cooler", file=sys.stderr)
            idx = np.flatnonzero(s_chrom == ci)
            lo = int(min(s_start1[idx].min(), s_start2[idx].min()))
            hi = int(max(s_start1[idx].max(), s_start2[idx].max())) + W * bin_bp
            oracle.prepare_block(cname, lo, hi)
            for k in idx:
                si = int(sel[k])
                s1, s2 = int(s_start1[k]), int(s_start2[k])
                ref = oracle.window(cname, s1, s2, W)
                if ref.shape != (W, W):
                    problems.append(f"sample {si} {name}:{s1}: cooler window shape {ref.shape} "
                                    f"!= ({W},{W})")
                    n += 1
                    continue
                if s1 != s2 and layout != "full":
                    problems.append(f"sample {si} {name}:{s1}/{s2}: off-diagonal sample stored "
                                    f"with hic-layout {layout!r}")
                    n += 1
                    continue
                ours = unpack_window(np.asarray(hic[si], dtype=np.float64), W, layout)
                nanmask = ~np.isfinite(ref)
                d = np.abs(np.add.outer(-np.arange(W), np.arange(W)) + (s2 - s1) // bin_bp)
                if transform == "oe" and (d[~nanmask] >= W).any():
                    problems.append(f"sample {si} {name}:{s1}/{s2}: pixels at diagonal offsets "
                                    f">= W={W}, where oe has no expected value")
                ref = transform_window(ref, transform, clamp, scale[ci], expected[ci], d)
                # masked-bin bookkeeping
                mask1 = oracle.bin_mask(cname, s1, min(s1 + W * bin_bp, oracle.chromsizes[cname]))
                n_masked = int(mask1.sum())
                if s2 != s1:
                    mask2 = oracle.bin_mask(cname, s2,
                                            min(s2 + W * bin_bp, oracle.chromsizes[cname]))
                    n_masked = int(np.union1d(np.flatnonzero(mask1) + s1 // bin_bp,
                                              np.flatnonzero(mask2) + s2 // bin_bp).size)
                if int(s_masked[k]) != n_masked:
                    problems.append(f"sample {si} {name}:{s1}: masked_bins={int(s_masked[k])} "
                                    f"but the oracle has {n_masked} masked bins")
                if nanmask.any():
                    if int(s_masked[k]) <= 0:
                        problems.append(f"sample {si} {name}:{s1}: oracle has "
                                        f"{int(nanmask.sum())} NaN pixels but masked_bins=0")
                    ref = np.where(nanmask, 0.0, ref)
                denom = np.maximum(np.abs(ref), DENOM_FLOOR)
                err = np.abs(ours - ref) / denom
                err[~np.isfinite(ours)] = np.inf
                kmax = int(np.argmax(err))
                e = float(err.flat[kmax])
                if e > worst[0] or worst[1] is None:
                    i, j = divmod(kmax, W)
                    worst = (e, f"sample {si} ({name}:{s1}-{s1 + W * bin_bp}) pixel ({i},{j}): "
                                f"ours={ours[i, j]!r} oracle={ref[i, j]!r}")
                n += 1

    max_err = worst[0] if worst[1] is not None else float("nan")
    print(f"windows: n={n} max_rel_err={max_err:.3e}")
    for line in stat_lines:
        print(line)
    ok = n > 0 and max_err <= tol and not problems
    if not ok:
        if n == 0:
            print(f"FAIL: no samples of cell {args.cell_index} in the corpus")
        for p in problems[:20]:
            print(f"FAIL: {p}")
        if len(problems) > 20:
            print(f"FAIL: ... {len(problems) - 20} more problems")
        if n and worst[1] is not None and max_err > tol:
            print(f"FAIL: worst {worst[1]} (tol {tol:g}, transform {transform})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
