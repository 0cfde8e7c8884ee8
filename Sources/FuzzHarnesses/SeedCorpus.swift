@_spi(Parsing) import Datasets
import Engine
import NN

/// The seed files made by our own writers: small inputs per target that the harness accepts (named
/// `valid-…`; the regression tests require them to be accepted) and a few it refuses, most of them one
/// mistake away from valid (`near-…`). `advdistill-fuzz seeds <folder>` writes them; the rest of the committed corpus (images
/// from Data/sample-folder and ImageMagick, configs from Configs/) is listed in
/// Tests/Fixtures/fuzz/README.md.
public enum SeedCorpus {
    public struct Seed: Sendable {
        public let target: FuzzTarget
        public let name: String
        public let bytes: [UInt8]
    }

    public static func generated() throws -> [Seed] {
        try safetensors() + idx() + cifar() + images()
    }

    static func safetensors() throws -> [Seed] {
        let dtypes = try SafeTensorsFile(metadata: ["note": "fuzz seed"], entries: [
            SafeTensorsEntry(name: "f32", dtype: .f32, shape: [2, 3], values: [0, 1, -2, 3.5, 1e-3, 65504]),
            SafeTensorsEntry(name: "f16", dtype: .f16, shape: [2], values: [0.5, -1]),
            SafeTensorsEntry(name: "bf16", dtype: .bf16, shape: [2], values: [2, -0.25]),
            SafeTensorsEntry(name: "f64", dtype: .f64, shape: [1], values: [3]),
            SafeTensorsEntry(name: "i64", dtype: .i64, shape: [], values: [7]),
            SafeTensorsEntry(name: "i32", dtype: .i32, shape: [3], values: [-1, 0, 1]),
            SafeTensorsEntry(name: "u8", dtype: .u8, shape: [2, 2], values: [0, 1, 254, 255]),
            SafeTensorsEntry(name: "empty", dtype: .f32, shape: [0, 5], values: []),
        ]).serialized()
        // The seed model with every value 0 (1 for the BatchNorm variances), stored as U8 to stay small:
        // a complete checkpoint that loads, so mutations reach the size, key and shape checks.
        var rng = SeededGenerator(seed: 0)
        let model = Checkpoint.file(of: try ModelZoo.make(SafeTensorsHarness.seedSpec, rng: &rng))
        let zeros = model.entries.map { e in
            SafeTensorsEntry(name: e.name, dtype: e.name.hasSuffix("num_batches_tracked") ? .i64 : .u8, shape: e.shape,
                             values: [Float](repeating: e.name.hasSuffix("running_var") ? 1 : 0, count: e.values.count))
        }
        let checkpoint = try SafeTensorsFile(metadata: model.metadata, entries: zeros).serialized()
        return [
            // Every dtype, a 0-d and an empty tensor: parses, but is not the harness's model.
            Seed(target: .safetensors, name: "dtypes-not-a-checkpoint.safetensors", bytes: dtypes),
            Seed(target: .safetensors, name: "valid-tinycnn.safetensors", bytes: checkpoint),
            Seed(target: .safetensors, name: "near-truncated.safetensors", bytes: Array(dtypes.dropLast(3))),
        ]
    }

    static func idx() throws -> [Seed] {
        let (rows, cols) = (4, 5)
        let labels: [UInt8] = [0, 3, 9]
        let pixels = (0..<labels.count * rows * cols).map { UInt8($0 * 7 % 256) }
        let images = bigEndian32(0x0803) + bigEndian32(UInt32(labels.count)) + bigEndian32(UInt32(rows))
            + bigEndian32(UInt32(cols)) + pixels
        let labelFile = bigEndian32(0x0801) + bigEndian32(UInt32(labels.count)) + labels
        return [
            Seed(target: .idx, name: "valid-raw.idx", bytes: IDXHarness.frame(images: images, labels: labelFile)),
            Seed(target: .idx, name: "valid-gzip.idx",
                 bytes: IDXHarness.frame(images: try gzip(images, level: 9), labels: try gzip(labelFile, level: 9))),
            Seed(target: .idx, name: "valid-gzip-images-raw-labels.idx",
                 bytes: IDXHarness.frame(images: try gzip(images, level: 1), labels: labelFile)),
            Seed(target: .idx, name: "near-count-mismatch.idx",
                 bytes: IDXHarness.frame(images: images, labels: bigEndian32(0x0801) + bigEndian32(2) + labels.prefix(2))),
        ]
    }

    static func cifar() -> [Seed] {
        let pixels = (0..<3072).map { UInt8($0 * 13 % 256) }
        return [
            Seed(target: .cifar, name: "valid-cifar10-2-records.bin", bytes: [3] + pixels + [9] + pixels.reversed()),
            Seed(target: .cifar, name: "valid-cifar100-1-record.bin", bytes: [19, 99] + pixels),
            Seed(target: .cifar, name: "near-cifar10-record-cut.bin", bytes: [3] + pixels.dropLast()),
        ]
    }

    static func images() throws -> [Seed] {
        let (width, height) = (7, 5)
        let rgb = (0..<width * height * 3).map { UInt8($0 * 11 % 256) }
        let grey = (0..<width * height).map { UInt8($0 * 9 % 256) }
        let png = try encodePNG(pixels: rgb, width: width, height: height, channels: 3)
        let jpeg = try encodeJPEG(pixels: rgb, width: width, height: height, channels: 3, quality: 80)
        return [
            Seed(target: .png, name: "valid-rgb-7x5.png", bytes: png),
            Seed(target: .png, name: "valid-grey-7x5.png", bytes: try encodePNG(pixels: grey, width: width, height: height, channels: 1)),
            Seed(target: .png, name: "near-cut-in-idat.png", bytes: Array(png.prefix(png.count - 20))),
            Seed(target: .jpeg, name: "valid-rgb-7x5.jpg", bytes: jpeg),
            Seed(target: .jpeg, name: "valid-grey-7x5.jpg",
                 bytes: try encodeJPEG(pixels: grey, width: width, height: height, channels: 1, quality: 80)),
            Seed(target: .jpeg, name: "near-cut-in-scan.jpg", bytes: Array(jpeg.prefix(jpeg.count - 40))),
        ]
    }

    private static func bigEndian32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }
}
