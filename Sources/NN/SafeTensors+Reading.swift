#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension SafeTensorsFile {
    /// Reads and validates the file at `path` (see `parse` for what is checked).
    public static func read(path: String) throws -> SafeTensorsFile {
        try parse(readWholeFile(path), source: path)
    }

    /// Parses a complete safetensors file held in memory. `source` names it in error messages.
    ///
    /// Every structural rule is checked before any tensor is decoded, and no input makes it trap:
    /// the header length is compared with the data and with `maximumHeaderLength` before anything is
    /// allocated for it; shapes and offsets are computed with overflow checks; tensors must lie inside
    /// the data buffer, match `elements × dtype size` exactly and not overlap. Unlike the reference
    /// implementation, gaps between tensors and unused trailing bytes are tolerated.
    /// Entries come back sorted by data offset (file order).
    public static func parse(_ bytes: [UInt8], source: String) throws -> SafeTensorsFile {
        try bytes.withUnsafeBufferPointer { try parse(buffer: $0, source: source) }
    }

    private static func parse(buffer bytes: UnsafeBufferPointer<UInt8>, source file: String) throws(SafeTensorsError) -> SafeTensorsFile {
        guard bytes.count >= 8, let base = bytes.baseAddress else {
            throw .fileTooShort(file: file, size: bytes.count)
        }
        let headerLength = UInt64(littleEndian: UnsafeRawPointer(base).loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(maximumHeaderLength) else {
            throw .headerLengthAboveCap(file: file, headerLength: headerLength, cap: maximumHeaderLength)
        }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw .headerLengthBeyondFile(file: file, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(headerLength)
        let header: JSONValue
        do {
            header = try JSONParser.parse(UnsafeBufferPointer(rebasing: bytes[8..<dataStart]))
        } catch {
            throw .invalidJSON(file: file, byteOffset: 8 + error.offset, reason: error.reason)
        }
        guard case let .object(members) = header else {
            throw .headerNotObject(file: file, found: header.kindDescription)
        }

        let dataLength = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var layouts: [TensorLayout] = []
        var seen = Set<String>()
        for (key, value) in members {
            guard seen.insert(key).inserted else { throw .duplicateKey(file: file, key: key) }
            if key == "__metadata__" {
                metadata = try parseMetadata(value, file: file)
            } else {
                layouts.append(try TensorLayout(key: key, json: value, dataLength: dataLength, file: file))
            }
        }

        // File order, and no two non-empty tensors sharing a byte.
        layouts.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var furthest: TensorLayout?
        for layout in layouts where layout.end > layout.begin {
            if let previous = furthest, layout.begin < previous.end {
                throw .overlappingTensors(file: file, key: layout.key, begin: layout.begin, end: layout.end,
                                          otherKey: previous.key, otherBegin: previous.begin, otherEnd: previous.end)
            }
            if furthest.map({ layout.end > $0.end }) ?? true { furthest = layout }
        }

        let data = UnsafeRawPointer(base + dataStart)
        let entries = layouts.map { layout in
            let values = [Float](unsafeUninitializedCapacity: layout.count) { out, initialized in
                if let p = out.baseAddress { layout.dtype.decode(data + layout.begin, count: layout.count, into: p) }
                initialized = layout.count
            }
            return SafeTensorsEntry(name: layout.key, dtype: layout.dtype, shape: layout.shape, values: values)
        }
        return SafeTensorsFile(metadata: metadata, entries: entries)
    }

    private static func parseMetadata(_ value: JSONValue, file: String) throws(SafeTensorsError) -> [String: String] {
        guard case let .object(pairs) = value else {
            throw .metadataNotObject(file: file, found: value.kindDescription)
        }
        var metadata: [String: String] = [:]
        for (key, v) in pairs {
            guard case let .string(s) = v else { throw .invalidMetadata(file: file, key: key, found: v.kindDescription) }
            guard metadata.updateValue(s, forKey: key) == nil else {
                throw .duplicateKey(file: file, key: "__metadata__.\(key)")
            }
        }
        return metadata
    }
}

/// One validated header entry: where a tensor's bytes are and how to decode them.
private struct TensorLayout {
    let key: String
    let dtype: DType
    let shape: [Int]
    let count: Int
    /// Byte range in the data buffer.
    let begin: Int, end: Int

    init(key: String, json: JSONValue, dataLength: Int, file: String) throws(SafeTensorsError) {
        guard case let .object(members) = json else {
            throw .tensorNotObject(file: file, key: key, found: json.kindDescription)
        }
        var fields: [String: JSONValue] = [:]
        for (field, value) in members {
            guard fields.updateValue(value, forKey: field) == nil else {
                throw .duplicateKey(file: file, key: "\(key).\(field)")
            }
        }
        func field(_ name: String) throws(SafeTensorsError) -> JSONValue {
            guard let v = fields[name] else { throw .missingField(file: file, key: key, field: name) }
            return v
        }

        // dtype
        let dtypeJSON = try field("dtype")
        guard case let .string(dtypeName) = dtypeJSON else {
            throw .invalidField(file: file, key: key, field: "dtype", expected: "a string such as \"F32\"", found: dtypeJSON.kindDescription)
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .unknownDType(file: file, key: key, found: dtypeName)
        }

        // shape
        let shapeJSON = try field("shape")
        guard case let .array(dims) = shapeJSON else {
            throw .invalidField(file: file, key: key, field: "shape", expected: "an array of integers", found: shapeJSON.kindDescription)
        }
        var shape: [Int] = []
        for d in dims {
            switch d.integerValue {
            case let .value(v): shape.append(v)
            case .outOfRange:
                throw .elementCountOverflow(file: file, key: key, shape: "[\(dims.map(\.literalText).joined(separator: ", "))]")
            case .notAnInteger:
                throw .invalidField(file: file, key: key, field: "shape", expected: "an array of integers", found: "an element that is \(d.kindDescription)")
            }
        }
        if shape.contains(where: { $0 < 0 }) { throw .negativeDimension(file: file, key: key, shape: shape) }
        guard let count = elementCount(of: shape) else {
            throw .elementCountOverflow(file: file, key: key, shape: "\(shape)")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        if overflow { throw .elementCountOverflow(file: file, key: key, shape: "\(shape)") }

        // data_offsets
        let offsetsJSON = try field("data_offsets")
        let expectedOffsets = "an array of two non-negative integers [begin, end]"
        guard case let .array(offsets) = offsetsJSON, offsets.count == 2 else {
            throw .invalidField(file: file, key: key, field: "data_offsets", expected: expectedOffsets, found: offsetsJSON.kindDescription
                                    + (offsetsJSON.arrayCount.map { " of \($0) elements" } ?? ""))
        }
        guard case let .value(begin) = offsets[0].integerValue, case let .value(end) = offsets[1].integerValue else {
            throw .invalidField(file: file, key: key, field: "data_offsets", expected: expectedOffsets + " within the data buffer",
                                found: "[\(offsets[0].literalText), \(offsets[1].literalText)]")
        }
        guard 0 <= begin, begin <= end, end <= dataLength else {
            throw .offsetsOutOfRange(file: file, key: key, begin: begin, end: end, dataLength: dataLength)
        }
        guard end - begin == byteCount else {
            throw .dataLengthMismatch(file: file, key: key, dtype: dtype, shape: shape, begin: begin, end: end, expectedBytes: byteCount)
        }
        self.key = key
        self.dtype = dtype
        self.shape = shape
        self.count = count
        self.begin = begin
        self.end = end
    }
}

private extension JSONValue {
    /// Numbers as written, anything else by kind (for messages quoting an offending array).
    var literalText: String {
        if case let .number(n) = self { return String(n.prefix(40)) }
        return kindDescription
    }
    var arrayCount: Int? {
        if case let .array(a) = self { return a.count }
        return nil
    }
}

/// The whole file at `path`, with errors that say why it could not be read.
private func readWholeFile(_ path: String) throws(SafeTensorsError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        let code = errno
        if code == ENOENT { throw .fileNotFound(file: path) }
        throw .fileUnreadable(file: path, reason: systemErrorDescription(code))
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .fileUnreadable(file: path, reason: systemErrorDescription(errno)) }
    guard info.st_mode & S_IFMT == S_IFREG else { throw .fileUnreadable(file: path, reason: "it is not a regular file") }
    let size = Int(info.st_size)
    var failure: Int32?
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        initialized = 0
        guard let start = buffer.baseAddress else { return }
        while initialized < size {
            let n = read(fd, start + initialized, size - initialized)
            if n > 0 { initialized += n; continue }
            if n == 0 { break }          // the file shrank while we read it
            if errno == EINTR { continue }
            failure = errno
            return
        }
    }
    if let failure { throw .fileUnreadable(file: path, reason: systemErrorDescription(failure)) }
    return bytes
}

/// `strerror` text for an errno value.
func systemErrorDescription(_ code: Int32) -> String {
    guard let message = strerror(code) else { return "error \(code)" }
    return String(cString: message) + " (errno \(code))"
}
