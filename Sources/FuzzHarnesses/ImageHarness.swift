@_spi(Parsing) import Datasets
import Engine

/// `decodeImage` (CImageCodecs: libpng or libjpeg, chosen by signature), then what the image-folder
/// loader does with the pixels: interleaved → planar and a resize. The requested channel count
/// (file's own, grey or RGB) and the resize filter are taken from the input's length, so the fuzzer
/// reaches every conversion without a framing byte in front of the signature.
///
/// PNG chunks carry CRCs, and libpng refuses a critical chunk whose CRC is wrong, so almost every
/// mutation would stop at the first checksum. A PNG input is therefore decoded twice: as it is, and
/// with every chunk's CRC recomputed, which lets mutations reach the decoder and our conversions.
enum ImageHarness {
    static func run(_ bytes: [UInt8]) throws {
        let channels = [0, 1, 3][bytes.count % 3]
        let filter: ResizeFilter = bytes.count / 3 % 2 == 0 ? .nearest : .bilinear
        let repaired = PNGChunks.withRecomputedCRCs(bytes)
        let asIs = Result { try decodeAndLayOut(bytes, channels: channels, filter: filter) }
        if let repaired, repaired != bytes { try decodeAndLayOut(repaired, channels: channels, filter: filter) }
        try asIs.get()
    }

    private static func decodeAndLayOut(_ bytes: [UInt8], channels: Int, filter: ResizeFilter) throws {
        let image: DecodedImage
        do { image = try decodeImage(bytes, channels: channels) } catch { throw ImageRefused(message: error.message) }
        require(image.pixels.count == image.width * image.height * image.channels,
                "decodeImage returned \(image.pixels.count) samples for \(image.width)×\(image.height)×\(image.channels)")
        require(channels == 0 || image.channels == channels, "asked for \(channels) channels, got \(image.channels)")
        let planar = ImageOps.planar(image.pixels, height: image.height, width: image.width, channels: image.channels)
        let resized = ImageOps.resize(planar, channels: image.channels, height: image.height, width: image.width,
                                      toHeight: 5, toWidth: 7, filter: filter)
        require(resized.count == image.channels * 5 * 7, "resize returned \(resized.count) samples")
    }
}

/// A decoder's refusal, as the image-folder loader would report it (without the file name).
struct ImageRefused: Error, CustomStringConvertible {
    let message: String
    var description: String { "corrupt image: \(message)" }
}

/// PNG chunk walking (PNG spec §5.3: length, type, data, CRC-32 of type and data).
enum PNGChunks {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// `bytes` with the CRC of every complete chunk recomputed, or nil when they are not a PNG.
    /// A chunk whose declared length runs past the end is left as it is, and so is anything after it.
    static func withRecomputedCRCs(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.starts(with: signature) else { return nil }
        var out = bytes
        var at = signature.count
        while at + 12 <= out.count {
            let length = Int(out[at]) << 24 | Int(out[at + 1]) << 16 | Int(out[at + 2]) << 8 | Int(out[at + 3])
            guard length <= out.count - at - 12 else { break }
            let crc = crc32(out[(at + 4)..<(at + 8 + length)])
            for i in 0..<4 { out[at + 8 + length + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * i)) }
            at += 12 + length
        }
        return out
    }

    /// CRC-32 (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320), as PNG defines it.
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8)
        }
        return ~crc
    }

    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}
