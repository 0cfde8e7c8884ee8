#!/usr/bin/env python3
"""Writes the PNG and JPEG seeds our own encoders cannot make (palette, alpha, 16-bit, 1-bit,
interlaced PNGs; progressive, 4:4:4, restart-marker and arithmetic-coded JPEGs) into
Tests/Fixtures/fuzz/{png,jpeg}/. PNGs are written by hand from the PNG specification (zlib only);
JPEGs by cjpeg/jpegtran (Debian: libjpeg-turbo-progs). Run from the repository root."""
import os
import struct
import subprocess
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, colour_type, depth, rows, interlace=0, extra=b""):
    """rows: one bytes object per row of packed samples (no filter byte)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def adam7_rows(width, height, pixel):
    """The seven passes of an interlaced 8-bit image, each pass's rows concatenated (pixel(x, y) -> bytes)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        xs = range(x0, width, dx)
        if not xs:
            continue
        for y in range(y0, height, dy):
            rows.append(b"".join(pixel(x, y) for x in xs))
    return rows


def write(folder, name, data):
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data)


def pngs():
    # Palette, 4 bits per index, with transparency for two entries.
    palette = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 200, 200])
    rows = [bytes([0x01, 0x23, 0x30]), bytes([0x32, 0x10, 0x20]), bytes([0x00, 0x11, 0x20])]
    write("png", "valid-palette-4bit-trns-5x3.png",
          png(5, 3, 3, 4, rows, extra=chunk(b"PLTE", palette) + chunk(b"tRNS", bytes([0, 128]))))
    # Grey, 1 bit per sample (rows padded to a byte).
    write("png", "valid-grey-1bit-9x2.png", png(9, 2, 0, 1, [bytes([0b10110010, 0b10000000]), bytes([0b01001101, 0])]))
    # Grey + alpha, 8 bits.
    write("png", "valid-grey-alpha-3x3.png", png(3, 3, 4, 8, [bytes([10 * i, 255 - i, 20, 30, 40, 50]) for i in range(3)]))
    # RGBA, 16 bits per sample.
    write("png", "valid-rgba-16bit-3x2.png",
          png(3, 2, 6, 16, [struct.pack(">12H", *[(i * 4099 + k * 811) % 65536 for k in range(12)]) for i in range(2)]))
    # Grey 16-bit with a tRNS key colour.
    write("png", "valid-grey-16bit-trns-4x2.png",
          png(4, 2, 0, 16, [struct.pack(">4H", *[i * 1000 + k for k in range(4)]) for i in range(2)],
              extra=chunk(b"tRNS", struct.pack(">H", 1000))))
    # RGB, Adam7-interlaced, 9x9.
    write("png", "valid-rgb-interlaced-9x9.png",
          png(9, 9, 2, 8, adam7_rows(9, 9, lambda x, y: bytes([x * 28, y * 28, (x + y) * 14])), interlace=1))


def jpegs():
    with tempfile.TemporaryDirectory() as tmp:
        ppm = os.path.join(tmp, "in.ppm")
        w, h = 9, 7
        with open(ppm, "wb") as f:
            f.write(b"P6 %d %d 255\n" % (w, h) + bytes(v for y in range(h) for x in range(w)
                                                       for v in (x * 28, y * 36, 255 - x * 20)))
        def cjpeg(name, *flags):
            data = subprocess.run(["cjpeg", *flags, ppm], check=True, capture_output=True).stdout
            write("jpeg", name, data)
        cjpeg("valid-progressive-444-9x7.jpg", "-progressive", "-sample", "1x1", "-quality", "85")
        cjpeg("valid-grey-restart-9x7.jpg", "-grayscale", "-restart", "1B", "-quality", "85")
        cjpeg("valid-arithmetic-9x7.jpg", "-arithmetic", "-quality", "85")
        baseline = os.path.join(HERE, "jpeg", "valid-rgb-7x5.jpg")
        data = subprocess.run(["jpegtran", "-progressive", baseline], check=True, capture_output=True).stdout
        write("jpeg", "valid-progressive-7x5.jpg", data)


if __name__ == "__main__":
    pngs()
    jpegs()
