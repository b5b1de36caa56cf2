#!/usr/bin/env python3
"""Seed inputs of the fuzz targets (tests/fuzz/fuzz_*.cpp); called by make_seeds.sh.

Seeds are small (well under 200 KB) and, for the HDF5 targets, written so that byte mutations
reach mixhic's own checks: h5py's libver 'earliest' (superblock v0, v1 object headers: no metadata
checksums for a flipped byte to fail first) and no compression (a flipped byte changes a value,
not a whole deflate stream).

usage:
  seed_writers.py torch DIR            torch.save of tiny state dicts (zip format, pickle 2 and 4)
  seed_writers.py cooler DIR           tiny .cool / .mcool (both layouts) / .scool, uncompressed
  seed_writers.py text DIR SHARED CONFIGS
                                       BED, BEDPE, genes and INI seeds, each prefixed with the
                                       selector byte fuzz_text.cpp reads (from ../shared/data
                                       excerpts and configs/)
  seed_writers.py shrink-corpus IN OUT [--samples K]
                                       the first sample of each split (at most K) of a corpus written
                                       by mixhic-prep, with only the track rows those samples read
"""
import collections
import os
import sys

import numpy as np

# fuzz_text.cpp: selector % 4 picks the parser; for genes bit 2 picks GTF; for INI (selector >> 2) % 3 the table
SELECT_BED, SELECT_BEDPE, SELECT_GENES_BED, SELECT_GENES_GTF = 0, 1, 2, 6
SELECT_INI_PREP, SELECT_INI_MODEL, SELECT_INI_TRAIN = 3, 7, 11


def torch_seeds(out):
    import torch

    torch.manual_seed(22)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    torch.save(model.state_dict(), f"{out}/model_state_dict.pt")  # OrderedDict, incl. a 0-d long buffer

    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    dtypes = collections.OrderedDict(
        [
            ("f32", torch.randn(2, 3)),
            ("f64", torch.randn(3, dtype=torch.float64)),
            ("f16", torch.randn(2, dtype=torch.float16)),
            ("bf16", torch.randn(2, dtype=torch.bfloat16)),
            ("i64", torch.tensor([1, -2, 3])),
            ("i32", torch.tensor([7], dtype=torch.int32)),
            ("i16", torch.tensor([-1, 1], dtype=torch.int16)),
            ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
            ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
            ("bool", torch.tensor([True, False])),
            ("scalar", torch.tensor(3.5)),
            ("empty", torch.zeros(0, 4)),
            ("transposed", base.t()),  # strides (1, 4)
            ("row", base[1]),  # shares base's storage at offset 4
            ("base", base),
        ]
    )
    torch.save(dtypes, f"{out}/dtypes.pt")
    torch.save(dtypes, f"{out}/dtypes_protocol4.pt", pickle_protocol=4)  # FRAME, MEMOIZE, SHORT_BINUNICODE
    torch.save({"w": torch.nn.Parameter(torch.ones(2, 2))}, f"{out}/parameter.pt")  # plain dict, _rebuild_parameter
    torch.save(collections.OrderedDict(), f"{out}/empty.pt")
    torch.save([torch.ones(1)], f"{out}/not_a_dict.pt")  # refused: the top level is no dict


def cooler_seeds(out):
    import cooler
    import h5py
    import pandas as pd

    res = 10_000
    chroms = [("chr1", 120_000), ("chr2", 75_000)]  # 12 + 8 bins, chr2's last one partial
    h5opts = {"compression": None, "shuffle": False}

    def bins_at(r):
        rows = []
        for name, length in chroms:
            for start in range(0, length, r):
                rows.append((name, start, min(start + r, length)))
        return pd.DataFrame(rows, columns=["chrom", "start", "end"])

    def pixels_of(bins, seed):
        rng = np.random.default_rng(seed)
        offsets = np.r_[0, np.cumsum(bins.groupby("chrom", sort=False).size().to_numpy())]
        rows = []
        for lo, hi in zip(offsets[:-1], offsets[1:]):
            for i in range(lo, hi):
                for j in range(i, min(hi, i + 4)):
                    rows.append((i, j, int(rng.integers(1, 50))))
        rows.append((0, int(offsets[1]), 3))  # one trans pixel
        rows.sort()
        return pd.DataFrame(rows, columns=["bin1_id", "bin2_id", "count"])

    bins = bins_at(res)
    pixels = pixels_of(bins, 1)
    weight = np.random.default_rng(2).uniform(0.5, 2.0, len(bins))
    weight[3] = np.nan
    balanced = bins.assign(weight=weight, KR=1 / weight, VC=1 / weight)
    cooler.create_cooler(f"{out}/balanced.cool", balanced, pixels, h5opts=h5opts)
    with h5py.File(f"{out}/balanced.cool", "r+") as f:
        f["bins/weight"].attrs["divisive_weights"] = np.bool_(False)
        f["bins/KR"].attrs["divisive_weights"] = np.bool_(True)  # VC: none, divisive by its name

    # format-version 2 as older cooler wrote it: no storage-mode; bin-size as text
    cooler.create_cooler(f"{out}/v2.cool", bins, pixels, h5opts=h5opts)
    with h5py.File(f"{out}/v2.cool", "r+") as f:
        f.attrs["format-version"] = 2
        del f.attrs["storage-mode"]
        f.attrs["bin-size"] = str(res)

    coarse = bins_at(2 * res)
    coarse_pixels = pixels_of(coarse, 3)
    for r, b, p in [(res, bins, pixels), (2 * res, coarse, coarse_pixels)]:
        cooler.create_cooler(f"{out}/multi.mcool::resolutions/{r}", b, p, mode="a", h5opts=h5opts)
    # the layout before cooler 0.8: /0 the coarsest, /1 ...
    cooler.create_cooler(f"{out}/legacy.mcool::0", coarse, coarse_pixels, mode="a", h5opts=h5opts)
    cooler.create_cooler(f"{out}/legacy.mcool::1", bins, pixels, mode="a", h5opts=h5opts)
    cooler.create_scool(f"{out}/cells.scool", bins, {"cellA": pixels_of(bins, 4), "cellB": pixels_of(bins, 5)},
                        h5opts=h5opts)


