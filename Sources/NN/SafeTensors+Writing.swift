#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension SafeTensorsFile {
    /// The file's bytes: header length, compact JSON header (`__metadata__` first when non-empty,
    /// with sorted keys, then the entries in their order) padded with spaces to a multiple of 8 bytes
    /// as the reference implementation does, then each entry's little-endian elements back to back.
    ///
    /// F32 and F64 are stored exactly, F16 and BF16 rounded to nearest (ties to even; beyond the
    /// half range → ±∞), integer dtypes rounded to nearest (ties to even). Throws for a repeated name
    /// or a value an integer dtype cannot hold (NaN, ±∞, out of range).
    public func serialized() throws -> [UInt8] {
        try serialized(file: "(in memory)")
    }

    func serialized(file: String) throws(SafeTensorsError) -> [UInt8] {
        var names = Set<String>()
        var members: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSONValue.string($0.value)) }
            members.append((key: "__metadata__", value: .object(pairs)))
        }
        var offset = 0
        for entry in entries {
            guard entry.name != "__metadata__" else { throw .reservedName(file: file, key: entry.name) }
            guard names.insert(entry.name).inserted else { throw .duplicateName(file: file, key: entry.name) }
            let end = offset + entry.values.count * entry.dtype.byteSize
            members.append((key: entry.name, value: .object([
                (key: "dtype", value: .string(entry.dtype.rawValue)),
                (key: "shape", value: .array(entry.shape.map { .number(String($0)) })),
                (key: "data_offsets", value: .array([.number(String(offset)), .number(String(end))])),
            ])))
            offset = end
        }
        var header = Array(JSONValue.object(members).serialized.utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        guard header.count <= Self.maximumHeaderLength else {
            throw .headerLengthAboveCap(file: file, headerLength: UInt64(header.count), cap: Self.maximumHeaderLength)
        }

        let dataStart = 8 + header.count
        var bytes = [UInt8](repeating: 0, count: dataStart + offset)
        let encodingError = bytes.withUnsafeMutableBytes { raw -> SafeTensorsError? in
            guard let base = raw.baseAddress else { return nil }
            base.storeBytes(of: UInt64(header.count).littleEndian, as: UInt64.self)
            header.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: base + 8, count: header.count).copyMemory(from: $0) }
            var position = dataStart
            for entry in entries {
                do throws(SafeTensorsError) { try entry.encode(into: base + position, file: file) } catch { return error }
                position += entry.values.count * entry.dtype.byteSize
            }
            return nil
        }
        if let encodingError { throw encodingError }
        return bytes
    }

    /// Writes the file atomically: the bytes go to a temporary file in the same directory, which is
    /// flushed to disk (`fsync`) and then renamed over `path`. A crash or error at any point leaves
    /// either the old file or the complete new one, never a truncated checkpoint; on failure the
    /// temporary file is removed and the old file is untouched.
    public func write(to path: String) throws {
        try write(to: path, failingAt: nil)
    }

    /// Steps of an atomic write; tests inject a failure at each to prove the old file survives.
    enum WriteStep: CaseIterable {
        case createTemporary, writeData, flush, rename
    }

    func write(to path: String, failingAt injected: WriteStep?) throws(SafeTensorsError) {
        let bytes = try serialized(file: path)
        let temporary = AtomicFile.temporaryPath(for: path)

        func failure(_ operation: String, _ code: Int32) -> SafeTensorsError {
            .writeFailed(file: path, operation: operation, reason: systemErrorDescription(code))
        }
        let injectedCode: Int32 = EIO

        let fd = injected == .createTemporary ? -1 : open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw failure("creating the temporary file '\(temporary)'", injected == .createTemporary ? injectedCode : errno)
        }
        var isOpen = true
        defer {
            if isOpen { close(fd) }
        }
        func abandon(_ operation: String, _ code: Int32) -> SafeTensorsError {
            if isOpen { close(fd); isOpen = false }
            unlink(temporary)
            return failure(operation, code)
        }

        // An injected write failure happens halfway, leaving a partial temporary file to clean up.
        let limit = injected == .writeData ? bytes.count / 2 : bytes.count
        var written = 0
        let writeError: Int32? = bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            while written < limit {
                let n = posixWrite(fd, base + written, limit - written)
                if n >= 0 { written += n; continue }
                if errno == EINTR { continue }
                return errno
            }
            return nil
        }
        if let writeError { throw abandon("writing the temporary file '\(temporary)'", writeError) }
        if injected == .writeData { throw abandon("writing the temporary file '\(temporary)'", injectedCode) }

        if injected == .flush || fsync(fd) != 0 {
            throw abandon("flushing the temporary file '\(temporary)' to disk", injected == .flush ? injectedCode : errno)
        }
        isOpen = false
        if close(fd) != 0 { throw abandon("closing the temporary file '\(temporary)'", errno) }

        if injected == .rename || posixRename(temporary, path) != 0 {
            throw abandon("renaming '\(temporary)' to '\(path)'", injected == .rename ? injectedCode : errno)
        }
        AtomicFile.syncDirectory(of: path)
    }
}

extension SafeTensorsEntry {
    /// Stores the values as little-endian `dtype` elements at `destination`.
    func encode(into destination: UnsafeMutableRawPointer, file: String) throws(SafeTensorsError) {
        switch dtype {
        case .f32:
            for (i, v) in values.enumerated() {
                destination.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
        case .f64:
            for (i, v) in values.enumerated() {
                destination.storeBytes(of: Double(v).bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self)
            }
        case .f16:
            for (i, v) in values.enumerated() {
                destination.storeBytes(of: halfBitsFromFloat(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        case .bf16:
            for (i, v) in values.enumerated() {
                destination.storeBytes(of: bfloat16BitsFromFloat(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        case .i64:
            for (i, v) in values.enumerated() {
                destination.storeBytes(of: try integer(v, at: i, as: Int64.self, file: file).littleEndian, toByteOffset: 8 * i, as: Int64.self)
            }
        case .i32:
            for (i, v) in values.enumerated() {
                destination.storeBytes(of: try integer(v, at: i, as: Int32.self, file: file).littleEndian, toByteOffset: 4 * i, as: Int32.self)
            }
        case .u8:
            for (i, v) in values.enumerated() {
                destination.storeBytes(of: try integer(v, at: i, as: UInt8.self, file: file), toByteOffset: i, as: UInt8.self)
            }
        }
    }

    private func integer<I: FixedWidthInteger>(_ v: Float, at index: Int, as: I.Type, file: String) throws(SafeTensorsError) -> I {
        guard let exact = I(exactly: v.rounded(.toNearestOrEven)) else {
            throw .valueNotRepresentable(file: file, key: name, index: index, value: v, dtype: dtype)
        }
        return exact
    }
}

// File-scope wrappers: inside `SafeTensorsFile`, `write` and `rename` would name its own methods.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
private func posixRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
