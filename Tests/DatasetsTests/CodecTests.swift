import Testing
@_spi(Parsing) @testable import Datasets

@Suite struct CodecTests {
    /// 3×2 RGB pixels with distinct channel values.
    let rgb: [UInt8] = [255, 0, 0,   0, 255, 0,   0, 0, 255,
                        10, 20, 30,  200, 100, 50, 255, 255, 255]

    @Test func handMadePNGDecodesToItsExactPixels() throws {
        let png = handMadePNG(width: 3, height: 2, channels: 3, pixels: rgb)
        let img = try decodeImage(png, channels: 0)
        #expect((img.width, img.height, img.channels) == (3, 2, 3))
        #expect(img.pixels == rgb)

        let grey: [UInt8] = [0, 64, 128, 192, 255, 7]
        let g = try decodeImage(handMadePNG(width: 2, height: 3, channels: 1, pixels: grey), channels: 0)
        #expect((g.width, g.height, g.channels) == (2, 3, 1))
        #expect(g.pixels == grey)
        // Grey requested as RGB repeats each value three times.
        #expect(try decodeImage(handMadePNG(width: 2, height: 3, channels: 1, pixels: grey), channels: 3).pixels
                == grey.flatMap { [$0, $0, $0] })
    }

    @Test func pngColourToGreyIsBT601LumaWithinOneLevel() throws {
        let img = try decodeImage(handMadePNG(width: 3, height: 2, channels: 3, pixels: rgb), channels: 1)
        #expect(img.channels == 1)
        for p in 0..<6 {
            let luma = 0.299 * Double(rgb[3 * p]) + 0.587 * Double(rgb[3 * p + 1]) + 0.114 * Double(rgb[3 * p + 2])
            #expect(abs(Double(img.pixels[p]) - luma) <= 1, "pixel \(p): \(img.pixels[p]) vs \(luma)")
        }
    }

    @Test func encodedPNGDecodesBackExactly() throws {
        let pixels = pattern(17 * 9 * 3)
        let png = try encodePNG(pixels: pixels, width: 17, height: 9, channels: 3)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let img = try decodeImage(png, channels: 3)
        #expect((img.width, img.height) == (17, 9))
        #expect(img.pixels == pixels)
    }

    @Test func encodedJPEGDecodesWithinALossyTolerance() throws {
        // A smooth RGB gradient: JPEG at quality 95 keeps it within a few levels.
        let w = 32, h = 24
        var pixels: [UInt8] = []
        for y in 0..<h { for x in 0..<w { pixels += [UInt8(x * 8), UInt8(y * 10), UInt8(128 + x * 2 - y * 2)] } }
        let jpeg = try encodeJPEG(pixels: pixels, width: w, height: h, channels: 3, quality: 95)
        #expect(Array(jpeg.prefix(2)) == [0xFF, 0xD8])
        let img = try decodeImage(jpeg, channels: 3)
        #expect((img.width, img.height, img.channels) == (w, h, 3))
        let diffs = zip(img.pixels, pixels).map { abs(Int($0) - Int($1)) }
        #expect(diffs.max()! <= 12)
        #expect(Double(diffs.reduce(0, +)) / Double(diffs.count) <= 2.0)

        let grey = pattern(w * h).map { _ in UInt8(100) }
        let g = try decodeImage(try encodeJPEG(pixels: grey, width: w, height: h, channels: 1), channels: 0)
        #expect(g.channels == 1)
        #expect(g.pixels.allSatisfy { abs(Int($0) - 100) <= 1 })
    }

    @Test func corruptImagesAreErrorsNotCrashes() throws {
        let jpeg = try encodeJPEG(pixels: pattern(16 * 16), width: 16, height: 16, channels: 1)
        // Cut in the middle of the entropy-coded data: libjpeg would warn and pad with grey.
        #expect(throws: CodecFailure.self) { try decodeImage(Array(jpeg.prefix(jpeg.count / 2)), channels: 1) }
        // Header only.
        #expect(throws: CodecFailure.self) { try decodeImage(Array(jpeg.prefix(4)), channels: 1) }
        let png = try encodePNG(pixels: pattern(16 * 16), width: 16, height: 16, channels: 1)
        #expect(throws: CodecFailure.self) { try decodeImage(Array(png.prefix(png.count - 20)), channels: 1) }
        var flipped = png
        flipped[45] ^= 0xFF   // inside the IDAT data: CRC mismatch
        #expect(throws: CodecFailure.self) { try decodeImage(flipped, channels: 1) }
        #expect(throws: CodecFailure.self) { try decodeImage(Array("GIF89a".utf8), channels: 1) }
        #expect(throws: CodecFailure.self) { try decodeImage([], channels: 1) }
    }

    /// A header claiming a huge image is refused from the header alone, before libpng or libjpeg
    /// allocates for the pixels, with a message naming the size.
    @Test func pngClaiming100000By100000PixelsIsRefusedFromItsHeader() throws {
        // A valid 1×1 grey file whose IHDR (bytes 16..<29, CRC recomputed) now says 100000×100000.
        var png = handMadePNG(width: 1, height: 1, channels: 1, pixels: [7])
        png.replaceSubrange(16..<24, with: bigEndian32(100_000) + bigEndian32(100_000))
        png.replaceSubrange(29..<33, with: bigEndian32(crc32(Array(png[12..<29]))))
        for channels in [0, 1, 3] {
            let failure = try #require(throws: CodecFailure.self) { try decodeImage(png, channels: channels) }
            #expect(failure.message.hasPrefix("image dimensions 100000x100000 are too large"), "\(failure.message)")
        }
    }

    /// JPEG stores sizes in 16 bits and libjpeg-turbo stops at 65500, so 65500×65500 is the largest claim
    /// a JPEG can make; as a progressive file it would have libjpeg zero 25 GB of DCT coefficients in
    /// `jpeg_start_decompress` if the size were checked only after it.
    @Test(arguments: [UInt8(0xC0), 0xC2])   // SOF0 baseline as written; SOF2 progressive
    func jpegClaiming65500By65500PixelsIsRefusedFromItsHeader(startOfFrame: UInt8) throws {
        var jpeg = try encodeJPEG(pixels: pattern(8 * 8 * 3), width: 8, height: 8, channels: 3)
        let sof = try #require((0..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[sof + 1] = startOfFrame
        // After the marker: length (2 bytes), precision (1), height (2), width (2).
        jpeg.replaceSubrange(sof + 5..<sof + 9, with: [0xFF, 0xDC, 0xFF, 0xDC])
        for channels in [0, 1, 3] {
            let failure = try #require(throws: CodecFailure.self) { try decodeImage(jpeg, channels: channels) }
            #expect(failure.message.hasPrefix("image dimensions 65500x65500 are too large"), "\(failure.message)")
        }
    }

    @Test func encoderRejectsMismatchedSizes() {
        #expect(throws: DatasetError.encodingFailed(format: "PNG", reason: "5 samples given for 2×2×1 = 4")) {
            try encodePNG(pixels: [1, 2, 3, 4, 5], width: 2, height: 2, channels: 1)
        }
        #expect(throws: DatasetError.self) { try encodeJPEG(pixels: [1, 2, 3, 4], width: 2, height: 2, channels: 1, quality: 0) }
        #expect(throws: DatasetError.self) { try encodePNG(pixels: [1, 2, 3, 4, 5, 6, 7, 8], width: 2, height: 2, channels: 2) }
    }

    @Test func gunzipReadsHandMadeAndConcatenatedMembersAndEnforcesItsLimit() throws {
        let a = pattern(70_000), b = pattern(10, offset: 3)   // > 65535: two stored blocks
        #expect(try gunzip(handMadeGzip(a), maxOutput: 1 << 20) == a)
        #expect(try gunzip(handMadeGzip(a) + handMadeGzip(b), maxOutput: 1 << 20) == a + b)
        #expect(try gunzip(try gzip(a + b), maxOutput: 1 << 20) == a + b)
        #expect(throws: CodecFailure.self) { try gunzip(handMadeGzip(a), maxOutput: 69_999) }
        var corrupt = handMadeGzip(b)
        corrupt[corrupt.count - 5] ^= 1   // CRC no longer matches
        #expect(throws: CodecFailure.self) { try gunzip(corrupt, maxOutput: 1 << 20) }
        #expect(throws: CodecFailure.self) { try gunzip([1, 2, 3], maxOutput: 1 << 20) }
    }

    @Test func resizeSamplesPixelCentres() {
        // Nearest, 4 → 2: destination d reads floor((d + 0.5)·2) = 1, 3.
        #expect(ImageOps.resize([10, 20, 30, 40], channels: 1, height: 1, width: 4, toHeight: 1, toWidth: 2, filter: .nearest) == [20, 40])
        // Nearest, 2 → 4: each pixel twice.
        #expect(ImageOps.resize([10, 20], channels: 1, height: 1, width: 2, toHeight: 1, toWidth: 4, filter: .nearest) == [10, 10, 20, 20])
        // Bilinear, 2 → 4: source x = (d + 0.5)/2 − 0.5 = −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        #expect(ImageOps.resize([0, 100], channels: 1, height: 1, width: 2, toHeight: 1, toWidth: 4, filter: .bilinear) == [0, 25, 75, 100])
        // Bilinear in 2-D, 2×2 → 1×1: the centre, mean of four.
        #expect(ImageOps.resize([0, 40, 80, 120], channels: 1, height: 2, width: 2, toHeight: 1, toWidth: 1, filter: .bilinear) == [60])
        // Channels resize independently.
        #expect(ImageOps.resize([1, 2, 3, 4], channels: 2, height: 1, width: 2, toHeight: 1, toWidth: 1, filter: .bilinear) == [2, 4])
    }
}
