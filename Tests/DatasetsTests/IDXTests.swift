import Testing
@_spi(Parsing) @testable import Datasets

@Suite struct IDXTests {
    @Test func rawIDXLoadsEveryPixelAndLabelInOrder() throws {
        let dir = TempDir()
        let (pixels, labels) = writeIDX(in: dir)
        let ds = try Dataset.load(DataSpec(format: .idx, path: dir.path))
        #expect(ds.count == 6)
        #expect(ds.imageShape == [1, 3, 4])
        #expect(ds.images == pixels)
        #expect(ds.labels == labels.map(Int.init))
        #expect(ds.classNames == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
        #expect(ds.format == .idx && ds.split == .train && ds.source == dir.path)
    }

    @Test func gzippedIDXReadsTheSameAsRaw() throws {
        let raw = TempDir(), hand = TempDir(), zlib = TempDir()
        _ = writeIDX(in: raw)
        _ = writeIDX(in: hand, gz: true)   // stored-block gzip written by hand (no zlib involved)
        for name in try FileAccess.list(raw.path) {   // really compressed by zlib's deflate
            zlib.write(name + ".gz", try gzip(FileAccess.read(raw.sub(name)), level: 9))
        }
        for split in Split.allCases {
            let expected = try Dataset.load(DataSpec(path: raw.path, split: split))
            for dir in [hand, zlib] {
                let ds = try Dataset.load(DataSpec(path: dir.path, split: split))
                #expect(ds.images == expected.images)
                #expect(ds.labels == expected.labels)
            }
        }
    }

