#!/usr/bin/env python3
"""Writes a tiny Juicer .hic version 9 file from a known matrix, for tests/test_hic_file.cpp.

No v9 file is among the shared test data, so this builds one field by field, in the order and
widths Aiden Lab straw (C++/straw.cpp) and Juicebox (DatasetReaderV2.java) read them:
v9 header (int64 chromosome lengths, NVI position/length), v9 block records (per-block int16/int32
bin flags), v9 intra-chromosomal block numbers (depth * blockColumnCount + position along the
diagonal), int64 vector lengths and float32 values.

Two chromosomes plus Juicer's "All": chrA (305 kb: 31 bins at 10 kb, last one partial) and chrB
(200 kb: exactly 20 bins). Blocks of 4 bins, so each chromosome has several pads and depths, and the
blocks rotate through record type 1 (int16 and int32 bin widths, int16 and float32 counts) and type
2 (dense, int16 and float32). chrA has a KR vector; chrB has none. An inter-chromosomal matrix
1_2 is written too (a reader must not return its pixels).

usage: write_hic_v9.py OUT.hic OUT_DIR [--negative-kr-bin B]
  -> OUT_DIR/pixels.tsv (genome-wide bin1 bin2 count, sorted, intra-chromosomal, bin1 <= bin2)
     and OUT_DIR/kr.tsv (one value per bin, nan if none). --negative-kr-bin writes -0.75 at bin B
     of chrA's KR vector: a corrupt file (Juicer's vectors are never negative).
"""
import math
import struct
import sys
import zlib

import numpy as np

RES = 10_000
BBC = 4  # block bin count
CHROMS = [("chrA", 305_000), ("chrB", 200_000)]


def cstr(s):
    return s.encode() + b"\0"


def i16(v):
    return struct.pack("<h", v)


def i32(v):
    return struct.pack("<i", v)


def i64(v):
    return struct.pack("<q", v)


def f32(v):
    return struct.pack("<f", v)


def v9_block_number(x, y, bcc):
    depth = int(math.log2(1 + abs(x - y) / math.sqrt(2) / BBC))
    pad = (x + y) // 2 // BBC
    return depth * bcc + pad


def encode_block(records, style):
    """records: list of (x, y, count); style picks the record type and widths."""
    kind, short_x, short_y, short_counts = style
    x_off = min(r[0] for r in records)
    y_off = min(r[1] for r in records)
    out = i32(len(records)) + i32(x_off) + i32(y_off)
    # flags: 0 means int16 (straw: useShort = byte == 0)
    out += bytes([0 if short_counts else 1, 0 if short_x else 1, 0 if short_y else 1, kind])
    cnt = (lambda c: i16(int(c))) if short_counts else f32
    if kind == 1:
        rows = {}
        for x, y, c in records:
            rows.setdefault(y, []).append((x, c))
        ix = i16 if short_x else i32
        iy = i16 if short_y else i32
        out += iy(len(rows))
        for y in sorted(rows):
            out += iy(y - y_off) + ix(len(rows[y]))
            for x, c in sorted(rows[y]):
                out += ix(x - x_off) + cnt(c)
    else:
        w = max(r[0] for r in records) - x_off + 1
        h = max(r[1] for r in records) - y_off + 1
        cells = {(x - x_off, y - y_off): c for x, y, c in records}
        out += i32(w * h) + i16(w)
        for row in range(h):
            for col in range(w):
                c = cells.get((col, row))
                if c is None:
                    out += i16(-32768) if short_counts else f32(float("nan"))
                else:
                    out += cnt(c)
    return zlib.compress(out)


STYLES = [(1, True, True, False), (2, True, True, True), (1, False, False, True),
          (2, True, True, False), (1, True, False, False), (1, False, True, True)]


