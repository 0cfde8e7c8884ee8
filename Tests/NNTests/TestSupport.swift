#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh empty directory under /tmp, removed (with its contents) by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/nn-tests-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { preconditionFailure("mkdtemp failed") }
        path = String(cString: made)
    }

    /// Names of the directory's entries (without "." and "..").
    func listing() -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    func remove() {
        for name in listing() {
            let full = path + "/" + name
            if unlink(full) != 0 { rmdir(full) }
        }
        rmdir(path)
    }
}

/// The bytes of the file at `path`, or nil if it cannot be opened.
func fileBytes(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
}

func writeBytes(_ bytes: [UInt8], to path: String) {
    guard let f = fopen(path, "wb") else { preconditionFailure("cannot create \(path)") }
    _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

/// Little-endian bytes of an integer, spelled out independently of the code under test.
func littleEndianBytes<I: FixedWidthInteger>(_ value: I) -> [UInt8] {
    (0..<(I.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}

/// A safetensors file assembled from a header text and a data buffer: length, header padded with
/// spaces to a multiple of 8 (as the reference writer does), data.
func safetensorsBytes(header: String, data: [UInt8], pad: Bool = true) -> [UInt8] {
    var h = Array(header.utf8)
    if pad { while h.count % 8 != 0 { h.append(UInt8(ascii: " ")) } }
    return littleEndianBytes(UInt64(h.count)) + h + data
}

/// Directory holding the committed fixtures (next to this file).
let fixturesDirectory: String = {
    let file = #filePath
    let directory = file[..<(file.lastIndex(of: "/") ?? file.endIndex)]
    return directory + "/Fixtures"
}()

extension Float {
    /// |self − other| ≤ atol + rtol·|other|.
    func isClose(to other: Double, rtol: Double = 1e-6, atol: Double = 1e-7) -> Bool {
        abs(Double(self) - other) <= atol + rtol * abs(other)
    }
}
