/// CRC-32C (Castagnoli): the checksum of TFRecord framing. Reflected polynomial 0x82F63B78, initial value
/// and final XOR 0xFFFFFFFF; CRC-32C("123456789") = 0xE3069283. One table lookup per byte: event files hold a
/// few hundred bytes per training step, so a slicing or SSE4.2 version would save nothing measurable.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC, so that a CRC of data that itself holds CRCs does not degenerate:
    /// rotate right by 15 bits and add 0xA282EAD8 (TensorFlow's `crc32c::Mask`).
    static func masked<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
