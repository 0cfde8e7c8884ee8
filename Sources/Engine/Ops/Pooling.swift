/// Spatial pooling (PyTorch `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d(1)` semantics, floor mode).
///
/// Shapes: `x: [N, C, H, W]` → `y: [N, C, OH, OW]` with `OH = (H + 2p − k) / s + 1` (likewise OW),
/// and `[N, C, H, W] → [N, C]` for the global average. Each of the N·C planes is independent, so
/// the kernels split planes over the workers; no two workers write the same floats.

/// Window geometry shared by max and average pooling.
private struct PoolGeometry {
    let planes: Int, h: Int, w: Int
    let kernel: Int, stride: Int, padding: Int
    let oh: Int, ow: Int
    var inPlane: Int { h * w }
    var outPlane: Int { oh * ow }

    /// Input rows of the window of output row `oh`, clipped to the image (padding holds no data).
    @inline(__always) func rows(_ oh: Int) -> Range<Int> {
        let lo = oh * stride - padding
        return max(0, lo)..<min(h, lo + kernel)
    }
    @inline(__always) func cols(_ ow: Int) -> Range<Int> {
        let lo = ow * stride - padding
        return max(0, lo)..<min(w, lo + kernel)
    }
    /// Planes per parallel chunk: enough window reads to be worth a worker.
    var grain: Int { planeGrain(outPlane * kernel * kernel) }
}

private func poolGeometry(_ op: String, _ x: [Int], kernel: Int, stride: Int?, padding: Int) -> PoolGeometry {
    let stride = stride ?? kernel
    shapePrecondition(x.count == 4, "\(op): x must be [N, C, H, W], got \(x)")
    shapePrecondition(kernel >= 1 && stride >= 1, "\(op): kernel \(kernel) and stride \(stride) must be ≥ 1 (x \(x))")
    // PyTorch's bound: with more padding a window could lie entirely in the padding.
    shapePrecondition(padding >= 0 && padding <= kernel / 2,
                 "\(op): padding \(padding) must be in 0...kernel/2 = \(kernel / 2) (x \(x))")
    let (h, w) = (x[2], x[3])
    shapePrecondition(h + 2 * padding >= kernel && w + 2 * padding >= kernel,
                 "\(op): kernel \(kernel)×\(kernel) does not fit x \(x) padded by \(padding)")
    return PoolGeometry(planes: x[0] * x[1], h: h, w: w, kernel: kernel, stride: stride, padding: padding,
                        oh: (h + 2 * padding - kernel) / stride + 1, ow: (w + 2 * padding - kernel) / stride + 1)
}

/// Max over each k×k window; padding counts as −∞ (never the maximum).
/// ∂y/∂x routes each output's gradient to its window's argmax: the first maximum in row-major
/// window order on ties, like PyTorch (which also lets a NaN win, so NaNs propagate).
/// x: [N, C, H, W] → y: [N, C, OH, OW]
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let g = poolGeometry("maxPool2d", x.shape, kernel: kernel, stride: stride, padding: padding)
    let y = Tensor(uninitializedShape: [x.shape[0], x.shape[1], g.oh, g.ow])
    // The argmax (index within the plane) is only kept when backward can run: evaluation skips it.
    let keepArgmax = GradMode.isEnabled && x.requiresGrad
    let argmax = [Int32](unsafeUninitializedCapacity: keepArgmax ? y.count : 0) { buffer, initialized in
        // An empty buffer may still have a base address (the shared empty storage): never write there.
        nonisolated(unsafe) let (px, py, pa) = (x.data, y.data, keepArgmax ? buffer.baseAddress : nil)
        parallelFor(g.planes, grain: g.grain) { planes in
            for plane in planes {
                let xp = px + plane * g.inPlane
                for oh in 0..<g.oh {
                    let rows = g.rows(oh)
                    for ow in 0..<g.ow {
                        let cols = g.cols(ow)
                        var best = -Float.infinity, at = rows.lowerBound * g.w + cols.lowerBound
                        for ih in rows {
                            for iw in cols {
                                let v = xp[ih * g.w + iw]
                                if v > best || v.isNaN { best = v; at = ih * g.w + iw }
                            }
                        }
                        let o = plane * g.outPlane + oh * g.ow + ow
                        py[o] = best
                        pa?[o] = Int32(truncatingIfNeeded: at)
                    }
                }
            }
        }
        initialized = buffer.count
    }
    record(y, "maxPool2d", [x]) { dy, _ in
        // dy: [N, C, OH, OW] → dx: [N, C, H, W]
        let dx = Tensor(uninitializedShape: x.shape)
        nonisolated(unsafe) let (pdy, pdx) = (dy.data, dx.data)
        argmax.withUnsafeBufferPointer { indices in
            nonisolated(unsafe) let pa = indices.baseAddress!
            parallelFor(g.planes, grain: planeGrain(g.inPlane)) { planes in
                for plane in planes {
                    let dxp = pdx + plane * g.inPlane
                    dxp.update(repeating: 0, count: g.inPlane)
                    // Overlapping windows (stride < kernel) may share an argmax: accumulate.
                    for o in plane * g.outPlane..<(plane + 1) * g.outPlane { dxp[Int(pa[o])] += pdy[o] }
                }
            }
        }
        return [dx]
    }
    return y
}

