@testable import NN
import Engine
import Testing

/// Every malformed input is refused with a sentence that names the file, the key and the offsets.
@Suite struct SafeTensorsErrorTests {
    /// Parses `header` + `data` and returns the error, failing the test if parsing succeeds.
    func parseError(header: String, data: [UInt8] = [], pad: Bool = true) -> SafeTensorsError? {
        parseError(safetensorsBytes(header: header, data: data, pad: pad))
    }

    func parseError(_ bytes: [UInt8]) -> SafeTensorsError? {
        do {
            _ = try SafeTensorsFile.parse(bytes, source: "bad.safetensors")
            Issue.record("parsing succeeded")
            return nil
        } catch let error as SafeTensorsError {
            return error
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    /// The description mentions every fragment (and the file name).
    func expectMessage(_ error: SafeTensorsError?, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error else { return }
        for fragment in fragments + ["bad.safetensors"] {
            #expect(error.description.contains(fragment), "'\(fragment)' not in: \(error.description)", sourceLocation: sourceLocation)
        }
    }

    // MARK: File-level

    @Test func aMissingFileIsReportedByPath() {
        #expect(throws: SafeTensorsError.fileNotFound(file: "/nonexistent/dir/model.safetensors")) {
            try SafeTensorsFile.read(path: "/nonexistent/dir/model.safetensors")
        }
    }

    @Test func aDirectoryIsUnreadable() {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        #expect(throws: SafeTensorsError.fileUnreadable(file: dir.path, reason: "it is not a regular file")) {
            try SafeTensorsFile.read(path: dir.path)
        }
    }

    @Test(arguments: [0, 1, 7])
    func aFileShorterThanEightBytesIsRefused(_ size: Int) {
        let error = parseError([UInt8](repeating: 0, count: size))
        #expect(error == .fileTooShort(file: "bad.safetensors", size: size))
        expectMessage(error, ["\(size) bytes"])
    }

    @Test func aHeaderLengthBeyondTheFileIsRefused() {
        let error = parseError(littleEndianBytes(UInt64(100)) + Array("{}".utf8))
        #expect(error == .headerLengthBeyondFile(file: "bad.safetensors", headerLength: 100, fileSize: 10))
        expectMessage(error, ["100-byte header", "10 bytes"])
    }

    /// A corrupt length of 2^62 must be refused from the 8 length bytes alone, before any allocation.
    @Test(arguments: [UInt64(SafeTensorsFile.maximumHeaderLength) + 1, 1 << 62, .max])
    func aHeaderLengthAboveTheCapIsRefusedBeforeAllocating(_ length: UInt64) {
        let error = parseError(littleEndianBytes(length) + Array("{}".utf8))
        #expect(error == .headerLengthAboveCap(file: "bad.safetensors", headerLength: length, cap: 100_000_000))
        expectMessage(error, ["\(length)-byte header", "100000000-byte limit"])
    }

    // MARK: Header JSON