    @Test func testSplitReadsTheT10kFiles() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir, test: 4)
        let ds = try Dataset.load(DataSpec(path: dir.path, split: .test))
        #expect(ds.count == 4)
        #expect(ds.labels == [0, 1, 2, 3])
        #expect(ds.images == pattern(4 * 12, offset: 5))
    }

    @Test func limitKeepsTheFirstExamples() throws {
        let dir = TempDir()
        let (pixels, labels) = writeIDX(in: dir)
        let ds = try Dataset.load(DataSpec(path: dir.path, limit: 2))
        #expect(ds.images == Array(pixels[0..<24]))
        #expect(ds.labels == labels[0..<2].map(Int.init))
    }

    @Test func classesFileNamesTheClassesAndBoundsTheLabels() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir)   // labels 0 3 6 9 2 5
        dir.write("classes.txt", Array("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n".utf8))
        #expect(try Dataset.load(DataSpec(path: dir.path)).classNames[9] == "nine")

        dir.write("classes.txt", Array("a\nb\nc\nd\n".utf8))
        #expect(throws: DatasetError.labelOutOfRange(file: dir.sub("train-labels-idx1-ubyte"), index: 2, label: 6, classCount: 4)) {
            try Dataset.load(DataSpec(path: dir.path))
        }
    }

    @Test func labelsFileInPlaceOfImagesIsAWrongMagicNumber() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir)
        dir.write("train-images-idx3-ubyte", idxLabels(count: 6, labels: [0, 1, 2, 3, 4, 5]))
        #expect(throws: DatasetError.badMagic(file: dir.sub("train-images-idx3-ubyte"), expected: 0x803, found: 0x801)) {
            try Dataset.load(DataSpec(path: dir.path))
        }
    }

    @Test func headerCountBeyondTheFileIsTruncation() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir)
        // Header says 6 images of 3×4, the file holds 5 and a half.
        dir.write("train-images-idx3-ubyte", idxImages(count: 6, rows: 3, cols: 4, pixels: pattern(66)))
        #expect(throws: DatasetError.truncated(file: dir.sub("train-images-idx3-ubyte"), expectedBytes: 16 + 72, foundBytes: 16 + 66)) {
            try Dataset.load(DataSpec(path: dir.path))
        }
        dir.write("train-images-idx3-ubyte", [0, 0, 8, 3, 0, 0])
        #expect(throws: DatasetError.truncated(file: dir.sub("train-images-idx3-ubyte"), expectedBytes: 16, foundBytes: 6)) {
            try Dataset.load(DataSpec(path: dir.path))
        }
    }

    @Test func imageAndLabelCountsMustAgree() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir)
        dir.write("train-labels-idx1-ubyte", idxLabels(count: 5, labels: [1, 2, 3, 4, 5]))
        #expect(throws: DatasetError.countMismatch(imagesFile: dir.sub("train-images-idx3-ubyte"), images: 6,
                                                   labelsFile: dir.sub("train-labels-idx1-ubyte"), labels: 5)) {
            try Dataset.load(DataSpec(path: dir.path))
        }
    }

    @Test func absurdHeaderClaimsAreRefusedBeforeAllocating() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir)
        let images = dir.sub("train-images-idx3-ubyte")
        // 2^31 items of 28×28 would be 1.7 TB: refused from the 16-byte header alone.
        dir.write("train-images-idx3-ubyte", idxImages(count: 1 << 31, rows: 28, cols: 28, pixels: []))
        #expect(throws: DatasetError.headerLimit(file: images, field: "image count", value: 1 << 31, limit: Int(Int32.max))) {
            try Dataset.load(DataSpec(path: dir.path))
        }
        dir.write("train-images-idx3-ubyte", idxImages(count: 1, rows: 4_000_000_000, cols: 28, pixels: []))
        #expect(throws: DatasetError.headerLimit(file: images, field: "rows", value: 4_000_000_000, limit: 16_384)) {
            try Dataset.load(DataSpec(path: dir.path))
        }
        dir.write("train-images-idx3-ubyte", idxImages(count: 6, rows: 3, cols: 4, pixels: pattern(72)))
        dir.write("train-labels-idx1-ubyte", idxLabels(count: 0xFFFF_FFFF, labels: []))
        #expect(throws: DatasetError.headerLimit(file: dir.sub("train-labels-idx1-ubyte"), field: "label count",
                                                 value: 0xFFFF_FFFF, limit: Int(Int32.max))) {
            try Dataset.load(DataSpec(path: dir.path))
        }
    }

    @Test func truncatedGzipIsADecompressionError() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir, gz: true)
        let file = dir.sub("train-images-idx3-ubyte.gz")
        let whole = try FileAccess.read(file)
        dir.write("train-images-idx3-ubyte.gz", Array(whole.prefix(whole.count - 30)))
        let error = #expect(throws: DatasetError.self) { try Dataset.load(DataSpec(path: dir.path)) }
        guard case .decompressionFailed(let named, _) = error else {
            Issue.record("expected decompressionFailed, got \(String(describing: error))")
            return
        }
        #expect(named == file)
    }

    @Test func explicitChannelsAndResizeApplyToIDXToo() throws {
        let dir = TempDir()
        let (pixels, _) = writeIDX(in: dir, rows: 3, cols: 4)
        let ds = try Dataset.load(DataSpec(path: dir.path, channels: 3, resize: ResizeRule(filter: .nearest, height: 6, width: 8)))
        #expect(ds.imageShape == [3, 6, 8])
        // Nearest 2× upscale: output (y, x) is input (y/2, x/2), in each of the three repeated channels.
        for i in [0, 5] {
            for c in 0..<3 {
                for y in 0..<6 {
                    for x in 0..<8 {
                        #expect(ds.images[((i * 3 + c) * 6 + y) * 8 + x] == pixels[i * 12 + (y / 2) * 4 + x / 2])
                    }
                }
            }
        }
    }

    @Test func rawFileWinsOverItsGzipCopyAndTwoDifferentCandidatesAreAmbiguous() throws {
        let dir = TempDir()
        let (pixels, _) = writeIDX(in: dir)
        // A .gz "copy" holding other pixels: the raw file must be the one read.
        dir.write("train-images-idx3-ubyte.gz", handMadeGzip(idxImages(count: 6, rows: 3, cols: 4, pixels: pattern(72, offset: 9))))
        #expect(try Dataset.load(DataSpec(path: dir.path)).images == pixels)

        dir.write("emnist-train-images-idx3-ubyte", idxImages(count: 6, rows: 3, cols: 4, pixels: pattern(72)))
        #expect(throws: DatasetError.ambiguousFiles(directory: dir.path,
                                                    expected: "train images file (e.g. train-images-idx3-ubyte[.gz])",
                                                    found: ["emnist-train-images-idx3-ubyte", "train-images-idx3-ubyte"])) {
            try Dataset.load(DataSpec(path: dir.path))
        }
    }

    @Test func missingLabelsFileIsNamed() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir)
        try FileManager.default.removeItem(atPath: dir.sub("train-labels-idx1-ubyte"))
        let error = #expect(throws: DatasetError.self) { try Dataset.load(DataSpec(path: dir.path)) }
        #expect(error?.description.contains("train labels file") == true)
    }
}

import Foundation