/// Mean over each k×k window. Padding counts as zeros and the divisor is always k·k
/// (`count_include_pad=True`, PyTorch's default; in floor mode no window reaches past the padding).
/// x: [N, C, H, W] → y: [N, C, OH, OW]
public func avgPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let g = poolGeometry("avgPool2d", x.shape, kernel: kernel, stride: stride, padding: padding)
    let y = Tensor(uninitializedShape: [x.shape[0], x.shape[1], g.oh, g.ow])
    let scale = 1 / Float(kernel * kernel)
    nonisolated(unsafe) let (px, py) = (x.data, y.data)
    parallelFor(g.planes, grain: g.grain) { planes in
        for plane in planes {
            let xp = px + plane * g.inPlane
            for oh in 0..<g.oh {
                let rows = g.rows(oh)
                for ow in 0..<g.ow {
                    let cols = g.cols(ow)
                    var s: Float = 0
                    for ih in rows { for iw in cols { s += xp[ih * g.w + iw] } }
                    py[plane * g.outPlane + oh * g.ow + ow] = s * scale
                }
            }
        }
    }
    record(y, "avgPool2d", [x]) { dy, _ in
        // dy: [N, C, OH, OW] → dx: [N, C, H, W]; every input in a window receives dy / k².
        let dx = Tensor(uninitializedShape: x.shape)
        nonisolated(unsafe) let (pdy, pdx) = (dy.data, dx.data)
        parallelFor(g.planes, grain: g.grain) { planes in
            for plane in planes {
                let dxp = pdx + plane * g.inPlane
                dxp.update(repeating: 0, count: g.inPlane)
                for oh in 0..<g.oh {
                    let rows = g.rows(oh)
                    for ow in 0..<g.ow {
                        let cols = g.cols(ow)
                        let v = pdy[plane * g.outPlane + oh * g.ow + ow] * scale
                        for ih in rows { for iw in cols { dxp[ih * g.w + iw] += v } }
                    }
                }
            }
        }
        return [dx]
    }
    return y
}

/// Mean over each whole plane. x: [N, C, H, W] → y: [N, C]; ∂y[n, c]/∂x[n, c, h, w] = 1 / (H·W).
public func globalAvgPool2d(_ x: Tensor) -> Tensor {
    shapePrecondition(x.rank == 4, "globalAvgPool2d: x must be [N, C, H, W], got \(x.shape)")
    let (planes, size) = (x.shape[0] * x.shape[1], x.shape[2] * x.shape[3])
    shapePrecondition(size > 0, "globalAvgPool2d: empty planes in x \(x.shape)")
    let y = Tensor(uninitializedShape: [x.shape[0], x.shape[1]])
    let scale = 1 / Float(size)
    nonisolated(unsafe) let (px, py) = (x.data, y.data)
    parallelFor(planes, grain: planeGrain(size)) { r in
        for plane in r { py[plane] = sumOfFloats(px + plane * size, size) * scale }
    }
    let shape = x.shape
    record(y, "globalAvgPool2d", [x]) { dy, _ in
        // dy: [N, C] → dx: [N, C, H, W]
        let dx = Tensor(uninitializedShape: shape)
        nonisolated(unsafe) let (pdy, pdx) = (dy.data, dx.data)
        parallelFor(planes, grain: planeGrain(size)) { r in
            for plane in r { (pdx + plane * size).update(repeating: pdy[plane] * scale, count: size) }
        }
        return [dx]
    }
    return y
}

/// Σ p[0..<count]. A scalar Float sum does not vectorise (strict FP order), so two SIMD8
/// accumulators carry it.
@inline(__always)
func sumOfFloats(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    let raw = UnsafeRawPointer(p)
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= count {
        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        a1 += raw.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < count { s += p[i]; i += 1 }
    return s
}
