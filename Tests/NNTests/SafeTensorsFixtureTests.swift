@testable import NN
import Testing

/// Files laid out by someone else load with the right values: one assembled byte by byte here, and
/// one written by PyTorch's safetensors (Fixtures/make_safetensors_fixture.py).
@Suite struct SafeTensorsFixtureTests {
    @Test func aFileBuiltByteByByteLoadsWithTheExpectedValues() throws {
        // As Python's safetensors lays it out: metadata first, compact JSON, space padding to 8 bytes,
        // then the tensors back to back (this one lists them out of offset order on purpose).
        let header = #"{"__metadata__":{"format":"pt","epoch":"3"},"#
            + #""fc.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},"#
            + #""bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"#
            + #""fc.bias":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}}"#
        let data: [UInt8] =
            [0x39, 0x30, 0, 0, 0, 0, 0, 0]                     // I64 12345 = 0x3039
            + [0x00, 0x00, 0x80, 0x3F]                       // F32 1.0
            + [0x00, 0x00, 0x00, 0xC0]                       // F32 -2.0
            + [0x00, 0x00, 0x40, 0x40]                       // F32 3.0
            + [0xCD, 0xCC, 0xCC, 0x3D]                       // F32 0.1 (0x3DCCCCCD)
            + [0x00, 0x3C]                                   // F16 1.0 (0x3C00)
            + [0x01, 0x80]                                   // F16 -2^-24 (0x8001, smallest negative subnormal)
        let bytes = safetensorsBytes(header: header, data: data)
        #expect((bytes.count - data.count) % 8 == 0)

        let file = try SafeTensorsFile.parse(bytes, source: "handmade")
        #expect(file.metadata == ["format": "pt", "epoch": "3"])
        #expect(file.entries.map(\.name) == ["bn.num_batches_tracked", "fc.weight", "fc.bias"])  // offset order
        #expect(file["bn.num_batches_tracked"]?.shape == [])
        #expect(file["bn.num_batches_tracked"]?.values == [12345])
        #expect(file["fc.weight"]?.shape == [2, 2])
        #expect(file["fc.weight"]?.values == [1, -2, 3, 0.1])
        #expect(file["fc.bias"]?.dtype == .f16)
        #expect(file["fc.bias"]?.values == [1, -0x1p-24])
    }

    @Test func aHeaderWithoutPaddingOrWithWhitespaceAlsoLoads() throws {
        let header = "\n { \"x\" : { \"shape\" : [ 1 ] , \"data_offsets\" : [ 0 , 1 ] , \"dtype\" : \"U8\" } } \t"
        let file = try SafeTensorsFile.parse(safetensorsBytes(header: header, data: [200], pad: false), source: "spaced")
        #expect(file["x"]?.values == [200])
    }

    static let pytorchFixture = fixturesDirectory + "/pytorch_dtypes.safetensors"

    /// Values printed by make_safetensors_fixture.py (Float32 values of `t.float()`).
    @Test func aFileWrittenByPyTorchLoadsWithThePrintedValues() throws {
        let file = try SafeTensorsFile.read(path: Self.pytorchFixture)
        #expect(file.metadata == ["format": "pt", "epoch": "7"])
        // PyTorch's writer orders by dtype, then name; reading sorts by offset, i.e. file order.
        #expect(file.entries.map(\.name) == ["bn1.num_batches_tracked", "counts", "double", "conv1.weight", "bn1.weight", "half"])

        let expected: [String: (DType, [Int], [Float])] = [
            "conv1.weight": (.f32, [2, 3], [-0.30000001192092896, -0.17500001192092896, -0.050000011920928955,
                                            0.07499998807907104, 0.19999998807907104, 0.32499998807907104]),
            "half": (.f16, [8], [-0.66650390625, -0.333251953125, 0.0, 0.333251953125, 65504.0,
                                 5.960464477539063e-08, -0.0, .infinity]),
            "bn1.weight": (.bf16, [2, 2], [0.142578125, 0.28515625, 0.427734375, 0.5703125]),
            "double": (.f64, [4], [0.3333333432674408, -0.2857142984867096, 9.99994610111476e-41, 123456792.0]),
            "bn1.num_batches_tracked": (.i64, [], [12345.0]),
            "counts": (.i64, [3], [-5.0, 0.0, 1099511627776.0]),
        ]
        for (name, (dtype, shape, values)) in expected {
            let entry = try #require(file[name], "\(name) missing")
            #expect(entry.dtype == dtype, "\(name)")
            #expect(entry.shape == shape, "\(name)")
            #expect(entry.values.map(\.bitPattern) == values.map(\.bitPattern), "\(name)")  // -0 vs 0 matters
        }
    }

    /// Our writer reproduces PyTorch's file: the same header bytes and the same data for every value
    /// that survives Float32 (all but the F64 tensor and the I64 2^40 + 1, which were rounded on load).
    @Test func rewritingThePyTorchFileReproducesItsBytes() throws {
        let original = try #require(fileBytes(Self.pytorchFixture))
        let rewritten = try SafeTensorsFile.read(path: Self.pytorchFixture).serialized()
        #expect(rewritten.count == original.count)
        let headerEnd = 8 + Int(original[0]) + Int(original[1]) << 8
        #expect(Array(rewritten[0..<headerEnd]) == Array(original[0..<headerEnd]))
        // In PyTorch's layout counts[2] occupies data bytes 24..<32 and "double" 32..<64.
        let rounded = (headerEnd + 24)..<(headerEnd + 64)
        for i in 0..<min(original.count, rewritten.count) where !rounded.contains(i) {
            if rewritten[i] != original[i] { Issue.record("byte \(i) differs"); break }
        }
    }
}