    @Test func invalidJSONNamesTheFileByteOffset() {
        // '}' where a value should be: header byte 6, file byte 14.
        let error = parseError(header: #"{"a": }"#)
        #expect(error == .invalidJSON(file: "bad.safetensors", byteOffset: 14, reason: "expected a JSON value, found character '}'"))
        expectMessage(error, ["file byte 14"])
    }

    @Test(arguments: [
        (#"{"a":1"#, "expected ',' or '}'"),
        (#"{"a":1}x"#, "after the JSON value"),
        (#"{"a\u12":1}"#, "hex digit"),
        (#"{"\ud800":1}"#, "unpaired high surrogate"),
        (#"{"a":tru}"#, "expected 'true'"),
        (#"{"a":01}"#, "',' or '}'"),
        (#"{"a":-}"#, "digit"),
        ("{\"a\u{01}\":1}", "control character"),
        (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), "nested deeper than 64"),
    ])
    func malformedJSONIsRefusedWithAReason(_ header: String, _ reason: String) {
        guard case let .invalidJSON(_, offset, message)? = parseError(header: header) else {
            Issue.record("not an invalidJSON error"); return
        }
        #expect(message.contains(reason), "\(message)")
        let paddedLength = (header.utf8.count + 7) / 8 * 8
        #expect(offset >= 8 && offset <= 8 + paddedLength)
    }

    @Test func invalidUTF8InAKeyIsRefused() {
        var header = Array(#"{"ab":1}"#.utf8)
        header[2] = 0xFF
        let bytes = littleEndianBytes(UInt64(header.count)) + header
        guard case let .invalidJSON(_, _, reason)? = parseError(bytes) else { Issue.record("accepted"); return }
        #expect(reason.contains("UTF-8"))
    }

    @Test func aHeaderThatIsNotAnObjectIsRefused() {
        let error = parseError(header: "[1, 2]")
        #expect(error == .headerNotObject(file: "bad.safetensors", found: "an array"))
    }

    @Test func aRepeatedTensorNameIsRefused() {
        let entry = #"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#
        let error = parseError(header: #"{"w":\#(entry),"w":\#(entry)}"#, data: [1])
        #expect(error == .duplicateKey(file: "bad.safetensors", key: "w"))
        expectMessage(error, ["'w'"])
    }

    @Test func aTensorEntryThatIsNotAnObjectIsRefused() {
        let error = parseError(header: #"{"layer.weight":[1,2]}"#)
        #expect(error == .tensorNotObject(file: "bad.safetensors", key: "layer.weight", found: "an array"))
        expectMessage(error, ["'layer.weight'"])
    }

    @Test(arguments: ["dtype", "shape", "data_offsets"])
    func aTensorEntryMissingAFieldNamesKeyAndField(_ missing: String) {
        let fields = [#""dtype":"F32""#, #""shape":[1]"#, #""data_offsets":[0,4]"#]
            .filter { !$0.hasPrefix("\"\(missing)\"") }
        let error = parseError(header: #"{"conv1.weight":{\#(fields.joined(separator: ","))}}"#, data: [0, 0, 0, 0])
        #expect(error == .missingField(file: "bad.safetensors", key: "conv1.weight", field: missing))
        expectMessage(error, ["'conv1.weight'", "'\(missing)'"])
    }

    @Test(arguments: [
        (#""dtype":5,"shape":[1],"data_offsets":[0,4]"#, "dtype", "the number 5"),
        (#""dtype":"F32","shape":"1","data_offsets":[0,4]"#, "shape", "the string \"1\""),
        (#""dtype":"F32","shape":[1.5],"data_offsets":[0,4]"#, "shape", "the number 1.5"),
        (#""dtype":"F32","shape":[1],"data_offsets":[0]"#, "data_offsets", "an array of 1 elements"),
        (#""dtype":"F32","shape":[1],"data_offsets":[0,4e0]"#, "data_offsets", "[0, 4e0]"),
        (#""dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999]"#, "data_offsets", "99999999999999999999"),
    ])
    func aFieldOfTheWrongTypeNamesKeyFieldAndValue(_ fields: String, _ field: String, _ found: String) {
        let error = parseError(header: #"{"fc.bias":{\#(fields)}}"#, data: [0, 0, 0, 0])
        guard case let .invalidField(_, key, f, _, foundText)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(key == "fc.bias")
        #expect(f == field)
        #expect(foundText.contains(found), "\(foundText)")
        expectMessage(error, ["'fc.bias'", "'\(field)'", found])
    }

    @Test func anUnknownDTypeIsNamed() {
        let error = parseError(header: #"{"q":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, data: [0])
        #expect(error == .unknownDType(file: "bad.safetensors", key: "q", found: "F8_E4M3"))
        expectMessage(error, ["'q'", "'F8_E4M3'", "F32"])
    }

    @Test func aNegativeDimensionIsRefused() {
        let error = parseError(header: #"{"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}}"#, data: .init(repeating: 0, count: 8))
        #expect(error == .negativeDimension(file: "bad.safetensors", key: "w", shape: [-1, 2]))
        expectMessage(error, ["'w'", "[-1, 2]"])
    }

    @Test(arguments: [
        ("[4294967296,4294967296]", "[4294967296, 4294967296]"),            // 2^64 elements
        ("[2305843009213693952]", "[2305843009213693952]"),                 // 2^61 elements × 4 bytes
        ("[99999999999999999999]", "[99999999999999999999]"),               // does not fit in Int
    ])
    func anOverflowingElementCountIsRefused(_ shape: String, _ shown: String) {
        let error = parseError(header: #"{"big":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        #expect(error == .elementCountOverflow(file: "bad.safetensors", key: "big", shape: shown))
        expectMessage(error, ["'big'", shown, "overflows"])
    }

    @Test func aZeroDimensionMakesAnEmptyTensorWhateverTheOtherDimensions() throws {
        let header = #"{"e":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"#
        let file = try SafeTensorsFile.parse(safetensorsBytes(header: header, data: []), source: "empty")
        #expect(file["e"]?.values == [])
    }

    @Test func offsetsSpanningTheWrongByteCountAreRefused() {
        let error = parseError(header: #"{"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,28]}}"#,
                               data: .init(repeating: 0, count: 40))
        #expect(error == .dataLengthMismatch(file: "bad.safetensors", key: "fc.weight", dtype: .f32, shape: [2, 3],
                                             begin: 8, end: 28, expectedBytes: 24))
        expectMessage(error, ["'fc.weight'", "[8, 28]", "20 bytes", "24 bytes"])
    }

    @Test(arguments: [(0, 16), (12, 16), (8, 4), (-4, 4)])
    func offsetsOutsideTheDataBufferAreRefused(_ begin: Int, _ end: Int) {
        let error = parseError(header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[\#(begin),\#(end)]}}"#,
                               data: .init(repeating: 0, count: 8))
        #expect(error == .offsetsOutOfRange(file: "bad.safetensors", key: "x", begin: begin, end: end, dataLength: 8))
        expectMessage(error, ["'x'", "[\(begin), \(end)]", "8-byte data buffer"])
    }

    /// A 2^20 × 2^20 F32 tensor (4 TiB) claimed by a file with 4 data bytes: refused from the header,
    /// by name, before anything is decoded or allocated for it.
    @Test func aTensorClaimingMoreBytesThanTheFileIsRefusedBeforeDecoding() {
        let error = parseError(header: #"{"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}}"#,
                               data: [0, 0, 0, 0])
        #expect(error == .offsetsOutOfRange(file: "bad.safetensors", key: "w", begin: 0, end: 4_398_046_511_104, dataLength: 4))
        expectMessage(error, ["'w'", "[0, 4398046511104]", "4-byte data buffer"])
    }

    @Test func overlappingTensorsAreRefusedByName() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""empty":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let error = parseError(header: header, data: .init(repeating: 0, count: 12))
        #expect(error == .overlappingTensors(file: "bad.safetensors", key: "b", begin: 4, end: 12,
                                             otherKey: "a", otherBegin: 0, otherEnd: 8))
        expectMessage(error, ["'a'", "'b'", "[0, 8]", "[4, 12]"])
    }

    @Test func aTensorInsideAnotherIsAnOverlapToo() {
        let header = #"{"big":{"dtype":"U8","shape":[10],"data_offsets":[0,10]},"#
            + #""mid":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"#
            + #""late":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}"#
        let error = parseError(header: header, data: .init(repeating: 0, count: 10))
        #expect(error == .overlappingTensors(file: "bad.safetensors", key: "mid", begin: 2, end: 4,
                                             otherKey: "big", otherBegin: 0, otherEnd: 10))
    }

    @Test func gapsBetweenTensorsAreTolerated() throws {
        let header = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}}"#
        let file = try SafeTensorsFile.parse(safetensorsBytes(header: header, data: [1, 9, 9, 2, 9]), source: "gaps")
        #expect(file["a"]?.values == [1])
        #expect(file["b"]?.values == [2])
    }

    @Test func nonStringMetadataIsNamedByKey() {
        let error = parseError(header: #"{"__metadata__":{"format":"pt","epoch":7}}"#)
        #expect(error == .invalidMetadata(file: "bad.safetensors", key: "epoch", found: "the number 7"))
        expectMessage(error, ["'epoch'", "the number 7"])
        #expect(parseError(header: #"{"__metadata__":"pt"}"#) == .metadataNotObject(file: "bad.safetensors", found: "the string \"pt\""))
        #expect(parseError(header: #"{"__metadata__":{"k":"a","k":"b"}}"#) == .duplicateKey(file: "bad.safetensors", key: "__metadata__.k"))
    }

    // MARK: Writing

    @Test func writingRefusesRepeatedOrReservedNames() {
        let entry = SafeTensorsEntry(name: "w", dtype: .f32, shape: [1], values: [1])
        #expect(throws: SafeTensorsError.duplicateName(file: "(in memory)", key: "w")) {
            try SafeTensorsFile(metadata: [:], entries: [entry, entry]).serialized()
        }
        #expect(throws: SafeTensorsError.reservedName(file: "(in memory)", key: "__metadata__")) {
            try SafeTensorsFile(metadata: [:], entries: [SafeTensorsEntry(name: "__metadata__", dtype: .f32, shape: [], values: [0])]).serialized()
        }
    }

    @Test(arguments: [(DType.i64, Float.nan), (.i64, 0x1p63), (.i32, 3e9), (.u8, 256), (.u8, -1), (.i32, .infinity)])
    func writingRefusesValuesAnIntegerDTypeCannotHold(_ dtype: DType, _ value: Float) {
        let file = SafeTensorsFile(metadata: [:], entries: [SafeTensorsEntry(name: "n", dtype: dtype, shape: [2], values: [1, value])])
        do {
            _ = try file.serialized()
            Issue.record("\(value) accepted as \(dtype)")
        } catch let error as SafeTensorsError {
            guard case let .valueNotRepresentable(_, key, index, _, errorDType) = error else { Issue.record("\(error)"); return }
            #expect(key == "n" && index == 1 && errorDType == dtype)
            #expect(error.description.contains("index 1"))
        } catch { Issue.record("\(error)") }
    }

    // MARK: Robustness

    static func validFile() throws -> [UInt8] {
        try SafeTensorsFile(metadata: ["format": "pt"], entries: [
            SafeTensorsEntry(name: "a", dtype: .f32, shape: [2, 2], values: [1, 2, 3, 4]),
            SafeTensorsEntry(name: "b", dtype: .f16, shape: [3], values: [1, 2, 3]),
            SafeTensorsEntry(name: "c", dtype: .i64, shape: [], values: [5]),
        ]).serialized()
    }

    /// Every strict prefix of a valid file is refused with a SafeTensorsError (the last tensor ends
    /// at the last byte, so no prefix is itself valid), never a crash.
    @Test func everyTruncationOfAValidFileFailsCleanly() throws {
        let bytes = try Self.validFile()
        #expect(try SafeTensorsFile.parse(bytes, source: "whole").entries.count == 3)
        for length in 0..<bytes.count {
            #expect(throws: SafeTensorsError.self, "prefix of \(length) bytes") {
                try SafeTensorsFile.parse(Array(bytes.prefix(length)), source: "truncated")
            }
        }
    }

    /// Random byte corruption: every outcome is a SafeTensorsError or a file whose entries are
    /// consistent (values fill the shape). A crash fails the whole run.
    @Test func randomCorruptionNeverCrashes() throws {
        let original = try Self.validFile()
        var rng = SeededGenerator(seed: 7)
        var accepted = 0
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            do {
                let file = try SafeTensorsFile.parse(bytes, source: "fuzz")
                accepted += 1
                for entry in file.entries {
                    #expect(entry.values.count == entry.shape.reduce(1, *))
                }
            } catch {
                #expect(error is SafeTensorsError)
            }
        }
        // Flips inside the data buffer keep the file valid: some mutations must be accepted.
        #expect(accepted > 0)
    }
}
