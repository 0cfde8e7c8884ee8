/// Element types a safetensors file may store, spelled as in its header.
///
/// Everything is converted to Float32 on load (the engine computes in Float32): F16, BF16 and F64
/// exactly as PyTorch's `.float()` does, integers by value (exact up to 2^24, rounded beyond).
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32", u8 = "U8"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .f64, .i64: 8
        case .u8: 1
        }
    }
}

// MARK: - Decoding (little-endian bytes → Float)

extension DType {
    /// Converts `count` little-endian elements starting at `bytes` into Float32, appending to `out`.
    /// The caller guarantees `count × byteSize` readable bytes.
    func decode(_ bytes: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32:
            for i in 0..<count {
                out[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .f64:
            for i in 0..<count {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        case .f16:
            for i in 0..<count {
                out[i] = floatFromHalfBits(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bf16:
            for i in 0..<count {
                // bfloat16 is the top half of a float32.
                out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
            }
        case .i64:
            for i in 0..<count {
                out[i] = Float(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            }
        case .i32:
            for i in 0..<count {
                out[i] = Float(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
            }
        case .u8:
            for i in 0..<count { out[i] = Float(bytes.load(fromByteOffset: i, as: UInt8.self)) }
        }
    }
}

/// IEEE 754 binary16 → binary32, exact for every input (subnormals, ±0, ±∞, NaN payloads).
/// Written out by hand because `Float16` is not available on every platform Swift supports.
func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x03FF)
    switch exponent {
    case 0:
        // ±0 or subnormal: mantissa × 2^-24 (exact in Float32).
        let magnitude = Float(mantissa) * 0x1p-24
        return Float(bitPattern: sign | magnitude.bitPattern)
    case 0x1F:
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    default:
        // Rebias 15 → 127.
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}

/// binary32 → binary16 bits, rounding to nearest with ties to even (as PyTorch's `.half()`);
/// magnitudes beyond the largest half round to ±∞, NaN stays NaN (quiet).
func halfBitsFromFloat(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    if f.isNaN { return sign | 0x7E00 | UInt16((bits >> 13) & 0x03FF) }
    if f.isInfinite { return sign | 0x7C00 }
    let magnitude = abs(f)
    // Below 2^-14 the half is subnormal: its unit is 2^-24. Scaling by 2^24 is exact, and Float's
    // own rounding (ties to even) of the scaled value to an integer gives the half mantissa.
    if magnitude < 0x1p-14 {
        let units = (magnitude * 0x1p24).rounded(.toNearestOrEven)
        return sign | UInt16(units)          // 1024 units rounds up into the smallest normal: correct bits.
    }
    // Normal range: keep 10 of 23 mantissa bits, round to nearest even on the 13 dropped bits.
    var exponent = Int((bits >> 23) & 0xFF) - 127 + 15
    var mantissa = bits & 0x007F_FFFF
    let dropped = mantissa & 0x1FFF
    mantissa >>= 13
    if dropped > 0x1000 || (dropped == 0x1000 && mantissa & 1 == 1) {
        mantissa += 1
        if mantissa == 0x400 { mantissa = 0; exponent += 1 }
    }
    if exponent >= 0x1F { return sign | 0x7C00 }
    return sign | UInt16(exponent << 10) | UInt16(mantissa)
}

/// binary32 → bfloat16 bits, rounding to nearest with ties to even (as PyTorch's `.bfloat16()`).
func bfloat16BitsFromFloat(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if f.isNaN { return UInt16(bits >> 16) | 0x0040 }   // keep it a (quiet) NaN after truncation
    let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ roundingBias) >> 16)
}