def with_selector(selector, data):
    return bytes([selector]) + data


def head_lines(path, n, keep=lambda line: True):
    out = []
    with open(path, "rb") as f:
        for line in f:
            if keep(line):
                out.append(line)
            if len(out) >= n:
                break
    return b"".join(out)


def text_seeds(out, shared, configs):
    seeds = {
        "bed_blacklist.bed": (SELECT_BED, b"# blacklist\ntrack name=x\nchr1\t0\t100\nchr2 5 5\nchrX\t10\t20\textra\n"),
        "bedpe_inline.bedpe": (SELECT_BEDPE, b"#chrom1\tstart1\tend1\tchrom2\tstart2\tend2\n"
                                             b"chr1\t100\t200\tchr1\t5000\t5100\tloop1\t1\n"
                                             b"chr1 10 20 chr2 30 40\n"),
        "genes_inline.bed": (SELECT_GENES_BED, b"chr1\t100\t900\tgeneA\t0\t+\nchr1\t1000\t2000\tgeneB\t0\t-\n"
                                               b"chr2\t5\t10\tgeneC\n"),
        "genes_inline.gtf": (SELECT_GENES_GTF,
                             b'chr1\tsrc\tgene\t101\t900\t.\t+\t.\tgene_id "G1"; gene_name "geneA";\n'
                             b'chr1\tsrc\ttranscript\t1001\t2000\t.\t-\t.\tgene_id "G2"; transcript_id "T2";\n'
                             b'chr1\tsrc\texon\t1001\t1100\t.\t-\t.\tgene_id "G2";\n'),
    }
    shared_files = {
        "annotations/tad_chr9_4000000_6000000.bed": ("shared_tad.bed", SELECT_BED, None),
        "annotations/bed_chr9_4000000_6000000.bed": ("shared_regions.bed", SELECT_BED, None),
        "annotations/bedpe_chr9_4000000_6000000.bedpe": ("shared_loops.bedpe", SELECT_BEDPE, None),
        "annotations/hg19.IMR90.loops.chr21_28.0-30.3Mb.bedpe": ("shared_imr90.bedpe", SELECT_BEDPE, None),
        "annotations/peak_chr9_4000000_6000000.bedpe": ("shared_peaks.bedpe", SELECT_BEDPE, None),
        "annotations/mm9_genes_sorted.bed12": ("shared_genes.bed12", SELECT_GENES_BED, 30),
        "annotations/gtf_chr9_4000000_6000000.gtf": ("shared_genes.gtf", SELECT_GENES_GTF, 40),
    }
    for rel, (name, selector, lines) in shared_files.items():
        path = os.path.join(shared, rel)
        if not os.path.exists(path):
            print(f"seed_writers: {path} absent, seed {name} not written", file=sys.stderr)
            continue
        if lines is None:
            with open(path, "rb") as f:
                data = f.read()
        elif rel.endswith(".gtf"):  # the gene and transcript lines the reader keeps, plus a few others
            data = head_lines(path, lines, lambda l: b"\tgene\t" in l or b"\ttranscript\t" in l or b"\texon\t" in l)
        else:
            data = head_lines(path, lines)
        seeds[name] = (selector, data)
    # The configs leave the inputs to the command line (or inputs.ini); a seed names them too, so
    # validation runs past its first check (output / cell / corpus required).
    prep_inputs = (b"output = seed.h5\ncell = cellA cellA.mcool\ntrack = cellA CTCF cellA.CTCF.bw\n"
                   b"loops = cellA cellA.bedpe\ngenes = genes.bed12\nexpression = cellA cellA.CAGE.bw\n")
    train_inputs = b"corpus = corpus.h5\n"
    for name in sorted(os.listdir(configs)):
        if name.endswith(".ini"):
            prep = name.startswith("prep-")
            with open(os.path.join(configs, name), "rb") as f:
                text = (prep_inputs if prep else train_inputs) + f.read()
            seeds[f"ini_{name}"] = (SELECT_INI_PREP if prep else SELECT_INI_TRAIN, text)
    model_dir = os.path.join(configs, "model")
    for name in sorted(os.listdir(model_dir)):
        if name.endswith(".ini"):
            with open(os.path.join(model_dir, name), "rb") as f:
                seeds[f"ini_model_{name}"] = (SELECT_INI_MODEL, f.read())
    for name, (selector, data) in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(with_selector(selector, data))