def main():
    out_path, out_dir = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(20261121)
    nbins = [(length + RES - 1) // RES for _, length in CHROMS]
    mats = []
    for n in nbins:
        m = np.zeros((n, n))
        for i in range(n):
            for j in range(i, n):
                if rng.random() < 0.6 / (1 + 0.2 * (j - i)):
                    m[i, j] = float(rng.integers(1, 500))
        mats.append(m)
    # float32 counts with a fraction survive exactly only in float blocks; keep them integer so
    # any block style can hold them, and put one fractional value in a float block below.
    kr_a = rng.uniform(0.5, 2.0, size=CHROMS[0][1] // RES + 1).astype(np.float32)
    kr_a[3] = np.nan  # a masked bin
    if "--negative-kr-bin" in sys.argv:
        kr_a[int(sys.argv[sys.argv.index("--negative-kr-bin") + 1])] = -0.75

    body = bytearray()
    header_chroms = [("ALL", sum(l for _, l in CHROMS) // 1000)] + CHROMS

    def header(master, nvi_pos, nvi_len):
        h = b"HIC\0" + i32(9) + i64(master) + cstr("test-genome") + i64(nvi_pos) + i64(nvi_len)
        h += i32(1) + cstr("software") + cstr("mixhic write_hic_v9.py")
        h += i32(len(header_chroms))
        for name, length in header_chroms:
            h += cstr(name) + i64(length)
        h += i32(1) + i32(RES) + i32(0)
        return h

    header_len = len(header(0, 0, 0))
    pos = header_len
    master_entries = []

    def write_matrix(c1, c2, records, bcc, number_of):
        nonlocal pos
        blocks = {}
        for r in records:
            blocks.setdefault(number_of(r[0], r[1]), []).append(r)
        index = []
        for k, number in enumerate(sorted(blocks)):
            style = STYLES[(number + c1) % len(STYLES)]
            recs = blocks[number]
            if not style[3]:  # a float block: make one count fractional (exact in float32)
                x, y, c = recs[0]
                recs[0] = (x, y, c + 0.5)
            data = encode_block(recs, style)
            index.append((number, pos, len(data)))
            body.extend(data)
            pos += len(data)
        meta = i32(c1) + i32(c2) + i32(1)
        meta += cstr("BP") + i32(0) + f32(sum(r[2] for r in records)) + f32(len(records)) + f32(0) + f32(0)
        meta += i32(RES) + i32(BBC) + i32(bcc) + i32(len(index))
        for number, p, size in index:
            meta += i32(number) + i64(p) + i32(size)
        master_entries.append((f"{c1}_{c2}", pos, len(meta)))
        body.extend(meta)
        pos += len(meta)
        return blocks

    final = []
    offset = 0
    for c, (m, n) in enumerate(zip(mats, nbins)):
        bcc = (CHROMS[c][1] // RES) // BBC + 1
        recs = [(i, j, m[i, j]) for i in range(n) for j in range(i, n) if m[i, j] != 0]  # x <= y as Juicer
        blocks = write_matrix(c + 1, c + 1, recs, bcc, lambda x, y, bcc=bcc: v9_block_number(x, y, bcc))
        for b in blocks.values():
            for x, y, cnt in b:
                final.append((offset + x, offset + y, cnt))
        offset += n
    # inter-chromosomal 1_2: v8-style numbering (row block * bcc + column block)
    inter = [(0, 0, 7.0), (5, 3, 2.0), (30, 19, 1.0)]
    bcc = (CHROMS[0][1] // RES) // BBC + 1
    write_matrix(1, 2, inter, bcc, lambda x, y: (y // BBC) * bcc + x // BBC)

    kr_pos = pos
    kr_bytes = i64(len(kr_a)) + b"".join(f32(float(v)) for v in kr_a)
    body.extend(kr_bytes)
    pos += len(kr_bytes)

    master = pos
    footer = bytearray()
    footer += i32(len(master_entries))
    for key, p, size in master_entries:
        footer += cstr(key) + i64(p) + i32(size)
    expected = [1.0 / (1 + d) for d in range(32)]
    footer += i32(1) + cstr("BP") + i32(RES) + i64(len(expected)) + b"".join(f32(v) for v in expected)
    footer += i32(2) + i32(1) + f32(1.0) + i32(2) + f32(1.0)
    n_bytes = len(footer)  # Juicebox: normalised expected values start at master + 8 + nBytes
    footer += i32(1) + cstr("KR") + cstr("BP") + i32(RES) + i64(len(expected))
    footer += b"".join(f32(v) for v in expected) + i32(0)
    nvi_pos = master + 8 + len(footer)
    nvi = i32(1) + cstr("KR") + i32(1) + cstr("BP") + i32(RES) + i64(kr_pos) + i64(len(kr_bytes))
    footer += nvi

    with open(out_path, "wb") as f:
        h = header(master, nvi_pos, len(nvi))
        assert len(h) == header_len
        f.write(h)
        f.write(body)
        f.write(i64(n_bytes))
        f.write(footer)

    final.sort()
    with open(f"{out_dir}/pixels.tsv", "w") as f:
        for b1, b2, c in final:
            f.write(f"{b1}\t{b2}\t{c!r}\n")
    with open(f"{out_dir}/kr.tsv", "w") as f:
        for v in list(kr_a[: nbins[0]]) + [float("nan")] * nbins[1]:
            f.write(f"{float(v)!r}\n")
    print(f"write_hic_v9: {len(final)} pixels, {sum(len(b) for b in [body])} body bytes")


if __name__ == "__main__":
    main()
