#!/usr/bin/python3
"""bench/prep/read_layout.py -- random single-sample read speed of a corpus under several HDF5 layouts.

Usage: /usr/bin/python3 bench/prep/read_layout.py CORPUS [--samples 3000] [--repeats 3]
                                                   [--tuned-cache-mb 8] [--tmp-dir DIR] [--keep]

CORPUS_SCHEMA.md stores /samples/hic (N, W(W+1)/2) and /tracks/signal (R, T) contiguous. This
script checks that choice: it copies the two datasets (plus /samples/track_row1 and, for "pair"
corpora, /samples/track_row2, which the reader loads into memory once, as a trainer would) into
temporary HDF5 files with different layouts:

  contiguous               no chunking, no filters (the corpus format)
  chunked-k  (k=1,16,64,256)  samples/hic chunks (k, W(W+1)/2); tracks/signal chunks
                           (k*S, T) with S = stride-bp / track-bin-bp track rows per sample step,
                           i.e. about k samples' worth of bytes per chunk; no filters
  chunked-64+gzip1+shuffle the k=64 chunks with the shuffle filter and gzip level 1

plus one reader-side variant of the contiguous file, "contiguous, sieve off": the same file
opened with H5Pset_sieve_buf_size(fapl, 0). HDF5 reads a contiguous dataset through a 64 KiB
"data sieve" buffer by default: any request smaller than 64 KiB (the 5,100-byte Hi-C row, the
40,000-byte track block) reads 64 KiB from the file into that buffer and copies out of it.
With the sieve off every request is one read straight into the caller's buffer.

and times random single-sample reads: a fixed random permutation (numpy default_rng(0)) of
--samples sample indices; a sample = one row of /samples/hic plus the A = track-bins-per-anchor
rows of /tracks/signal starting at track_row1[i] (and track_row2[i] for "pair" corpora). Reads
go through h5py's low-level API (H5Dread with a hyperslab selection into a preallocated buffer,
the same call the C++ reader makes), so Python overhead is small and equal for all layouts.

Each timed pass opens the file afresh, so the HDF5 chunk cache starts empty; passes are
interleaved across layouts (repeat 1 of every layout, then repeat 2, ...) and the best pass is
reported. Two chunk-cache settings are timed:

  default   h5py's rdcc_nbytes = 1 MiB per dataset (521 slots): what a trainer that simply
            opens the file gets. Chunks larger than the cache are not cached at all.
  tuned     rdcc_nbytes = --tuned-cache-mb MiB per dataset (default 8, enough for the chunks
            one sample touches in every layout here), rdcc_nslots = 100003.

The page cache is NOT dropped: the files are written just before and read once in full before
timing, so they are in the page cache. The numbers are therefore HDF5 overhead + chunk
handling (+ decompression) + memcpy, not disk speed: the relevant cost on a node whose corpus
shard is cached, or on a parallel file system with large readahead.

MB/s counts useful bytes only (the sample's Hi-C row and track rows, 1e6 bytes per MB), not
the bytes HDF5 had to touch. The sequential baseline reads both datasets of the contiguous
file in full (one H5Dread each) and reports file-payload MB/s.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import h5py
import numpy as np

KS = (1, 16, 64, 256)
GZIP_K = 64
DEFAULT_CACHE = dict()                      # h5py default: 1 MiB, 521 slots, w0 0.75
SIEVE_OFF = "contiguous, sieve off"         # reader variant: same file as "contiguous"


def open_corpus(path, cache, sieve=None):
    """h5py.File(path, "r", **cache) -- what a trainer gets -- or, with sieve set, the same with
    H5Pset_sieve_buf_size(fapl, sieve)."""
    if sieve is None:
        return h5py.File(path, "r", **cache)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    mdc, nslots, nbytes, w0 = fapl.get_cache()
    fapl.set_cache(mdc, cache.get("rdcc_nslots", nslots), cache.get("rdcc_nbytes", nbytes), w0)
    fapl.set_sieve_buf_size(sieve)
    return h5py.File(h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY, fapl=fapl))


def layouts(hic_shape, sig_shape, rows_per_step):
    """(name, hic dataset kwargs, signal dataset kwargs) for every layout."""
    out = [("contiguous", {}, {})]

    def chunks(k):
        return ((min(k, hic_shape[0]), hic_shape[1]),
                (min(k * rows_per_step, sig_shape[0]), sig_shape[1]))

    for k in KS:
        hc, sc = chunks(k)
        out.append(("chunked-%d" % k, dict(chunks=hc), dict(chunks=sc)))
    hc, sc = chunks(GZIP_K)
    z = dict(compression="gzip", compression_opts=1, shuffle=True)
    out.append(("chunked-%d+gzip1+shuffle" % GZIP_K, dict(chunks=hc, **z), dict(chunks=sc, **z)))
    return out


def write_layout(path, hic, sig, row1, row2, hic_kw, sig_kw):
    with h5py.File(path, "w") as f:
        f.create_dataset("samples/hic", data=hic, **hic_kw)
        f.create_dataset("tracks/signal", data=sig, **sig_kw)
        f.create_dataset("samples/track_row1", data=row1)
        if row2 is not None:
            f.create_dataset("samples/track_row2", data=row2)


def warm_page_cache(path):
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


class Reader:
    """Random single-sample reads with preallocated buffers and reused dataspaces."""

    def __init__(self, path, A, cache, sieve=None):
        self.f = open_corpus(path, cache, sieve)
        self.hic = self.f["samples/hic"]
        self.sig = self.f["tracks/signal"]
        self.row1 = self.f["samples/track_row1"][:]
        self.row2 = self.f["samples/track_row2"][:] if "samples/track_row2" in self.f else None
        self.A = A
        P, T = self.hic.shape[1], self.sig.shape[1]
        self.hic_buf = np.empty((1, P), np.float32)
        self.sig_buf = np.empty((A, T), np.float32)
        self.hic_ms = h5py.h5s.create_simple((1, P))
        self.sig_ms = h5py.h5s.create_simple((A, T))
        self.hic_fs = self.hic.id.get_space()
        self.sig_fs = self.sig.id.get_space()
        self.P, self.T = P, T

    def read(self, i):
        self.hic_fs.select_hyperslab((int(i), 0), (1, self.P))
        self.hic.id.read(self.hic_ms, self.hic_fs, self.hic_buf)
        self.sig_fs.select_hyperslab((int(self.row1[i]), 0), (self.A, self.T))
        self.sig.id.read(self.sig_ms, self.sig_fs, self.sig_buf)
        if self.row2 is not None:
            self.sig_fs.select_hyperslab((int(self.row2[i]), 0), (self.A, self.T))
            self.sig.id.read(self.sig_ms, self.sig_fs, self.sig_buf)

    def close(self):
        self.f.close()


def time_random(path, order, A, cache, sieve=None):
    r = Reader(path, A, cache, sieve)
    try:
        t0 = time.perf_counter()
        for i in order:
            r.read(i)
        return time.perf_counter() - t0
    finally:
        r.close()


def time_sequential(path):
    """Both datasets in full, one H5Dread each, into buffers allocated (and touched) beforehand."""
    with h5py.File(path, "r") as f:
        ds = [f[name] for name in ("samples/hic", "tracks/signal")]
        bufs = [np.ones(d.shape, d.dtype) for d in ds]   # ones: zeros would be lazy pages
        t0 = time.perf_counter()
        for d, buf in zip(ds, bufs):
            d.id.read(h5py.h5s.ALL, h5py.h5s.ALL, buf)
        return time.perf_counter() - t0, sum(b.nbytes for b in bufs)


def verify(path, order, A, hic, sig, row1, row2, sieve=None):
    r = Reader(path, A, DEFAULT_CACHE, sieve)
    try:
        for i in order[:64]:
            r.read(i)
            rr = row2 if row2 is not None else row1   # the buffer holds the last anchor read
            if not (np.array_equal(r.hic_buf[0], hic[i]) and
                    np.array_equal(r.sig_buf, sig[rr[i]:rr[i] + A])):
                raise SystemExit("read_layout: %s: sample %d differs from the corpus" % (path, i))
    finally:
        r.close()


def human(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return "%.1f %s" % (n, unit) if unit != "B" else "%d B" % n
        n /= 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--samples", type=int, default=3000, help="random samples per pass (default 3000)")
    ap.add_argument("--repeats", type=int, default=3, help="passes per layout; best is kept (default 3)")
    ap.add_argument("--tuned-cache-mb", type=float, default=8.0,
                    help="rdcc_nbytes (MiB, per dataset) of the tuned-cache run (default 8)")
    ap.add_argument("--tmp-dir", default=None, help="where the temporary files go (default: $TMPDIR or /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary files")
    args = ap.parse_args()

    with h5py.File(args.corpus, "r") as f:
        kind = f.attrs["sample-kind"]
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        g = f["geometry"].attrs
        A = int(g["track-bins-per-anchor"])
        rows_per_step = max(1, int(g["stride-bp"]) // int(g["track-bin-bp"]))
        hic = f["samples/hic"][:]
        sig = f["tracks/signal"][:]
        row1 = f["samples/track_row1"][:]
        row2 = f["samples/track_row2"][:] if kind == "pair" else None
        src_layout = (f["samples/hic"].chunks, f["tracks/signal"].chunks)
    N, P = hic.shape
    R, T = sig.shape
    if N == 0:
        raise SystemExit("read_layout: %s has no samples" % args.corpus)
    n = args.samples
    rng = np.random.default_rng(0)
    order = np.concatenate([rng.permutation(N) for _ in range(-(-n // N))])[:n]
    anchors = 2 if row2 is not None else 1
    sample_bytes = P * 4 + anchors * A * T * 4
    tuned = dict(rdcc_nbytes=int(args.tuned_cache_mb * 2**20), rdcc_nslots=100003)

    print("corpus: %s  (%s, N=%d samples x %d floats, R=%d track rows x T=%d, A=%d, %s per sample; "
          "source chunks hic=%s signal=%s)" % (args.corpus, kind, N, P, R, T, A, human(sample_bytes),
                                              src_layout[0], src_layout[1]), flush=True)
    print("random reads: %d samples per pass (permutation seed 0), best of %d passes; h5py %s, HDF5 %s"
          % (n, args.repeats, h5py.__version__, h5py.version.hdf5_version), flush=True)

    tmp = tempfile.mkdtemp(prefix="mixhic-layout-", dir=args.tmp_dir)
    try:
        L = layouts(hic.shape, sig.shape, rows_per_step)
        files = {}
        for name, hkw, skw in L:
            path = os.path.join(tmp, name + ".h5")
            t0 = time.perf_counter()
            write_layout(path, hic, sig, row1, row2, hkw, skw)
            warm_page_cache(path)
            verify(path, order, A, hic, sig, row1, row2)
            files[name] = path
            print("  wrote %-26s %10s  hic chunks %-12s signal chunks %-12s (%.1f s)"
                  % (name, human(os.path.getsize(path)), hkw.get("chunks"), skw.get("chunks"),
                     time.perf_counter() - t0), flush=True)
        verify(files["contiguous"], order, A, hic, sig, row1, row2, sieve=0)
        del hic, sig
        # (row name, file, sieve buffer size or None for the HDF5 default)
        rows = [(name, files[name], None) for name, _, _ in L]
        rows.insert(1, (SIEVE_OFF, files["contiguous"], 0))

        best = {(name, c): float("inf") for name, _, _ in rows for c in ("default", "tuned")}
        seq_best = float("inf")
        seq_bytes = 0
        for rep in range(args.repeats):
            for name, path, sieve in rows:
                for c, cache in (("default", DEFAULT_CACHE), ("tuned", tuned)):
                    best[(name, c)] = min(best[(name, c)], time_random(path, order, A, cache, sieve))
            t, seq_bytes = time_sequential(files["contiguous"])
            seq_best = min(seq_best, t)
            print("  pass %d/%d done" % (rep + 1, args.repeats), flush=True)

        print()
        print("| layout | file size | random samples/s | MB/s | vs contiguous "
              "| samples/s, %g MiB cache | vs contiguous |" % args.tuned_cache_mb)
        print("|---|---:|---:|---:|---:|---:|---:|")
        base = {c: n / best[("contiguous", c)] for c in ("default", "tuned")}
        for name, path, _ in rows:
            sd = n / best[(name, "default")]
            st = n / best[(name, "tuned")]
            print("| %s | %s | %.0f | %.0f | %.2f | %.0f | %.2f |"
                  % (name, human(os.path.getsize(path)), sd, sd * sample_bytes / 1e6,
                     sd / base["default"], st, st / base["tuned"]))
        print()
        print("Random columns 3-5: h5py default chunk cache (rdcc_nbytes 1 MiB, 521 slots, per dataset); "
              "columns 6-7: rdcc_nbytes %g MiB, 100003 slots. MB/s = useful bytes (%d B per sample) / s. "
              "Every row but \"%s\" uses HDF5's default 64 KiB sieve buffer; "
              "\"vs contiguous\" divides by the contiguous row."
              % (args.tuned_cache_mb, sample_bytes, SIEVE_OFF))
        print("Sequential full read of the contiguous file (samples/hic + tracks/signal, %s): %.0f MB/s."
              % (human(seq_bytes), seq_bytes / seq_best / 1e6))
        print("Files were in the page cache (not dropped): this is HDF5 overhead + memcpy, not disk speed.")
    finally:
        if args.keep:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