def shrink_corpus(src, dst, max_samples):
    """The first sample of each split (train, val, test; at most max_samples) of a mixhic corpus,
    with the signal rows those samples read copied into a new, short /tracks/signal. The rest of
    the file is copied as it is (attributes included), so /filters and the corpus-id describe the
    original: the reader does not recompute them (only `inspect --verify` does)."""
    import h5py

    with h5py.File(src, "r") as f, h5py.File(dst, "w", libver="earliest") as g:
        n = f["samples/hic"].shape[0]
        A = int(f["geometry"].attrs["track-bins-per-anchor"])
        picks = []
        for split in ("train", "val", "test"):
            idx = f[f"splits/{split}"][:]
            if len(idx) and len(picks) < max_samples:
                picks.append(int(idx[0]))
        picks = sorted(set(picks)) or list(range(min(n, max_samples)))
        new_index = {old: k for k, old in enumerate(picks)}

        signal = f["tracks/signal"]
        rows, spans, row1, row2 = [], {}, [], []
        for i in picks:
            for which, out in (("track_row1", row1), ("track_row2", row2)):
                r = int(f[f"samples/{which}"][i])
                if r not in spans:
                    spans[r] = sum(len(x) for x in rows)
                    rows.append(signal[r : r + A])
                out.append(spans[r])

        def copy_attrs(a, b):
            for k, v in a.attrs.items():
                b.attrs[k] = v

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                copy_attrs(obj, g.require_group(name))
                return
            if name == "tracks/signal":
                data = np.concatenate(rows) if rows else signal[:0]
            elif name == "samples/track_row1":
                data = np.array(row1, dtype=obj.dtype)
            elif name == "samples/track_row2":
                data = np.array(row2, dtype=obj.dtype)
            elif name.startswith("samples/") and obj.shape and obj.shape[0] == n:
                data = obj[picks]
            elif name.startswith("splits/"):
                data = np.array([new_index[int(i)] for i in obj[:] if int(i) in new_index], dtype=obj.dtype)
            elif name.startswith("tracks/segments/"):
                return  # rewritten below
            else:
                data = obj[()]
            d = g.create_dataset(name, data=data, dtype=obj.dtype)
            copy_attrs(obj, d)

        copy_attrs(f, g)
        f.visititems(visit)
        # one segment per copied span: (cell, chrom, row, n_rows, start_bp) of the sample that reads it
        seg = {"cell": [], "chrom": [], "row": [], "n_rows": [], "start_bp": []}
        seen = set()
        for k, i in enumerate(picks):
            for r, start in ((row1[k], "start1_bp"), (row2[k], "start2_bp")):
                if r in seen:
                    continue
                seen.add(r)
                seg["cell"].append(f["samples/cell"][i])
                seg["chrom"].append(f["samples/chrom"][i])
                seg["row"].append(r)
                seg["n_rows"].append(A)
                seg["start_bp"].append(f[f"samples/{start}"][i])
        if "tracks/segments" in f:
            for key, values in seg.items():
                src_ds = f[f"tracks/segments/{key}"]
                g.create_dataset(f"tracks/segments/{key}", data=np.array(values, dtype=src_ds.dtype))
    print(f"shrink-corpus: {src} -> {dst}: samples {picks} of {n}, {sum(len(x) for x in rows)} signal rows")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "torch":
        torch_seeds(sys.argv[2])
    elif cmd == "cooler":
        cooler_seeds(sys.argv[2])
    elif cmd == "text":
        text_seeds(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "shrink-corpus":
        k = int(sys.argv[sys.argv.index("--samples") + 1]) if "--samples" in sys.argv else 2
        shrink_corpus(sys.argv[2], sys.argv[3], k)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
