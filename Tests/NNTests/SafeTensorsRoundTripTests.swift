@testable import NN
import Engine
import Testing

/// Writing then reading gives back exactly what was written.
@Suite struct SafeTensorsRoundTripTests {
    @Test func f32AndI64EntriesWithMetadataSurviveAFileRoundTripBitForBit() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        // Awkward F32 values: -0, a subnormal, NaN with a payload, ±∞, extremes, 1/3.
        let floats: [Float] = [-0.0, .leastNonzeroMagnitude, Float(bitPattern: 0x7FC0_1234), .infinity,
                               -.infinity, .greatestFiniteMagnitude, 1.0 / 3.0, -123.456]
        let file = SafeTensorsFile(
            metadata: ["format": "pt", "epoch": "12", "note": "quote \" backslash \\ newline \n tab \t é ✓"],
            entries: [
                SafeTensorsEntry(name: "layer1.0.conv1.weight", dtype: .f32, shape: [2, 2, 2], values: floats),
                SafeTensorsEntry(name: "bn.num_batches_tracked", dtype: .i64, shape: [], values: [782]),
                SafeTensorsEntry(name: "counts", dtype: .i64, shape: [3], values: [-7, 0, 16_777_216]),
                SafeTensorsEntry(name: "empty", dtype: .f32, shape: [0, 4], values: []),
            ])
        let path = dir.path + "/model.safetensors"
        try file.write(to: path)
        let read = try SafeTensorsFile.read(path: path)

        #expect(read.metadata == file.metadata)
        #expect(read.entries.map(\.name) == file.entries.map(\.name))
        #expect(read.entries.map(\.shape) == file.entries.map(\.shape))
        #expect(read.entries.map(\.dtype) == file.entries.map(\.dtype))
        for (a, b) in zip(read.entries, file.entries) {
            #expect(a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "\(a.name)")
        }
    }

    @Test func subscriptFindsEntriesByName() {
        let file = SafeTensorsFile(metadata: [:], entries: [
            SafeTensorsEntry(name: "a", dtype: .f32, shape: [1], values: [1]),
            SafeTensorsEntry(name: "b", dtype: .f32, shape: [1], values: [2]),
        ])
        #expect(file["b"]?.values == [2])
        #expect(file["c"] == nil)
    }

    /// Values representable in each dtype come back unchanged; the writer's dtype conversion is the
    /// inverse of the reader's.
    @Test(arguments: [
        (DType.f16, [Float]([0, -0.0, 1, -2.5, 65504, 0x1p-24, 0x1p-14, .infinity, 0.333251953125])),
        (DType.bf16, [Float]([0, 1, -0x1.FEp127, 0x1p-133, 0.142578125, -.infinity])),
        (DType.f64, [Float]([1.0 / 3.0, .leastNonzeroMagnitude, -.greatestFiniteMagnitude])),
        (DType.i32, [Float]([-2_147_483_648, 0, 2_147_483_520])),
        (DType.u8, [Float]([0, 1, 128, 255])),
    ])
    func everyDTypeRoundTripsItsRepresentableValues(_ dtype: DType, _ values: [Float]) throws {
        let file = SafeTensorsFile(metadata: [:], entries: [
            SafeTensorsEntry(name: "x", dtype: dtype, shape: [values.count], values: values)])
        let read = try SafeTensorsFile.parse(try file.serialized(), source: "memory")
        #expect(read["x"]?.dtype == dtype)
        #expect(read["x"]?.values.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func integerDTypesRoundToNearestEvenWhenWriting() throws {
        let file = SafeTensorsFile(metadata: [:], entries: [
            SafeTensorsEntry(name: "n", dtype: .i64, shape: [5], values: [2.5, 3.5, -2.5, 0.4, 7.6])])
        let read = try SafeTensorsFile.parse(try file.serialized(), source: "memory")
        #expect(read["n"]?.values == [2, 4, -2, 0, 8])
    }

    @Test func tensorConversionKeepsShapeAndValues() {
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let entry = SafeTensorsEntry(name: "w", tensor: t)
        #expect(entry.dtype == .f32)
        #expect(entry.shape == [2, 3])
        let back = entry.makeTensor()
        #expect(back.shape == [2, 3])
        #expect(back.scalars == [1, 2, 3, 4, 5, 6])
    }

    /// The writer lays out the file exactly as the format specifies: compare with bytes spelled out here.
    @Test func serializedBytesFollowTheReferenceLayout() throws {
        let file = SafeTensorsFile(metadata: ["format": "pt"], entries: [
            SafeTensorsEntry(name: "b", dtype: .i64, shape: [2], values: [3, -1]),
            SafeTensorsEntry(name: "a", dtype: .f32, shape: [1, 2], values: [1.5, -2]),
        ])
        let header = #"{"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[16,24]}}"#
        let data: [UInt8] = [3, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 8)
            + [0x00, 0x00, 0xC0, 0x3F] + [0x00, 0x00, 0x00, 0xC0]
        #expect(try file.serialized() == safetensorsBytes(header: header, data: data))
        #expect((try file.serialized().count - 8 - data.count) % 8 == 0)
    }

    @Test func anEmptyFileIsAPaddedEmptyObject() throws {
        let bytes = try SafeTensorsFile(metadata: [:], entries: []).serialized()
        #expect(bytes == littleEndianBytes(UInt64(8)) + Array("{}      ".utf8))
        #expect(try SafeTensorsFile.parse(bytes, source: "memory") == SafeTensorsFile(metadata: [:], entries: []))
    }
}
