/// Everything that can go wrong between a path on disk and a batch: each case names the file (or
/// key) at fault and what was expected, and `description` is a sentence saying what to fix.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    // Paths and layout
    case pathNotFound(path: String)
    case unrecognisedLayout(path: String, found: [String])
    case missingFile(directory: String, expected: String)
    case ambiguousFiles(directory: String, expected: String, found: [String])
    case missingSplit(path: String, split: Split)
    case unreadable(file: String, reason: String)

    // IDX and CIFAR binary
    case badMagic(file: String, expected: UInt32, found: UInt32)
    case headerLimit(file: String, field: String, value: Int, limit: Int)
    case truncated(file: String, expectedBytes: Int, foundBytes: Int)
    case countMismatch(imagesFile: String, images: Int, labelsFile: String, labels: Int)
    case shapeMismatch(file: String, expected: [Int], found: [Int])
    case labelOutOfRange(file: String, index: Int, label: Int, classCount: Int)
    case truncatedRecord(file: String, recordSize: Int, fileSize: Int)
    case decompressionFailed(file: String, reason: String)

    // Image folders
    case noClassFolders(path: String)
    case emptyClassFolder(folder: String)
    case corruptImage(file: String, reason: String)
    case imageSizeMismatch(file: String, expected: [Int], found: [Int])

    // Specs and configs (an unknown key is Engine's `UnknownKeyError`, as in every config)
    case invalidValue(key: String, value: String, expected: String)
    case encodingFailed(format: String, reason: String)

    public var description: String {
        switch self {
        case let .pathNotFound(path):
            return "Dataset path \(path) does not exist; check the `path` of the data spec (for Fashion-MNIST run `make data`)."
        case let .unrecognisedLayout(path, found):
            return "Cannot tell the dataset format of \(path): expected IDX files (*-images-idx3-ubyte[.gz]), CIFAR batches (data_batch_N.bin, test_batch.bin, train.bin, test.bin) or class folders, found \(listing(found)); set `format` explicitly or fix the folder."
        case let .missingFile(directory, expected):
            return "\(directory) has no \(expected)."
        case let .ambiguousFiles(directory, expected, found):
            return "\(directory) has several files that could be the \(expected): \(found.joined(separator: ", ")); keep one."
        case let .missingSplit(path, split):
            return "\(path) has no \(split.rawValue) split."
        case let .unreadable(file, reason):
            return "Cannot read \(file): \(reason)."
        case let .badMagic(file, expected, found):
            return "\(file) is not an IDX file of the expected kind: magic number \(hex(found)), expected \(hex(expected))."
        case let .headerLimit(file, field, value, limit):
            return "\(file) claims \(field) = \(value), outside the accepted range (at most \(limit)); the header is corrupt or the file is not what it seems."
        case let .truncated(file, expectedBytes, foundBytes):
            return "\(file) is truncated: its header needs \(expectedBytes) bytes but the file has \(foundBytes)."
        case let .countMismatch(imagesFile, images, labelsFile, labels):
            return "\(imagesFile) holds \(images) images but \(labelsFile) holds \(labels) labels; they must come from the same split."
        case let .shapeMismatch(file, expected, found):
            return "\(file) has images of shape \(shape(found)), but the rest of the dataset is \(shape(expected))."
        case let .labelOutOfRange(file, index, label, classCount):
            return "\(file): label \(label) of example \(index) is not below the class count \(classCount)."
        case let .truncatedRecord(file, recordSize, fileSize):
            return "\(file) has \(fileSize) bytes, not a whole number of \(recordSize)-byte records: the file is truncated or of another CIFAR variant."
        case let .decompressionFailed(file, reason):
            return "Cannot decompress \(file): \(reason)."
        case let .noClassFolders(path):
            return "\(path) has no class folders: an image-folder dataset is laid out as \(path)/<class>/*.png|*.jpg."
        case let .emptyClassFolder(folder):
            return "Class folder \(folder) has no .png, .jpg or .jpeg images; remove it or add images."
        case let .corruptImage(file, reason):
            return "\(file) is not a readable image (\(reason)); replace it, or set skip_corrupt: true to skip such files."
        case let .imageSizeMismatch(file, expected, found):
            return "\(file) is \(found[1])×\(found[0]) (width×height) but the dataset is \(expected[1])×\(expected[0]); resize it or set a `resize` rule."
        case let .invalidValue(key, value, expected):
            return "Invalid value \(value) for \"\(key)\": expected \(expected)."
        case let .encodingFailed(format, reason):
            return "Cannot encode the image as \(format): \(reason)."
        }
    }
}

private func hex(_ v: UInt32) -> String {
    let digits = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

private func shape(_ dims: [Int]) -> String { dims.map(String.init).joined(separator: "×") }

private func listing(_ names: [String]) -> String {
    if names.isEmpty { return "an empty directory" }
    let shown = names.prefix(8).joined(separator: ", ")
    return names.count > 8 ? "\(shown), … (\(names.count) entries)" : shown
}
