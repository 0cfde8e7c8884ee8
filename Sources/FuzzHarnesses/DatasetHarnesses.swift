@_spi(Parsing) import Datasets

/// `IDX.decode`, the loader's code after reading the two files. The input is framed as
/// `[n: UInt32 big-endian][images file: n bytes][labels file: the rest]` (n clamped to what is there),
/// so one input mutates both files and their agreement.
enum IDXHarness {
    static func run(_ bytes: [UInt8]) throws {
        let declared = bytes.count >= 4 ? Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3]) : 0
        let body = bytes.dropFirst(4)
        let split = body.startIndex + min(declared, body.count)
        _ = try IDX.decode(images: Array(body[..<split]), named: "fuzz-images-idx3-ubyte",
                           labels: Array(body[split...]), named: "fuzz-labels-idx1-ubyte", limit: nil)
    }

    /// The framing `run` expects, for writing seeds and regression inputs.
    static func frame(images: [UInt8], labels: [UInt8]) -> [UInt8] {
        let n = UInt32(images.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + images + labels
    }
}

/// `CIFAR.records` on the input read as a CIFAR-10 batch (3073-byte records) and as a CIFAR-100
/// batch (3074-byte records). Accepted when either reading succeeds; otherwise the CIFAR-10 refusal
/// is reported.
enum CIFARHarness {
    static func run(_ bytes: [UInt8]) throws {
        let hundred = Result { try CIFAR.records(bytes, file: "fuzz-train.bin", hundred: true, limit: .max) }
        do {
            _ = try CIFAR.records(bytes, file: "fuzz-data_batch_1.bin", hundred: false, limit: .max)
        } catch {
            guard case .success = hundred else { throw error }
        }
    }
}
