#!/usr/bin/env python3
"""Writes Data/sample-folder/: a tiny image-folder dataset for tests and demos.

Three classes (circle, square, triangle) of 28x28 grey images: a light shape on a dark
background, at varied sizes and positions. Each class gets four PNGs and two JPEGs, so both
decoders are exercised. Everything is deterministic: running the script again rewrites the same
bytes. Standard library only: PNG through zlib and struct; JPEG through the small baseline
encoder below (greyscale, one 8x8 block per MCU, Huffman tables built for each image).

Usage: python3 Data/make-sample-folder.py   (from anywhere; it writes next to itself)
"""
import math
import os
import struct
import zlib

SIZE = 28
CLASSES = ("circle", "square", "triangle")
BACKGROUND, FOREGROUND = 20, 230

# (centre x, centre y, radius) of each image; the same six placements for every class.
PLACEMENTS = [(14, 14, 9), (11, 12, 6), (16, 15, 8), (13, 17, 7), (15, 11, 10), (12, 14, 5)]
JPEG_FROM = 4  # images 4 and 5 of each class are JPEG, 0-3 PNG


def inside(shape, x, y, cx, cy, r):
    """Whether pixel centre (x + 0.5, y + 0.5) lies inside the shape."""
    px, py = x + 0.5 - cx, y + 0.5 - cy
    if shape == "circle":
        return px * px + py * py <= r * r
    if shape == "square":
        return abs(px) <= r * 0.8 and abs(py) <= r * 0.8
    # Triangle pointing up: apex at (0, -r), base at y = +r from -r to +r.
    if py < -r or py > r:
        return False
    half_width = (py + r) / 2
    return abs(px) <= half_width


def draw(shape, cx, cy, r):
    return [[FOREGROUND if inside(shape, x, y, cx, cy, r) else BACKGROUND for x in range(SIZE)] for y in range(SIZE)]


# ---------------------------------------------------------------- PNG (grey, 8-bit)

def png(rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width = len(rows), len(rows[0])
    raw = b"".join(b"\x00" + bytes(row) for row in rows)  # filter type 0 on every row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- JPEG (baseline, grey)

# The example luminance quantisation table of the JPEG standard (Annex K.1), row-major.
LUMINANCE_Q = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]


def zigzag_order():
    """Row-major indices of an 8x8 block in zig-zag order: along anti-diagonals, alternating direction."""
    order = []
    for s in range(15):
        rows = range(min(s, 7), max(0, s - 7) - 1, -1) if s % 2 == 0 else range(max(0, s - 7), min(s, 7) + 1)
        order += [r * 8 + (s - r) for r in rows]
    return order


ZIGZAG = zigzag_order()
COS = [[math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)] for u in range(8)]


def quant_table(quality):
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, int((q * scale + 50) // 100))) for q in LUMINANCE_Q]


def fdct(block):
    """2-D DCT-II of a level-shifted 8x8 block, as defined in the JPEG standard (A.3.3)."""
    out = [0.0] * 64
    for v in range(8):
        for u in range(8):
            total = sum(block[y * 8 + x] * COS[u][x] * COS[v][y] for y in range(8) for x in range(8))
            cu = 1 / math.sqrt(2) if u == 0 else 1.0
            cv = 1 / math.sqrt(2) if v == 0 else 1.0
            out[v * 8 + u] = 0.25 * cu * cv * total
    return out


def category(value):
    """Bit length of |value| (the JPEG 'SSSS' size) and the value's bits for that size."""
    size = abs(value).bit_length()
    bits = value if value >= 0 else value + (1 << size) - 1
    return size, bits


def block_symbols(coefficients, previous_dc):
    """(table, symbol, size, bits) tuples for one quantised zig-zag block: DC difference, then AC run/size codes."""
    symbols = []
    size, bits = category(coefficients[0] - previous_dc)
    symbols.append(("dc", size, size, bits))
    run = 0
    for value in coefficients[1:]:
        if value == 0:
            run += 1
            continue
        while run > 15:
            symbols.append(("ac", 0xF0, 0, 0))  # ZRL: sixteen zeros
            run -= 16
        size, bits = category(value)
        symbols.append(("ac", (run << 4) | size, size, bits))
        run = 0
    if run > 0:
        symbols.append(("ac", 0x00, 0, 0))  # EOB
    return symbols


def huffman_table(used):
    """A valid canonical code giving every used symbol the same length L with len(used) < 2^L
    (so no code is all ones, which JPEG reserves). Not optimal, but tiny to describe and correct."""
    used = sorted(used)
    length = 1
    while (1 << length) <= len(used):
        length += 1
    counts = [0] * 16
    counts[length - 1] = len(used)
    codes = {symbol: (index, length) for index, symbol in enumerate(used)}
    return counts, used, codes


class BitWriter:
    def __init__(self):
        self.out, self.acc, self.count = bytearray(), 0, 0

    def write(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.count += 1
            if self.count == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0x00)  # byte stuffing inside entropy-coded data
                self.acc, self.count = 0, 0

    def flush(self):
        if self.count:
            self.write((1 << (8 - self.count)) - 1, 8 - self.count)  # pad with one-bits
        return bytes(self.out)


def jpeg(rows, quality=90):
    height, width = len(rows), len(rows[0])
    q = quant_table(quality)
    blocks, previous_dc = [], 0
    for by in range(0, height, 8):
        for bx in range(0, width, 8):
            # Edge blocks repeat the last row/column, as encoders usually do.
            pixels = [rows[min(by + y, height - 1)][min(bx + x, width - 1)] - 128 for y in range(8) for x in range(8)]
            dct = fdct(pixels)
            quantised = [int(round(dct[i] / q[i])) for i in range(64)]
            zz = [quantised[i] for i in ZIGZAG]
            blocks.append(block_symbols(zz, previous_dc))
            previous_dc = zz[0]

    dc_counts, dc_values, dc_codes = huffman_table({s for b in blocks for t, s, _, _ in b if t == "dc"})
    ac_counts, ac_values, ac_codes = huffman_table({s for b in blocks for t, s, _, _ in b if t == "ac"})
    writer = BitWriter()
    for block in blocks:
        for table, symbol, size, bits in block:
            code, length = (dc_codes if table == "dc" else ac_codes)[symbol]
            writer.write(code, length)
            writer.write(bits, size)
    scan = writer.flush()

    def segment(marker, body):
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    return (b"\xff\xd8"
            + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + segment(0xDB, bytes([0]) + bytes(q[i] for i in ZIGZAG))
            + segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
            + segment(0xC4, bytes([0x00]) + bytes(dc_counts) + bytes(dc_values))
            + segment(0xC4, bytes([0x10]) + bytes(ac_counts) + bytes(ac_values))
            + segment(0xDA, bytes([1, 1, 0x00, 0, 63, 0]))
            + scan + b"\xff\xd9")


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample-folder")
    for shape in CLASSES:
        folder = os.path.join(root, shape)
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):  # re-runnable: start from an empty class folder
            os.remove(os.path.join(folder, name))
        for index, (cx, cy, r) in enumerate(PLACEMENTS):
            rows = draw(shape, cx, cy, r)
            if index < JPEG_FROM:
                path, data = os.path.join(folder, f"{shape}-{index}.png"), png(rows)
            else:
                path, data = os.path.join(folder, f"{shape}-{index}.jpg"), jpeg(rows)
            with open(path, "wb") as f:
                f.write(data)
    print(f"wrote {len(CLASSES) * len(PLACEMENTS)} images to {root}")


if __name__ == "__main__":
    main()
