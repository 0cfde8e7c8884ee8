import Engine

/// A labelled image dataset held in memory as bytes.
///
/// `images` is [count, channels, height, width] row-major with one UInt8 per sample (a quarter of
/// the Float32 size: 47 MB for Fashion-MNIST, 150 MB for CIFAR-10), converted to Float
/// in [0, 1] one batch at a time (Dataset+Tensor.swift).
public struct Dataset: Sendable {
    /// [count, channels, height, width], 0...255.
    public let images: [UInt8]
    /// One per image, each in 0..<classNames.count.
    public let labels: [Int]
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classNames: [String]
    /// The directory it was loaded from (or a description, for datasets built in code).
    public let source: String
    public let format: DataFormat
    public let split: Split
    /// Files left out by `skip_corrupt: true` because they did not decode (empty otherwise).
    public let skippedFiles: [String]

    public var count: Int { labels.count }
    /// [channels, height, width].
    public var imageShape: [Int] { [channels, height, width] }
    var imageSize: Int { channels * height * width }

    /// A dataset from bytes already in memory (synthetic data, tests). Traps when the sizes
    /// disagree or a label is outside the classes: those are programming errors, not bad input.
    public init(images: [UInt8], labels: [Int], channels: Int, height: Int, width: Int, classNames: [String],
                source: String, format: DataFormat = .folder, split: Split = .train, skippedFiles: [String] = []) {
        require(channels > 0 && height > 0 && width > 0, "image shape must be positive")
        require(images.count == labels.count * channels * height * width,
                "\(images.count) bytes for \(labels.count) images of \(channels)×\(height)×\(width)")
        require(labels.allSatisfy { (0..<classNames.count).contains($0) }, "labels must index classNames")
        self.images = images
        self.labels = labels
        self.channels = channels
        self.height = height
        self.width = width
        self.classNames = classNames
        self.source = source
        self.format = format
        self.split = split
        self.skippedFiles = skippedFiles
    }

    /// Loads the split `spec` names. See `DataSpec` and `DataFormat` for layouts and options;
    /// every problem with the files is a `DatasetError` naming the file.
    public static func load(_ spec: DataSpec) throws -> Dataset {
        try spec.validate()
        let path = spec.path
        guard FileAccess.exists(path) else { throw DatasetError.pathNotFound(path: path) }
        guard FileAccess.isDirectory(path) else {
            throw DatasetError.unrecognisedLayout(path: path, found: ["a file (expected a directory)"])
        }
        let format = try spec.format ?? DataFormat.detect(in: path)
        var raw: LoadedImages
        switch format {
        case .idx: raw = try IDX.load(directory: path, split: spec.split, limit: spec.limit)
        case .cifar10, .cifar100:
            raw = try CIFAR.load(directory: path, hundred: format == .cifar100, split: spec.split, limit: spec.limit)
        case .folder: raw = try ImageFolder.load(spec)
        }
        // Folders convert channels and size per file while decoding; the binary formats do it here.
        if let want = spec.channels, want != raw.channels {
            raw.images = ImageOps.convertChannels(raw.images, count: raw.labels.count, from: raw.channels, to: want,
                                                  plane: raw.height * raw.width)
            raw.channels = want
        }
        if let rule = spec.resize, let h = rule.height, let w = rule.width, (h, w) != (raw.height, raw.width) {
            raw.resizeAll(toHeight: h, toWidth: w, filter: rule.filter)
        }
        return Dataset(images: raw.images, labels: raw.labels, channels: raw.channels, height: raw.height,
                       width: raw.width, classNames: raw.classNames, source: path, format: format,
                       split: spec.split, skippedFiles: raw.skipped)
    }

    /// The examples at `indices`, in that order (repeats allowed).
    public func subset(_ indices: [Int]) -> Dataset {
        let size = imageSize
        var out = [UInt8](repeating: 0, count: indices.count * size)
        out.withUnsafeMutableBufferPointer { dst in
            images.withUnsafeBufferPointer { src in
                for (k, i) in indices.enumerated() {
                    require((0..<count).contains(i), "subset index \(i) outside 0..<\(count)")
                    dst.baseAddress!.advanced(by: k * size).update(from: src.baseAddress!.advanced(by: i * size), count: size)
                }
            }
        }
        return Dataset(images: out, labels: indices.map { labels[$0] }, channels: channels, height: height,
                       width: width, classNames: classNames, source: source, format: format, split: split,
                       skippedFiles: skippedFiles)
    }

    /// A deterministic train/validation split: a seeded permutation puts `round(count·valFraction)`
    /// examples in `val` and the rest in `train`, each kept in the original order. Same seed, same split.
    public func split(valFraction: Double, seed: UInt64) -> (train: Dataset, val: Dataset) {
        require((0...1).contains(valFraction), "valFraction must be in [0, 1]")
        let valCount = Int((Double(count) * valFraction).rounded())
        var order = Array(0..<count)
        var rng = SeededGenerator(key: seed, RandomStream.validationSplit.rawValue)
        order.seededShuffle(using: &rng)
        return (subset(order[valCount...].sorted()), subset(order[..<valCount].sorted()))
    }
}

/// What a format loader hands back before it becomes a `Dataset`.
struct LoadedImages {
    var images: [UInt8]
    var labels: [Int]
    var channels: Int
    var height: Int
    var width: Int
    var classNames: [String]
    var skipped: [String] = []

    mutating func resizeAll(toHeight h: Int, toWidth w: Int, filter: ResizeFilter) {
        let inSize = channels * height * width
        var out = [UInt8]()
        out.reserveCapacity(labels.count * channels * h * w)
        for i in 0..<labels.count {
            let one = Array(images[i * inSize..<(i + 1) * inSize])
            out += ImageOps.resize(one, channels: channels, height: height, width: width, toHeight: h, toWidth: w, filter: filter)
        }
        images = out
        height = h
        width = w
    }
}
