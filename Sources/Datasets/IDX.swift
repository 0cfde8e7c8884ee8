import Foundation

/// IDX files (LeCun's MNIST format, also Fashion-MNIST, KMNIST, EMNIST), raw or gzip-compressed.
///
/// Layout (all integers big-endian):
/// - images: magic 0x00000803 (ubyte, 3 dimensions), count, rows, cols, then count·rows·cols bytes;
/// - labels: magic 0x00000801 (ubyte, 1 dimension), count, then count bytes.
///
/// Files are found by name in the directory: one images and one labels file per split, whose
/// lower-cased name has the split's token (train: "train"; test: "t10k" or "test"), "images" or
/// "labels", and "idx3-ubyte" or "idx1-ubyte" (optionally ".gz"). If both a raw and a `.gz` copy exist
/// the raw one is read.
///
/// Class names: `classes.txt` beside the files (one per line) when present; otherwise the
/// Fashion-MNIST names when the directory's name or target contains "fashion"; otherwise "0", "1", …
/// for max(10, largest label + 1) classes.
@_spi(Parsing) public enum IDX {
    static let imagesMagic: UInt32 = 0x0000_0803
    static let labelsMagic: UInt32 = 0x0000_0801
    /// Counts are refused at 2^31 and above before anything is allocated.
    static let maxCount = Int(Int32.max)

    static func isImagesFileName(_ lower: String) -> Bool {
        lower.contains("idx3") && (lower.hasSuffix("ubyte") || lower.hasSuffix("ubyte.gz"))
    }

    static func load(directory: String, split: Split, limit: Int?) throws -> LoadedImages {
        let imagesFile = try find(in: directory, split: split, kind: "images", dims: "idx3")
        let labelsFile = try find(in: directory, split: split, kind: "labels", dims: "idx1")
        let split = try decode(images: try FileAccess.read(imagesFile), named: imagesFile,
                               labels: try FileAccess.read(labelsFile), named: labelsFile, limit: limit)
        let classNames = try classNames(directory: directory, largestLabel: split.labels.max() ?? 0)
        if let bad = split.labels.firstIndex(where: { $0 >= classNames.count }) {
            throw DatasetError.labelOutOfRange(file: labelsFile, index: bad, label: split.labels[bad], classCount: classNames.count)
        }
        return LoadedImages(images: split.pixels, labels: split.labels, channels: 1, height: split.rows, width: split.cols,
                            classNames: classNames)
    }

    /// The first `limit` (default all) images and labels of one split from the contents of its two
    /// files, each raw or gzip, after every header check; the names are only for error messages.
    /// `load` reads the files and calls this; it is SPI so that the fuzz harness drives the same code.
    @_spi(Parsing) public static func decode(images imageFile: [UInt8], named imagesFile: String,
                                             labels labelFile: [UInt8], named labelsFile: String,
                                             limit: Int?) throws -> (pixels: [UInt8], labels: [Int], rows: Int, cols: Int) {
        let imageBytes = try FileAccess.decompressIfGzip(imageFile, file: imagesFile)
        let (count, rows, cols) = try imagesHeader(imageBytes, file: imagesFile)
        let labelBytes = try FileAccess.decompressIfGzip(labelFile, file: labelsFile)
        let labelCount = try labelsHeader(labelBytes, file: labelsFile)
        guard labelCount == count else {
            throw DatasetError.countMismatch(imagesFile: imagesFile, images: count, labelsFile: labelsFile, labels: labelCount)
        }
        let n = min(count, max(0, limit ?? count))
        return (Array(imageBytes[16..<16 + n * rows * cols]), labelBytes[8..<8 + n].map(Int.init), rows, cols)
    }

    /// (count, rows, cols) after checking the magic, the limits and that the file holds them all.
    static func imagesHeader(_ bytes: [UInt8], file: String) throws -> (Int, Int, Int) {
        // The magic first: a wrong kind of file is a clearer message than "too short".
        if bytes.count >= 4, word(bytes, 0) != imagesMagic {
            throw DatasetError.badMagic(file: file, expected: imagesMagic, found: word(bytes, 0))
        }
        guard bytes.count >= 16 else { throw DatasetError.truncated(file: file, expectedBytes: 16, foundBytes: bytes.count) }
        let count = Int(word(bytes, 4)), rows = Int(word(bytes, 8)), cols = Int(word(bytes, 12))
        // Checked one by one before any product: with these limits count·rows·cols < 2^59 cannot overflow.
        guard count <= maxCount else { throw DatasetError.headerLimit(file: file, field: "image count", value: count, limit: maxCount) }
        guard (1...maxImageSide).contains(rows) else {
            throw DatasetError.headerLimit(file: file, field: "rows", value: rows, limit: maxImageSide)
        }
        guard (1...maxImageSide).contains(cols) else {
            throw DatasetError.headerLimit(file: file, field: "columns", value: cols, limit: maxImageSide)
        }
        let needed = 16 + count * rows * cols
        guard bytes.count >= needed else { throw DatasetError.truncated(file: file, expectedBytes: needed, foundBytes: bytes.count) }
        return (count, rows, cols)
    }

    /// The label count after checking the magic, the limit and that the file holds them all.
    static func labelsHeader(_ bytes: [UInt8], file: String) throws -> Int {
        if bytes.count >= 4, word(bytes, 0) != labelsMagic {
            throw DatasetError.badMagic(file: file, expected: labelsMagic, found: word(bytes, 0))
        }
        guard bytes.count >= 8 else { throw DatasetError.truncated(file: file, expectedBytes: 8, foundBytes: bytes.count) }
        let count = Int(word(bytes, 4))
        guard count <= maxCount else { throw DatasetError.headerLimit(file: file, field: "label count", value: count, limit: maxCount) }
        guard bytes.count >= 8 + count else { throw DatasetError.truncated(file: file, expectedBytes: 8 + count, foundBytes: bytes.count) }
        return count
    }

    private static func word(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    private static func find(in directory: String, split: Split, kind: String, dims: String) throws -> String {
        let tokens = split == .train ? ["train"] : ["t10k", "test"]
        let candidates = try FileAccess.list(directory).filter { name in
            let l = name.lowercased()
            return tokens.contains(where: l.contains) && l.contains(kind) && l.contains(dims)
                && (l.hasSuffix("ubyte") || l.hasSuffix("ubyte.gz"))
        }
        let description = "\(split.rawValue) \(kind) file (e.g. \(tokens[0])-\(kind)-\(dims)-ubyte[.gz])"
        // A raw file and its .gz copy are the same data: keep the raw one.
        let distinct = candidates.filter { !($0.lowercased().hasSuffix(".gz") && candidates.contains(String($0.dropLast(3)))) }
        guard let name = distinct.first else { throw DatasetError.missingFile(directory: directory, expected: description) }
        guard distinct.count == 1 else {
            throw DatasetError.ambiguousFiles(directory: directory, expected: description, found: distinct)
        }
        return FileAccess.join(directory, name)
    }

    private static func classNames(directory: String, largestLabel: Int) throws -> [String] {
        if let names = try KnownClasses.read(FileAccess.join(directory, "classes.txt")) { return names }
        let resolved = URL(fileURLWithPath: directory).resolvingSymlinksInPath().lastPathComponent
        let own = URL(fileURLWithPath: directory).lastPathComponent
        if (own + " " + resolved).lowercased().contains("fashion") { return KnownClasses.fashionMNIST }
        return (0..<max(10, largestLabel + 1)).map(String.init)
    }
}
