#!/usr/bin/python3
"""Oracle: the downstream samples of a mixhic corpus (dataprep/CORPUS_SCHEMA.md, "Downstream
samples") follow from their inputs. The Hi-C windows and tracks themselves are checked by
check_windows.py and check_tracks.py (both handle pair samples); this checks what makes a sample.

  loops CORPUS --cell-index I --bedpe FILE [--cool URI]
      Recomputes the positives from the BEDPE (anchor = midpoint binned at hic-bin-bp, anchors
      ordered, intra-chromosomal, loop-min/max-distance-bp from the corpus config, both W-bin
      windows centred on the anchors inside the chromosome or a configured region) and checks:
      every stored positive is one of them; every expected positive is stored unless its window
      is sparse (with --cool and balance none: fewer than min-nonzero-fraction non-zero pixels in
      cooler's fetch of rows around anchor 1 x columns around anchor 2); start1/2_bp =
      (anchor bin - W/2) * bin; negatives: distance in range, not within loop-exclusion-bins of
      any binned BEDPE loop on both anchors, no duplicates, at most negatives-per-positive x the
      stored positives per chromosome.
  tss CORPUS --cell-index I --genes FILE --expression BIGWIG
      Recomputes the TSSs (BED: start on +, end - 1 on -; GTF: gene features, else transcript),
      deduplicated per (gene, TSS bin), and checks: every stored sample is one of them with
      start1_bp = start2_bp = (TSS bin - W/2) * bin, the expected ones whose window fits are all
      stored (less the filter rejections of the corpus), and each target value equals
      log2(1 + mean(nan_to_num(pyBigWig.values))) over its Hi-C bin (rel. err <= 1e-5); with
      gene-split = random a gene's samples share one split.

Prints one summary line and exits 0 when every check passes, 1 otherwise (ERROR lines on stderr).
"""
import argparse
import math
import sys

import h5py
import numpy as np

from oracle_common import as_str, str_list, resolve_chrom


