import Engine

/// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), read and
/// written by hand so that PyTorch-trained teachers load without Python.
///
/// Layout of a file:
/// ```
/// bytes 0..<8        N, the header length, UInt64 little-endian
/// bytes 8..<8+N      UTF-8 JSON object: name → {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
///                    plus an optional "__metadata__": {string: string}; padded with spaces
/// bytes 8+N..<EOF    the data buffer: each tensor's raw little-endian elements, row-major, at
///                    data_offsets relative to the start of this buffer
/// ```

/// One named tensor of a safetensors file. Values are always Float32 in memory; `dtype` is how
/// the tensor is (or will be) stored on disk.
public struct SafeTensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Row-major elements, `shape.product` of them.
    public let values: [Float]

    /// `values` must hold exactly as many elements as `shape` (a programmer error otherwise).
    public init(name: String, dtype: DType, shape: [Int], values: [Float]) {
        require(elementCount(of: shape) == values.count,
                "safetensors entry '\(name)': shape \(shape) does not hold \(values.count) values")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.values = values
    }

    /// The elements of `tensor` (copied), to be stored as `dtype`.
    public init(name: String, tensor: Tensor, dtype: DType = .f32) {
        self.init(name: name, dtype: dtype, shape: tensor.shape, values: tensor.scalars)
    }

    /// A new tensor holding the values (no gradient).
    public func makeTensor() -> Tensor { Tensor(shape: shape, scalars: values) }
}

/// The contents of one safetensors file: metadata and tensors.
public struct SafeTensorsFile: Sendable, Equatable {
    /// The header's `__metadata__` object (string → string); empty when the file has none.
    public var metadata: [String: String]
    /// Tensors in file order: sorted by data offset when read, written in this order.
    public var entries: [SafeTensorsEntry]

    public init(metadata: [String: String] = [:], entries: [SafeTensorsEntry]) {
        self.metadata = metadata
        self.entries = entries
    }

    /// The entry called `name`, if any. O(number of entries).
    public subscript(name: String) -> SafeTensorsEntry? {
        entries.first { $0.name == name }
    }

    /// Largest header a file may declare. Real headers are a few hundred bytes per tensor; the cap
    /// keeps a corrupt length field from making us allocate gigabytes.
    public static let maximumHeaderLength = 100_000_000
}

/// `shape.product`, or nil for a negative dimension or an overflowing product. A zero dimension
/// makes the count 0 whatever the others are.
func elementCount(of shape: [Int]) -> Int? {
    guard shape.allSatisfy({ $0 >= 0 }) else { return nil }
    if shape.contains(0) { return 0 }
    var count = 1
    for d in shape {
        let (next, overflow) = count.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        count = next
    }
    return count
}
