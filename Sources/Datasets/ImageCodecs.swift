import CImageCodecs
import Glibc

/// A decode or encode failure from the C codecs, before it is given a file name.
@_spi(Parsing) public struct CodecFailure: Error { public let message: String }

/// A decoded image: `pixels` is [height, width, channels] interleaved (HWC), 8 bits per sample.
@_spi(Parsing) public struct DecodedImage {
    public var pixels: [UInt8]
    public var width: Int
    public var height: Int
    public var channels: Int
}

/// Decodes a PNG or JPEG (told apart by their signatures, not by file name).
/// `channels`: 1 grey, 3 RGB, 0 the file's own. SPI so that the fuzz harness drives it directly.
@_spi(Parsing) public func decodeImage(_ bytes: [UInt8], channels: Int) throws(CodecFailure) -> DecodedImage {
    let isPNG = bytes.starts(with: [0x89, 0x50, 0x4E, 0x47])
    let isJPEG = bytes.starts(with: [0xFF, 0xD8])
    guard isPNG || isJPEG else {
        throw CodecFailure(message: bytes.isEmpty ? "empty file" : "neither a PNG nor a JPEG signature")
    }
    var out: UnsafeMutablePointer<UInt8>? = nil
    var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
    var err = [CChar](repeating: 0, count: 256)
    let rc = bytes.withUnsafeBufferPointer { src in
        err.withUnsafeMutableBufferPointer { e in
            isPNG
                ? cimg_decode_png(src.baseAddress, src.count, Int32(channels), &out, &w, &h, &c, e.baseAddress, e.count)
                : cimg_decode_jpeg(src.baseAddress, src.count, Int32(channels), &out, &w, &h, &c, e.baseAddress, e.count)
        }
    }
    guard rc == 0, let pixels = out else { throw CodecFailure(message: message(err)) }
    defer { cimg_free(pixels) }
    let n = Int(w) * Int(h) * Int(c)
    return DecodedImage(pixels: Array(UnsafeBufferPointer(start: pixels, count: n)),
                        width: Int(w), height: Int(h), channels: Int(c))
}

/// Encodes 8-bit pixels as a PNG file (lossless; libpng's default compression).
///
/// - Parameters:
///   - pixels: `height × width × channels` samples, interleaved row by row (HWC), e.g. RGBRGB….
///   - channels: 1 (grey) or 3 (RGB).
/// - Returns: the bytes of the `.png` file.
/// - Throws: `DatasetError.encodingFailed` when the sizes disagree or libpng fails.
public func encodePNG(pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> [UInt8] {
    try encode("PNG", pixels, width, height, channels) { p, out, len, e, elen in
        cimg_encode_png(p, Int32(width), Int32(height), Int32(channels), out, len, e, elen)
    }
}

/// Encodes 8-bit pixels as a baseline JPEG file (lossy) at `quality` 1...100, 4:2:0 chroma for RGB.
/// Same layout and errors as `encodePNG`.
public func encodeJPEG(pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int = 90) throws -> [UInt8] {
    guard (1...100).contains(quality) else {
        throw DatasetError.encodingFailed(format: "JPEG", reason: "quality \(quality) is outside 1...100")
    }
    return try encode("JPEG", pixels, width, height, channels) { p, out, len, e, elen in
        cimg_encode_jpeg(p, Int32(width), Int32(height), Int32(channels), Int32(quality), out, len, e, elen)
    }
}

private func encode(
    _ format: String, _ pixels: [UInt8], _ width: Int, _ height: Int, _ channels: Int,
    _ call: (UnsafePointer<UInt8>?, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>,
             UnsafeMutablePointer<Int>, UnsafeMutablePointer<CChar>?, Int) -> Int32
) throws -> [UInt8] {
    guard channels == 1 || channels == 3 else {
        throw DatasetError.encodingFailed(format: format, reason: "channels must be 1 or 3, not \(channels)")
    }
    guard (1...maxImageSide).contains(width), (1...maxImageSide).contains(height) else {
        throw DatasetError.encodingFailed(format: format, reason: "size \(width)×\(height) is outside 1...\(maxImageSide)")
    }
    guard pixels.count == width * height * channels else {
        throw DatasetError.encodingFailed(
            format: format, reason: "\(pixels.count) samples given for \(width)×\(height)×\(channels) = \(width * height * channels)")
    }
    var out: UnsafeMutablePointer<UInt8>? = nil
    var len = 0
    var err = [CChar](repeating: 0, count: 256)
    let rc = pixels.withUnsafeBufferPointer { p in
        err.withUnsafeMutableBufferPointer { e in call(p.baseAddress, &out, &len, e.baseAddress, e.count) }
    }
    guard rc == 0, let bytes = out else { throw DatasetError.encodingFailed(format: format, reason: message(err)) }
    defer { cimg_free(bytes) }
    return Array(UnsafeBufferPointer(start: bytes, count: len))
}

/// Decompresses gzip data (all members), refusing output above `maxOutput` bytes.
func gunzip(_ bytes: [UInt8], maxOutput: Int) throws(CodecFailure) -> [UInt8] {
    var out: UnsafeMutablePointer<UInt8>? = nil
    var len = 0
    var err = [CChar](repeating: 0, count: 256)
    let rc = bytes.withUnsafeBufferPointer { src in
        err.withUnsafeMutableBufferPointer { e in
            cimg_gunzip(src.baseAddress, src.count, maxOutput, &out, &len, e.baseAddress, e.count)
        }
    }
    guard rc == 0, let result = out else { throw CodecFailure(message: message(err)) }
    defer { cimg_free(result) }
    return Array(UnsafeBufferPointer(start: result, count: len))
}

/// gzip-compresses `bytes` (zlib level 1...9). SPI for the fuzz seed corpus and the tests.
@_spi(Parsing) public func gzip(_ bytes: [UInt8], level: Int = 6) throws(CodecFailure) -> [UInt8] {
    var out: UnsafeMutablePointer<UInt8>? = nil
    var len = 0
    var err = [CChar](repeating: 0, count: 256)
    let rc = bytes.withUnsafeBufferPointer { src in
        err.withUnsafeMutableBufferPointer { e in
            cimg_gzip(src.baseAddress, src.count, Int32(level), &out, &len, e.baseAddress, e.count)
        }
    }
    guard rc == 0, let result = out else { throw CodecFailure(message: message(err)) }
    defer { cimg_free(result) }
    return Array(UnsafeBufferPointer(start: result, count: len))
}

private func message(_ err: [CChar]) -> String {
    let text = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.isEmpty ? "unknown codec error" : text
}