def fail(msg):
    print(f"check_downstream: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def config_of(f):
    cfg = {}
    for line in as_str(f["provenance"].attrs["config"]).splitlines():
        key, eq, val = line.partition("=")
        if eq:
            cfg.setdefault(key.strip(), val.strip())
    return cfg


def data_lines(path):
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            s = line.strip()
            if not s or s.startswith("#") or line.startswith("track") or line.startswith("browser"):
                continue
            yield lineno, line.rstrip("\n").split("\t") if "\t" in line else line.split()


def extents(cfg, chrom_names, chrom_lens, res):
    """{chrom index: [(lo_bin, hi_bin)]} in which windows may lie."""
    out = {}
    regions = cfg.get("regions", "")
    if not regions:
        for k, n in enumerate(chrom_lens):
            out[k] = [(0, -(-int(n) // res))]
        return out
    for item in filter(None, (x.strip() for x in regions.split(","))):
        chrom, colon, span = item.rpartition(":")
        if not colon:
            chrom, span = item, ""
        k = chrom_names.index(resolve_chrom(chrom, chrom_names))
        a, _, b = span.partition("-")
        s = int(a.replace(",", "")) if a else 0
        e = int(b.replace(",", "")) if b else int(chrom_lens[k])
        out.setdefault(k, []).append((s // res, min(-(-int(chrom_lens[k]) // res), -(-e // res))))
    return out


def fits(ext, k, s1, s2, W):
    return any(min(s1, s2) >= lo and max(s1, s2) + W <= hi for lo, hi in ext.get(k, []))


def check_loops(f, args, problems):
    cfg = config_of(f)
    W = int(f["geometry"].attrs["window-bins"])
    res = int(f["geometry"].attrs["hic-bin-bp"])
    names = str_list(f["chroms/name"])
    lens = f["chroms/length"][()]
    dmin, dmax = int(cfg["loop-min-distance-bp"]), int(cfg["loop-max-distance-bp"])
    excl, npp = int(cfg["loop-exclusion-bins"]), int(cfg["negatives-per-positive"])
    ext = extents(cfg, names, lens, res)
    sel = np.flatnonzero(f["samples/cell"][()] == args.cell_index)
    chrom = f["samples/chrom"][()][sel]
    s1, s2 = f["samples/start1_bp"][()][sel], f["samples/start2_bp"][()][sel]
    a1, a2 = f["samples/anchor1_bp"][()][sel], f["samples/anchor2_bp"][()][sel]
    label = f["samples/label"][()][sel]

    expected, every = set(), {}
    for lineno, x in data_lines(args.bedpe):
        c1, c2 = resolve_chrom(x[0], names), resolve_chrom(x[3], names)
        if c1 is None or c1 != c2:
            continue
        k = names.index(c1)
        b1, b2 = (int(x[1]) + int(x[2])) // 2 // res, (int(x[4]) + int(x[5])) // 2 // res
        b1, b2 = min(b1, b2), max(b1, b2)
        every.setdefault(k, []).append((b1, b2))
        if dmin <= (b2 - b1) * res <= dmax and fits(ext, k, b1 - W // 2, b2 - W // 2, W):
            expected.add((k, b1, b2))

    stored_pos = set()
    n_neg = {}
    neg_seen = set()
    for i in range(len(sel)):
        k, b1, b2 = int(chrom[i]), int(a1[i]) // res, int(a2[i]) // res
        if a1[i] % res or a2[i] % res or b1 > b2:
            problems.append(f"sample {sel[i]}: anchors {a1[i]}, {a2[i]} not ordered bin starts")
        if s1[i] != (b1 - W // 2) * res or s2[i] != (b2 - W // 2) * res:
            problems.append(f"sample {sel[i]}: starts {s1[i]}/{s2[i]} not centred on anchors {a1[i]}/{a2[i]}")
        if label[i] == 1:
            if (k, b1, b2) not in expected:
                problems.append(f"positive sample {sel[i]} {names[k]}:{a1[i]}-{a2[i]} is not a BEDPE loop")
            stored_pos.add((k, b1, b2))
        else:
            if not dmin <= (b2 - b1) * res <= dmax:
                problems.append(f"negative {sel[i]}: distance {(b2 - b1) * res} outside [{dmin}, {dmax}]")
            if any(abs(p1 - b1) <= excl and abs(p2 - b2) <= excl for p1, p2 in every.get(k, [])):
                problems.append(f"negative {sel[i]} {names[k]}:{a1[i]}-{a2[i]} within {excl} bins of a BEDPE loop")
            if (k, b1, b2) in neg_seen:
                problems.append(f"negative {sel[i]} duplicated")
            neg_seen.add((k, b1, b2))
            if not fits(ext, k, b1 - W // 2, b2 - W // 2, W):
                problems.append(f"negative {sel[i]}: window leaves the chromosome/regions")
            n_neg[k] = n_neg.get(k, 0) + 1
    for k, n in n_neg.items():
        npos = sum(1 for p in stored_pos if p[0] == k)
        if n > npp * npos:
            problems.append(f"{names[k]}: {n} negatives > {npp} x {npos} positives")
    missing = sorted(expected - stored_pos)
    sparse = 0
    if missing:
        if not args.cool:
            problems.append(f"{len(missing)} expected positives not stored (pass --cool to check they are sparse)")
        else:
            import cooler
            clr = cooler.Cooler(args.cool)
            minnz = float(cfg["min-nonzero-fraction"])
            for k, b1, b2 in missing:
                cn = resolve_chrom(names[k], clr.chromnames)
                m = clr.matrix(balance=False).fetch((cn, (b1 - W // 2) * res, (b1 - W // 2 + W) * res),
                                                    (cn, (b2 - W // 2) * res, (b2 - W // 2 + W) * res))
                if np.count_nonzero(m) / (W * W) < minnz:
                    sparse += 1
                else:
                    problems.append(f"expected positive {names[k]}:{b1 * res}-{b2 * res} missing but its window is not sparse")
    print(f"loops: positives={len(stored_pos)} expected={len(expected)} sparse_dropped={sparse} "
          f"negatives={sum(n_neg.values())} problems={len(problems)}")


def read_tss(path):
    gtf = path.endswith(".gtf")
    genes, transcripts = [], []
    for lineno, x in data_lines(path):
        if gtf:
            if x[2] not in ("gene", "transcript"):
                continue
            attrs = {}
            for a in x[8].split(";"):
                kv = a.strip().split(" ", 1)
                if len(kv) == 2:
                    attrs.setdefault(kv[0], kv[1].strip('"'))
            name = attrs.get("gene_name") or attrs.get("gene_id")
            g = (name, x[0], int(x[4]) - 1 if x[6] == "-" else int(x[3]) - 1)
            (genes if x[2] == "gene" else transcripts).append(g)
        else:
            strand = x[5] if len(x) >= 6 else "."
            genes.append((x[3], x[0], int(x[2]) - 1 if strand == "-" else int(x[1])))
    return transcripts if gtf and not genes else genes


def check_tss(f, args, problems):
    import pyBigWig
    cfg = config_of(f)
    W = int(f["geometry"].attrs["window-bins"])
    res = int(f["geometry"].attrs["hic-bin-bp"])
    names = str_list(f["chroms/name"])
    lens = f["chroms/length"][()]
    ext = extents(cfg, names, lens, res)
    sel = np.flatnonzero(f["samples/cell"][()] == args.cell_index)
    chrom = f["samples/chrom"][()][sel]
    s1, s2 = f["samples/start1_bp"][()][sel], f["samples/start2_bp"][()][sel]
    tss = f["samples/tss_bp"][()][sel]
    gene = [as_str(g) for g in f["samples/gene"][()][sel]]
    split = f["samples/split"][()][sel]
    target = f["samples/target"][()][sel]

    expected, seen = set(), set()
    for name, c, pos in read_tss(args.genes):
        cn = resolve_chrom(c, names)
        if cn is None:
            continue
        k = names.index(cn)
        key = (name, k, pos // res)
        if key in seen:
            continue
        seen.add(key)
        if fits(ext, k, pos // res - W // 2, pos // res - W // 2, W):
            expected.add(key)
    bw = pyBigWig.open(args.expression)
    stored, worst = set(), 0.0
    for i in range(len(sel)):
        k, b = int(chrom[i]), int(tss[i]) // res
        key = (gene[i], k, b)
        if key not in expected:
            problems.append(f"sample {sel[i]} {gene[i]} {names[k]}:{tss[i]} is not an expected TSS")
        stored.add(key)
        if s1[i] != (b - W // 2) * res or s2[i] != s1[i]:
            problems.append(f"sample {sel[i]}: starts {s1[i]}/{s2[i]} not centred on TSS bin {b}")
        bn = resolve_chrom(names[k], bw.chroms())
        vals = np.nan_to_num(np.array(bw.values(bn, int(s1[i]), int(s1[i]) + W * res), dtype=np.float64))
        ref = np.log2(1.0 + vals.reshape(W, res).mean(axis=1))
        err = np.max(np.abs(target[i] - ref) / np.maximum(np.abs(ref), 1e-6))
        worst = max(worst, float(err))
    if worst > 1e-5:
        problems.append(f"target max_rel_err {worst:.3e} > 1e-5")
    missing = len(expected - stored)
    filt = f["filters"].attrs
    rejected = sum(int(filt[a]) for a in ("n-rejected-sparse", "n-rejected-masked", "n-rejected-nonfinite",
                                          "n-rejected-blacklist"))
    if missing > rejected:
        problems.append(f"{missing} expected TSS windows missing, but the filters rejected only {rejected}")
    if cfg.get("gene-split") == "random":
        by_gene = {}
        for g, s in zip(gene, split):
            by_gene.setdefault(g, set()).add(int(s))
        if any(len(v) > 1 for v in by_gene.values()):
            problems.append("a gene's samples fall in different splits")
    else:
        cs = f["chroms/split"][()]
        if any(int(split[i]) != int(cs[chrom[i]]) for i in range(len(sel))):
            problems.append("a sample's split differs from its chromosome's")
    print(f"tss: samples={len(sel)} expected={len(expected)} missing={missing} target_max_rel_err={worst:.3e} "
          f"problems={len(problems)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["loops", "tss"])
    ap.add_argument("corpus")
    ap.add_argument("--cell-index", type=int, required=True)
    ap.add_argument("--bedpe")
    ap.add_argument("--cool", help="cooler URI of the cell (loops: checks dropped positives are sparse)")
    ap.add_argument("--genes")
    ap.add_argument("--expression")
    args = ap.parse_args()
    problems = []
    with h5py.File(args.corpus, "r") as f:
        src = as_str(f.attrs.get("sample-source", "tiles"))
        if src != args.mode:
            fail(f"corpus sample-source is {src!r}, not {args.mode!r}")
        if args.mode == "loops":
            if not args.bedpe:
                fail("loops needs --bedpe")
            check_loops(f, args, problems)
        else:
            if not (args.genes and args.expression):
                fail("tss needs --genes and --expression")
            check_tss(f, args, problems)
    for p in problems[:20]:
        print(f"check_downstream: ERROR: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
