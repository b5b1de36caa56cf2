"""Oracle for mixhic's PNG figures (tests/test_figure.cpp): decodes the PNG with zlib and struct
only (no libpng, no PIL), then checks its size, its tEXt title, and probe pixels.

Probe file lines, pixel coordinates from the top left:
  X Y index K      the pixel is viridis entry K (matplotlib's `cmap(K, bytes=True)`)
  X Y rgb R G B    the pixel is exactly (R, G, B)
  X Y not R G B    the pixel is anything but (R, G, B)
Viridis entries are checked against matplotlib when it is installed; otherwise against five rows
of matplotlib's _viridis_data copied below (whose hex form is viridis' published 5-stop palette),
and, with --full-viridis (all 256 entries probed), for smoothness and rising lightness.
Exit status 0 when every check passes.
"""
import argparse
import struct
import sys
import zlib

import numpy as np

# Rows 0, 64, 128, 192, 255 of _viridis_data in matplotlib's lib/matplotlib/_cm_listed.py.
VIRIDIS_ROWS = {
    0: (0.267004, 0.004874, 0.329415),
    64: (0.229739, 0.322361, 0.545706),
    128: (0.127568, 0.566949, 0.550556),
    192: (0.369214, 0.788888, 0.382914),
    255: (0.993248, 0.906157, 0.143936),
}
# viridis at 0, 0.25, 0.5, 0.75, 1 as commonly published (e.g. the R viridisLite palette).
PUBLISHED_HEX = {0: "#440154", 64: "#3b528b", 128: "#21918c", 192: "#5ec962", 255: "#fde725"}


def decode_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG signature")
    pos, idat, text, ihdr = 8, b"", {}, None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in chunk {ctype!r}")
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"tEXt":
            key, _, value = body.partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif ctype == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = ihdr
    if (depth, colour_type, interlace) != (8, 2, 0):
        raise ValueError(f"expected 8-bit RGB, not interlaced; got depth {depth}, colour type {colour_type}, "
                         f"interlace {interlace}")
    raw = zlib.decompress(idat)
    stride, bpp = width * 3, 3
    img = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        out = np.zeros(stride, dtype=np.int32)
        if ftype == 0:
            out = line
        elif ftype == 2:
            out = (line + prev) & 0xFF
        elif ftype in (1, 3, 4):  # these depend on the reconstructed byte to the left
            for x in range(stride):
                a = out[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                if ftype == 1:
                    pred = a
                elif ftype == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                out[x] = (line[x] + pred) & 0xFF
        else:
            raise ValueError(f"row {y}: unknown filter type {ftype}")
        img[y] = out
        prev = out
    return img.reshape(height, width, 3), text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("png")
    ap.add_argument("--size", nargs=2, type=int, metavar=("W", "H"))
    ap.add_argument("--title")
    ap.add_argument("--probes")
    ap.add_argument("--full-viridis", action="store_true", help="all 256 entries must be probed")
    ap.add_argument("--min-pixels", nargs=4, type=int, metavar=("R", "G", "B", "N"))
    args = ap.parse_args()

    img, text = decode_png(args.png)
    failures = []
    h, w, _ = img.shape
    if args.size and (w, h) != tuple(args.size):
        failures.append(f"size {w} x {h}, expected {args.size[0]} x {args.size[1]}")
    if args.title is not None and text.get("Title") != args.title:
        failures.append(f"tEXt Title {text.get('Title')!r}, expected {args.title!r}")
    if text.get("Software") != "mixhic-eval":
        failures.append(f"tEXt Software {text.get('Software')!r}, expected 'mixhic-eval'")

    seen = {}  # viridis index -> colour found at its probes
    n_probes = 0
    for line in open(args.probes) if args.probes else []:
        f = line.split()
        if not f:
            continue
        n_probes += 1
        x, y, kind = int(f[0]), int(f[1]), f[2]
        got = tuple(int(v) for v in img[y, x])
        if kind == "index":
            k = int(f[3])
            if seen.setdefault(k, got) != got:
                failures.append(f"({x}, {y}): index {k} drawn as {got} here but {seen[k]} elsewhere")
        elif kind == "rgb":
            want = tuple(int(v) for v in f[3:6])
            if got != want:
                failures.append(f"({x}, {y}): {got}, expected {want}")
        elif kind == "not":
            bad = tuple(int(v) for v in f[3:6])
            if got == bad:
                failures.append(f"({x}, {y}): {got}, expected any other colour")

    for k, hexs in PUBLISHED_HEX.items():  # the oracle's own constants, against the published palette
        mine = "#" + "".join(f"{int(round(v * 255)):02x}" for v in VIRIDIS_ROWS[k])
        assert mine == hexs, (k, mine, hexs)
    for k, rgb in VIRIDIS_ROWS.items():
        want = tuple(int(v * 255) for v in rgb)  # matplotlib: (lut * 255).astype(np.uint8)
        if k in seen and seen[k] != want:
            failures.append(f"viridis[{k}] drawn as {seen[k]}, expected {want}")
    if args.full_viridis:
        missing = [k for k in range(256) if k not in seen]
        if missing:
            failures.append(f"viridis entries never probed: {missing[:10]}")
        else:
            table = np.array([seen[k] for k in range(256)], dtype=float)
            step = np.abs(np.diff(table, axis=0)).max()
            if step > 3:
                failures.append(f"viridis table jumps by {step} levels between neighbours (a mistyped entry?)")
            lin = np.where(table / 255 <= 0.04045, table / 255 / 12.92, ((table / 255 + 0.055) / 1.055) ** 2.4)
            lum = lin @ np.array([0.2126, 0.7152, 0.0722])
            if np.diff(lum).min() < -1e-3:
                failures.append(f"viridis lightness falls at entry {int(np.diff(lum).argmin()) + 1}")
    mpl_note = "no viridis probes"
    try:
        if not seen:
            raise StopIteration
        import matplotlib

        try:
            cmap = matplotlib.colormaps["viridis"]
        except AttributeError:
            from matplotlib import cm
            cmap = cm.get_cmap("viridis")
        ref = cmap(np.arange(256), bytes=True)[:, :3]
        wrong = [k for k, c in seen.items() if tuple(int(v) for v in ref[k]) != c]
        if wrong:
            failures.append(f"{len(wrong)} viridis entries differ from matplotlib {matplotlib.__version__}, "
                            f"first {wrong[0]}: {seen[wrong[0]]} vs {tuple(ref[wrong[0]])}")
        mpl_note = f"{len(seen)} entries compared with matplotlib {matplotlib.__version__}"
    except StopIteration:
        pass
    except ImportError:
        mpl_note = (f"matplotlib not installed: skipped the comparison of all {len(seen)} probed entries with it; "
                    f"checked 5 rows of _viridis_data" + (", smoothness and rising lightness" if args.full_viridis else ""))

    if args.min_pixels:
        r, g, b, n = args.min_pixels
        count = int(np.all(img == np.array([r, g, b], dtype=np.uint8), axis=2).sum())
        if count < n:
            failures.append(f"{count} pixels of ({r}, {g}, {b}), expected at least {n}")

    for f in failures[:20]:
        print("FAIL:", f)
    print(f"check_png: {args.png}: {w} x {h}, {n_probes} probes, {len(failures)} failures; {mpl_note}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
