import Foundation

/// TFRecord framing, the container of TensorBoard event files. Each record is
///
///     uint64 length | uint32 masked CRC-32C of the 8 length bytes | length bytes of data | uint32 masked CRC-32C of the data
///
/// all little-endian (TensorFlow's `io/record_writer.cc`).
enum TFRecord {
    static let headerBytes = 12
    static let footerBytes = 4

    /// One record around `data`.
    static func frame(_ data: Data) -> Data {
        let length = littleEndian(UInt64(data.count))
        var out = Data(capacity: headerBytes + data.count + footerBytes)
        out += length
        out += littleEndian(CRC32C.masked(length))
        out += data
        out += littleEndian(CRC32C.masked(data))
        return out
    }

    /// The data of every record of `bytes`, in order. A record cut short at the end (a write that a kill -9
    /// interrupted) ends the list without an error, as TensorBoard's reader treats it; a record whose length or
    /// data fails its checksum is an error naming its offset.
    static func records(in bytes: Data, source: String) throws(TensorBoardError) -> [Data] {
        var out: [Data] = []
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= headerBytes {
            let lengthBytes = bytes[offset..<offset + 8]
            guard readUInt32(bytes, at: offset + 8) == CRC32C.masked(lengthBytes) else {
                throw .corruptRecord(path: source, offset: offset - bytes.startIndex, what: "length")
            }
            let length = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let start = offset + headerBytes
            guard length <= UInt64(bytes.endIndex - start), bytes.endIndex - start - Int(length) >= footerBytes else { break }
            let data = bytes[start..<start + Int(length)]
            guard readUInt32(bytes, at: start + Int(length)) == CRC32C.masked(data) else {
                throw .corruptRecord(path: source, offset: offset - bytes.startIndex, what: "data")
            }
            out.append(Data(data))
            offset = start + Int(length) + footerBytes
        }
        return out
    }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> Data {
        Data((0..<T.bitWidth / 8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) })
    }

    static func readUInt32(_ bytes: Data, at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}
