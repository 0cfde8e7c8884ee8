import Engine

/// Which dataset to load: the one value configs and the CLI pass around.
///
/// JSON (snake_case keys; only `path` is required):
/// ```json
/// { "format": "idx", "path": "Data/fashion-mnist", "split": "train", "limit": 1000,
///   "channels": 1, "resize": { "filter": "bilinear", "height": 32, "width": 32 }, "skip_corrupt": false }
/// ```
/// Keys are strict, as in a run config (Engine's `rejectUnknownKeys`): an unknown key or another spelling
/// ("skipCorrupt") is an `UnknownKeyError` naming its path and the key it most likely meant, so a typo in a
/// config cannot silently fall back to a default.
public struct DataSpec: Codable, Sendable, Equatable {
    /// The on-disk format; detected from the directory's contents when nil (see `DataFormat.detect`).
    public var format: DataFormat?
    /// A directory: IDX files, CIFAR batches, or `<class>/` image folders.
    public var path: String
    public var split: Split
    /// Keep only the first `limit` examples (image folders: taken round-robin over the classes).
    public var limit: Int?
    /// 1 (grey) or 3 (RGB). Default: the format's own (IDX 1, CIFAR 3, folders the first image's).
    /// Grey→RGB repeats the channel; RGB→grey is BT.601 luma 0.299 R + 0.587 G + 0.114 B.
    public var channels: Int?
    /// How to bring images to one size (see `ResizeRule`); without it, a folder image whose size
    /// differs from the first image's is an error.
    public var resize: ResizeRule?
    /// Image folders: skip files that fail to decode instead of failing (`Dataset.skippedFiles` lists them).
    public var skipCorrupt: Bool?

    public init(format: DataFormat? = nil, path: String, split: Split = .train, limit: Int? = nil,
                channels: Int? = nil, resize: ResizeRule? = nil, skipCorrupt: Bool? = nil) {
        self.format = format
        self.path = path
        self.split = split
        self.limit = limit
        self.channels = channels
        self.resize = resize
        self.skipCorrupt = skipCorrupt
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case format, path, split, limit, channels, resize, skipCorrupt = "skip_corrupt"
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let path = try c.decodeIfPresent(String.self, forKey: .path) else {
            throw DatasetError.invalidValue(key: "path", value: "nothing", expected: "the dataset directory")
        }
        self.init(format: try c.decodeIfPresent(DataFormat.self, forKey: .format),
                  path: path,
                  split: try c.decodeIfPresent(Split.self, forKey: .split) ?? .train,
                  limit: try c.decodeIfPresent(Int.self, forKey: .limit),
                  channels: try c.decodeIfPresent(Int.self, forKey: .channels),
                  resize: try c.decodeIfPresent(ResizeRule.self, forKey: .resize),
                  skipCorrupt: try c.decodeIfPresent(Bool.self, forKey: .skipCorrupt))
        try validate()
    }

    /// Checks the values a type cannot express; `Dataset.load` calls it too, for specs built in code.
    func validate() throws {
        if let limit, limit < 1 {
            throw DatasetError.invalidValue(key: "limit", value: String(limit), expected: "a positive number of examples")
        }
        if let channels, channels != 1, channels != 3 {
            throw DatasetError.invalidValue(key: "channels", value: String(channels), expected: "1 (grey) or 3 (RGB)")
        }
        try resize?.validate()
    }
}

/// On-disk dataset formats.
public enum DataFormat: String, Codable, Sendable, CaseIterable {
    /// IDX (MNIST, Fashion-MNIST, KMNIST, EMNIST): `<split>-images-idx3-ubyte` + `-labels-idx1-ubyte`, raw or `.gz`.
    case idx
    /// CIFAR-10 binary: `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`.
    case cifar10
    /// CIFAR-100 binary: `train.bin`, `test.bin` (coarse and fine labels; the fine ones are used).
    case cifar100
    /// `root/<class>/*.png|*.jpg|*.jpeg`, classes sorted by name; optional `root/train/`, `root/test/`.
    case folder

    public init(from decoder: Decoder) throws {
        self = try decodeEnum(decoder, key: "format")
    }
}

/// Which part of a dataset.
public enum Split: String, Codable, Sendable, CaseIterable {
    case train, test

    public init(from decoder: Decoder) throws {
        self = try decodeEnum(decoder, key: "split")
    }
}

/// How images of a size other than the dataset's are brought to it.
///
/// The target size is `height`×`width` when given, otherwise the size of the dataset's first image
/// (folders: the first file of the first class in sorted order). With explicit sizes the rule also
/// resizes IDX and CIFAR images. Filters (sample positions at pixel centres, as PyTorch's
/// `align_corners=False`; source coordinate `(d + 0.5)·in/out − 0.5` for destination pixel `d`):
/// - `nearest`: the source pixel `floor((d + 0.5)·in/out)` (PyTorch's "nearest-exact");
/// - `bilinear`: weighted mean of the four surrounding pixels, coordinates clamped to the image,
///   rounded to the nearest integer. No anti-aliasing: shrinking by more than 2× skips pixels.
public struct ResizeRule: Codable, Sendable, Equatable {
    public var filter: ResizeFilter
    public var height: Int?
    public var width: Int?

    public init(filter: ResizeFilter, height: Int? = nil, width: Int? = nil) {
        self.filter = filter
        self.height = height
        self.width = width
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case filter, height, width }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(allowed: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let filter = try c.decodeIfPresent(ResizeFilter.self, forKey: .filter) else {
            throw DatasetError.invalidValue(key: "resize.filter", value: "nothing", expected: "\"nearest\" or \"bilinear\"")
        }
        self.init(filter: filter, height: try c.decodeIfPresent(Int.self, forKey: .height),
                  width: try c.decodeIfPresent(Int.self, forKey: .width))
        try validate()
    }

    func validate() throws {
        if (height == nil) != (width == nil) {
            throw DatasetError.invalidValue(key: "resize", value: "only one of height and width",
                                            expected: "both height and width, or neither (the first image's size)")
        }
        for (key, v) in [("resize.height", height), ("resize.width", width)] {
            if let v, !(1...maxImageSide).contains(v) {
                throw DatasetError.invalidValue(key: key, value: String(v), expected: "a size in 1...\(maxImageSide)")
            }
        }
    }
}

public enum ResizeFilter: String, Codable, Sendable, CaseIterable {
    case nearest, bilinear

    public init(from decoder: Decoder) throws {
        self = try decodeEnum(decoder, key: "resize.filter")
    }
}

/// Largest image side any loader accepts. Larger claims in a header are refused before allocating.
let maxImageSide = 16_384

// MARK: - Enums

/// Decodes a string enum, turning an unknown value into a `DatasetError` that lists the choices.
private func decodeEnum<E: RawRepresentable & CaseIterable>(_ decoder: Decoder, key: String) throws -> E
where E.RawValue == String {
    let raw = try decoder.singleValueContainer().decode(String.self)
    guard let value = E(rawValue: raw) else {
        throw DatasetError.invalidValue(key: key, value: "\"\(raw)\"",
                                        expected: E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
    }
    return value
}
