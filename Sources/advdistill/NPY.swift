import Foundation
import NN

/// NumPy's `.npy` format, the subset `predict` reads and writes: little-endian float32 (`<f4`; `<f8` is read
/// and narrowed) and, written only, int64 labels (`<i8`), C order. The header is a Python dict literal,
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 28, 28), }`, padded so the data starts at a
/// multiple of 64 bytes.
enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// Largest header accepted when reading (NumPy itself writes a few hundred bytes).
    static let maxHeaderLength = 1 << 16

    /// Reads a float array: its shape and values in C order.
    static func readFloats(path: String) throws -> (shape: [Int], values: [Float]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw NPYError(path, "cannot be read (missing or unreadable)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw NPYError(path, "is not a .npy file (no \\x93NUMPY magic)") }
        let major = bytes[6]
        let (headerLength, start): (Int, Int)
        switch major {
        case 1: (headerLength, start) = (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError(path, "is truncated in its header") }
            (headerLength, start) = (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12)
        default: throw NPYError(path, "has .npy format version \(major), expected 1, 2 or 3")
        }
        guard headerLength <= maxHeaderLength, start + headerLength <= bytes.count else {
            throw NPYError(path, "declares a \(headerLength)-byte header that the \(bytes.count)-byte file does not hold")
        }
        let header = String(decoding: bytes[start..<start + headerLength], as: UTF8.self)
        guard let descr = field("descr", in: header), let order = field("fortran_order", in: header),
              let shapeText = field("shape", in: header) else {
            throw NPYError(path, "has a header without descr, fortran_order and shape: \(header)")
        }
        guard order == "False" else { throw NPYError(path, "is in Fortran order; save it with np.ascontiguousarray") }
        let shape = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else { throw NPYError(path, "has shape \(shapeText)") }
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        let body = bytes.count - start - headerLength
        let width: Int
        switch descr {
        case "'<f4'": width = 4
        case "'<f8'": width = 8
        default: throw NPYError(path, "holds \(descr) values; expected float32 ('<f4') or float64 ('<f8')")
        }
        guard count != Int.max, body == count * width else {
            throw NPYError(path, "has shape \(shape) of \(descr), which needs \(count) values, but \(body) bytes of data")
        }
        let values: [Float] = bytes.withUnsafeBytes { raw in
            let base = start + headerLength
            return (0..<count).map { i in
                width == 4 ? Float(bitPattern: raw.loadUnaligned(fromByteOffset: base + 4 * i, as: UInt32.self).littleEndian)
                    : Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: base + 8 * i, as: UInt64.self).littleEndian))
            }
        }
        return (shape, values)
    }

    /// The value text of `'key': value` in the header dict.
    private static func field(_ key: String, in header: String) -> String? {
        guard let r = header.range(of: "'\(key)':") else { return nil }
        let rest = header[r.upperBound...].drop { $0 == " " }
        if rest.first == "(" { return rest.firstIndex(of: ")").map { String(rest[...$0]) } }
        return rest.firstIndex(of: ",").map { String(rest[..<$0]).trimmingCharacters(in: .whitespaces) }
    }

    static func encode(floats values: [Float], shape: [Int]) -> Data {
        encode(descr: "<f4", shape: shape, body: values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }

    static func encode(int64 values: [Int], shape: [Int]) -> Data {
        encode(descr: "<i8", shape: shape, body: values.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) })
    }

    private static func encode(descr: String, shape: [Int], body: [UInt8]) -> Data {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
        // magic (6) + version (2) + length (2) + header + "\n" is a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data(magic + [1, 0])
        out.append(contentsOf: [UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: body)
        return out
    }
}

struct NPYError: Error, CustomStringConvertible {
    let description: String
    init(_ path: String, _ problem: String) { description = "\(path) \(problem)" }
}
