import Engine

/// Pixel-layout helpers on planar 8-bit images ([C, H, W], row-major): channel conversion,
/// interleaved → planar, and resizing. Reference-simple loops: they run once at load time.
@_spi(Parsing) public enum ImageOps {
    /// [H, W, C] interleaved → [C, H, W] planar.
    public static func planar(_ hwc: [UInt8], height: Int, width: Int, channels: Int) -> [UInt8] {
        if channels == 1 { return hwc }
        let plane = height * width
        return [UInt8](unsafeUninitializedCapacity: hwc.count) { out, n in
            for p in 0..<plane {
                for c in 0..<channels { out[c * plane + p] = hwc[p * channels + c] }
            }
            n = hwc.count
        }
    }

    /// Converts `count` planar images between 1 and 3 channels.
    /// Grey → RGB repeats the plane; RGB → grey is BT.601 luma 0.299 R + 0.587 G + 0.114 B, rounded
    /// (the weights libjpeg uses, and the ones our PNG decoder asks libpng for).
    static func convertChannels(_ images: [UInt8], count: Int, from: Int, to: Int, plane: Int) -> [UInt8] {
        if from == to { return images }
        require((from == 1 && to == 3) || (from == 3 && to == 1), "channel conversion \(from) → \(to)")
        return [UInt8](unsafeUninitializedCapacity: count * to * plane) { out, n in
            for i in 0..<count {
                let src = i * from * plane, dst = i * to * plane
                if to == 3 {
                    for c in 0..<3 { for p in 0..<plane { out[dst + c * plane + p] = images[src + p] } }
                } else {
                    for p in 0..<plane {
                        let r = Int(images[src + p]), g = Int(images[src + plane + p]), b = Int(images[src + 2 * plane + p])
                        // Weights ×1000; + 500 rounds to nearest.
                        out[dst + p] = UInt8((299 * r + 587 * g + 114 * b + 500) / 1000)
                    }
                }
            }
            n = count * to * plane
        }
    }

    /// Resizes one planar image. See `ResizeRule` for the exact sampling rule.
    public static func resize(_ src: [UInt8], channels: Int, height: Int, width: Int,
                       toHeight outH: Int, toWidth outW: Int, filter: ResizeFilter) -> [UInt8] {
        if height == outH && width == outW { return src }
        let sy = Double(height) / Double(outH), sx = Double(width) / Double(outW)
        var out = [UInt8](repeating: 0, count: channels * outH * outW)
        switch filter {
        case .nearest:
            let ys = (0..<outH).map { min(height - 1, Int((Double($0) + 0.5) * sy)) }
            let xs = (0..<outW).map { min(width - 1, Int((Double($0) + 0.5) * sx)) }
            for c in 0..<channels {
                for y in 0..<outH {
                    for x in 0..<outW {
                        out[(c * outH + y) * outW + x] = src[(c * height + ys[y]) * width + xs[x]]
                    }
                }
            }
        case .bilinear:
            // Per axis: the two source indices and the weight of the second.
            func taps(_ n: Int, _ inN: Int, _ scale: Double) -> [(Int, Int, Double)] {
                (0..<n).map { d in
                    let s = min(max((Double(d) + 0.5) * scale - 0.5, 0), Double(inN - 1))
                    let i0 = Int(s)
                    return (i0, min(i0 + 1, inN - 1), s - Double(i0))
                }
            }
            let ty = taps(outH, height, sy), tx = taps(outW, width, sx)
            for c in 0..<channels {
                let base = c * height * width
                for y in 0..<outH {
                    let (y0, y1, fy) = ty[y]
                    for x in 0..<outW {
                        let (x0, x1, fx) = tx[x]
                        let top = Double(src[base + y0 * width + x0]) * (1 - fx) + Double(src[base + y0 * width + x1]) * fx
                        let bottom = Double(src[base + y1 * width + x0]) * (1 - fx) + Double(src[base + y1 * width + x1]) * fx
                        out[(c * outH + y) * outW + x] = UInt8((top * (1 - fy) + bottom * fy).rounded())
                    }
                }
            }
        }
        return out
    }
}
