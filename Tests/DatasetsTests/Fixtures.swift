import Foundation
@testable import Datasets

/// A fresh temporary directory per test, removed when the value is released.
final class TempDir {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "datasets-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` at `relative` (creating folders) and returns the full path.
    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8]) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        precondition(FileManager.default.createFile(atPath: full, contents: Data(bytes)), "cannot write \(full)")
        return full
    }

    func mkdir(_ relative: String) {
        try! FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    func sub(_ relative: String) -> String { path + "/" + relative }
}

// MARK: - Byte builders written from the format specifications, independent of the code under test.

func bigEndian32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
func littleEndian32(_ v: UInt32) -> [UInt8] { bigEndian32(v).reversed() }

/// An IDX images file: magic 0x00000803, count, rows, cols, pixels.
func idxImages(count: UInt32, rows: UInt32, cols: UInt32, pixels: [UInt8]) -> [UInt8] {
    bigEndian32(0x0803) + bigEndian32(count) + bigEndian32(rows) + bigEndian32(cols) + pixels
}

/// An IDX labels file: magic 0x00000801, count, labels.
func idxLabels(count: UInt32, labels: [UInt8]) -> [UInt8] { bigEndian32(0x0801) + bigEndian32(count) + labels }

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit by bit, as in RFC 1952's appendix.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

/// Adler-32 (RFC 1950).
func adler32(_ bytes: [UInt8]) -> UInt32 {
    var a: UInt32 = 1, b: UInt32 = 0
    for x in bytes { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
    return b << 16 | a
}

/// Raw DEFLATE made only of "stored" blocks (RFC 1951 §3.2.4): no compression, so the bytes are
/// written by hand without zlib.
func storedDeflate(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var start = 0
    repeat {
        let end = min(data.count, start + 65_535)
        let len = UInt16(end - start)
        out.append(end == data.count ? 1 : 0)   // BFINAL, BTYPE = 00
        out += [UInt8(len & 0xFF), UInt8(len >> 8), UInt8(~len & 0xFF), UInt8(~len >> 8)]
        out += data[start..<end]
        start = end
    } while start < data.count
    return out
}

/// A gzip member (RFC 1952) around stored DEFLATE blocks.
func handMadeGzip(_ data: [UInt8]) -> [UInt8] {
    [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF] + storedDeflate(data) + littleEndian32(crc32(data)) + littleEndian32(UInt32(data.count))
}

/// A PNG (8-bit grey or RGB, no filtering, stored zlib) from interleaved pixels.
func handMadePNG(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
    func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        return bigEndian32(UInt32(body.count)) + typed + bigEndian32(crc32(typed))
    }
    var scanlines: [UInt8] = []
    for y in 0..<height {
        scanlines.append(0)   // filter type None
        scanlines += pixels[y * width * channels..<(y + 1) * width * channels]
    }
    let zlib = [0x78, 0x01] + storedDeflate(scanlines) + bigEndian32(adler32(scanlines))
    let ihdr = bigEndian32(UInt32(width)) + bigEndian32(UInt32(height)) + [8, channels == 1 ? 0 : 2, 0, 0, 0]
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", zlib) + chunk("IEND", [])
}

/// A byte pattern that differs at every position of a small image.
func pattern(_ n: Int, offset: Int = 0) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7 + offset * 13 + 1) } }

/// Writes a small IDX dataset (train + test) and returns its directory.
func writeIDX(in dir: TempDir, train: Int = 6, test: Int = 4, rows: Int = 3, cols: Int = 4,
              gz: Bool = false) -> (images: [UInt8], labels: [UInt8]) {
    let pixels = pattern(train * rows * cols)
    let labels = (0..<train).map { UInt8($0 * 3 % 10) }
    let files: [(String, [UInt8])] = [
        ("train-images-idx3-ubyte", idxImages(count: UInt32(train), rows: UInt32(rows), cols: UInt32(cols), pixels: pixels)),
        ("train-labels-idx1-ubyte", idxLabels(count: UInt32(train), labels: labels)),
        ("t10k-images-idx3-ubyte", idxImages(count: UInt32(test), rows: UInt32(rows), cols: UInt32(cols),
                                             pixels: pattern(test * rows * cols, offset: 5))),
        ("t10k-labels-idx1-ubyte", idxLabels(count: UInt32(test), labels: (0..<test).map { UInt8($0) })),
    ]
    for (name, bytes) in files {
        if gz { dir.write(name + ".gz", handMadeGzip(bytes)) } else { dir.write(name, bytes) }
    }
    return (pixels, labels)
}

/// Naive reference for the loader's crop and flip, straight from the definition: pad with p zeros,
/// take the H×W window at (dy, dx), then mirror columns if `flip`.
func referenceAugment(_ img: [UInt8], c: Int, h: Int, w: Int, p: Int, dy: Int, dx: Int, flip: Bool) -> [Float] {
    let ph = h + 2 * p, pw = w + 2 * p
    var padded = [UInt8](repeating: 0, count: c * ph * pw)
    for ch in 0..<c { for y in 0..<h { for x in 0..<w { padded[(ch * ph + y + p) * pw + x + p] = img[(ch * h + y) * w + x] } } }
    var out = [Float](repeating: 0, count: c * h * w)
    for ch in 0..<c {
        for y in 0..<h {
            for x in 0..<w {
                let cropped = padded[(ch * ph + y + dy) * pw + x + dx]
                let target = flip ? w - 1 - x : x
                out[(ch * h + y) * w + target] = Float(cropped) / 255
            }
        }
    }
    return out
}

/// The repository's root (for the committed sample data).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
