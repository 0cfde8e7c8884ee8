/// Spatial pooling (PyTorch `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d(1)` semantics, floor mode).
///
/// Shapes: `x: [N, C, H, W]` → `y: [N, C, OH, OW]` with `OH = (H + 2p − k) / s + 1` (likewise OW),
/// and `[N, C, H, W] → [N, C]` for the global average. Each of the N·C planes is independent, so
/// the kernels split planes over the workers; no two workers write the same floats.

/// Planes per parallel chunk for a kernel doing `work` operations per plane.
@inline(__always)
private func planeGrain(_ work: Int) -> Int { max(1, elementwiseGrain / max(1, work)) }

/// Window geometry shared by max and average pooling.
///
/// The kernels loop tap-outer: for an output row, each window row `ih` and column offset `j` is
/// one pass `out[c] ⊕= x[ih, c·s − p + j]` over the outputs `c` for which that column is inside
/// the image. The pass has no bounds checks and no data-dependent branches, so it vectorises;
/// visiting the taps in row-major order keeps PyTorch's first-maximum tie rule.
struct PoolGeometry {
    let planes: Int, h: Int, w: Int
    let kernel: Int, stride: Int, padding: Int
    let oh: Int, ow: Int
    var inPlane: Int { h * w }
    var outPlane: Int { oh * ow }

    /// Input rows of the window of output row `r`, clipped to the image (padding holds no data).
    @inline(__always) func rows(_ r: Int) -> Range<Int> {
        let lo = r * stride - padding
        return max(0, lo)..<min(h, lo + kernel)
    }
    /// Outputs `c` whose window column `j` lies inside the image.
    @inline(__always) func cols(tap j: Int) -> Range<Int> {
        validOutputs(tap: j, pad: padding, inSize: w, outSize: ow, stride: stride)
    }
    /// Planes per parallel chunk: enough window reads to be worth a worker.
    var grain: Int { planeGrain(outPlane * kernel * kernel) }
}

func poolGeometry(_ op: String, _ x: [Int], kernel: Int, stride: Int?, padding: Int) -> PoolGeometry {
    let stride = stride ?? kernel
    require(x.count == 4, "\(op): x must be [N, C, H, W], got \(x)")
    require(kernel >= 1 && stride >= 1, "\(op): kernel \(kernel) and stride \(stride) must be ≥ 1 (x \(x))")
    // PyTorch's bound; it also guarantees that every window holds at least one input.
    require(padding >= 0 && padding <= kernel / 2,
            "\(op): padding \(padding) must be in 0...kernel/2 = \(kernel / 2) (x \(x))")
    let (h, w) = (x[2], x[3])
    require(h + 2 * padding >= kernel && w + 2 * padding >= kernel,
            "\(op): kernel \(kernel)×\(kernel) does not fit x \(x) padded by \(padding)")
    return PoolGeometry(planes: x[0] * x[1], h: h, w: w, kernel: kernel, stride: stride, padding: padding,
                        oh: (h + 2 * padding - kernel) / stride + 1, ow: (w + 2 * padding - kernel) / stride + 1)
}

/// Max over each k×k window; padding counts as −∞ (never the maximum).
/// ∂y/∂x routes each output's gradient to its window's argmax: the first maximum in row-major
/// window order on ties, like PyTorch (which also lets a NaN win, so NaNs propagate).
/// x: [N, C, H, W] → y: [N, C, OH, OW]
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let profiled = OpProfile.begin("maxPool2d \(kernel)×\(kernel)")
    defer { OpProfile.end(profiled) }
    let geo = poolGeometry("maxPool2d", x.shape, kernel: kernel, stride: stride, padding: padding)
    let y = Tensor(uninitializedShape: [x.shape[0], x.shape[1], geo.oh, geo.ow])
    // The argmax (index within the plane) is only kept when backward can run: evaluation skips it.
    let keepArgmax = willRecord([x])
    let argmax = [Int32](unsafeUninitializedCapacity: keepArgmax ? y.count : 0) { buffer, initialized in
        // An empty buffer may still have a base address (the shared empty storage): never write there.
        let at = keepArgmax ? buffer.baseAddress : nil
        if geo.kernel == 2 && geo.stride == 2 && geo.padding == 0 {
            maxPool2x2Forward(x.data, y.data, at, geo)
        } else {
            maxPoolForward(x.data, y.data, at, geo)
        }
        initialized = buffer.count
    }
    let inShape = x.shape  // not x: backward needs only its shape
    record(y, "maxPool2d", [x]) { dy, _ in
        // dy: [N, C, OH, OW] → dx: [N, C, H, W]
        let dx = Tensor(uninitializedShape: inShape)
        nonisolated(unsafe) let (pdy, pdx) = (dy.data, dx.data)
        argmax.withUnsafeBufferPointer { indices in
            nonisolated(unsafe) let pa = indices.baseAddress!
            parallelFor(geo.planes, grain: planeGrain(geo.inPlane)) { planes in
                for plane in planes {
                    let dxp = pdx + plane * geo.inPlane
                    dxp.update(repeating: 0, count: geo.inPlane)
                    // Overlapping windows (stride < kernel) may share an argmax: accumulate.
                    for o in plane * geo.outPlane..<(plane + 1) * geo.outPlane { dxp[Int(pa[o])] += pdy[o] }
                }
            }
        }
        return [dx]
    }
    return y
}

/// The general max-pool kernel (any kernel, stride, padding), tap-outer as described at
/// `PoolGeometry`. x: [planes, H, W] → y: [planes, OH, OW], argmax (index within the plane) if `at`.
func maxPoolForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    _ at: UnsafeMutablePointer<Int32>?, _ geo: PoolGeometry) {
    nonisolated(unsafe) let (px, py, pa) = (x, y, at)
    let s = geo.stride
    parallelFor(geo.planes, grain: geo.grain) { planes in
        for plane in planes {
            let xp = px + plane * geo.inPlane
            for r in 0..<geo.oh {
                let o = plane * geo.outPlane + r * geo.ow
                let (best, rows) = (py + o, geo.rows(r))
                best.update(repeating: -.infinity, count: geo.ow)
                let at = pa.map { $0 + o }
                if let at {
                    // Where every input of a window is −∞, PyTorch keeps the window's first position.
                    for c in 0..<geo.ow { at[c] = Int32(truncatingIfNeeded: rows.lowerBound * geo.w + max(0, c * s - geo.padding)) }
                }
                for ih in rows {
                    for j in 0..<geo.kernel {
                        let cols = geo.cols(tap: j)
                        maxStep(xp, from: ih * geo.w - geo.padding + j + cols.lowerBound * s, stride: s,
                                count: cols.count, best: best + cols.lowerBound, at: at.map { $0 + cols.lowerBound })
                    }
                }
            }
        }
    }
}

/// Max pooling with 2×2 windows at stride 2 and no padding (smallcnn's), the same results as
/// `maxPoolForward`. Per output row, 8 consecutive floats of each of the two input rows hold 4
/// windows: even and odd lanes are the window's left and right columns, and the four taps are
/// compared in row-major order with the same rule (`v > best || v.isNaN`), so ties and NaNs
/// resolve as in the general kernel. The last 1–3 windows of a row run one at a time.
func maxPool2x2Forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                       _ at: UnsafeMutablePointer<Int32>?, _ geo: PoolGeometry) {
    nonisolated(unsafe) let (px, py, pa) = (x, y, at)
    let vectorOutputs = geo.ow & ~3
    parallelFor(geo.planes, grain: geo.grain) { planes in
        for plane in planes {
            let xp = px + plane * geo.inPlane
            for r in 0..<geo.oh {
                let o = plane * geo.outPlane + r * geo.ow
                let top = 2 * r * geo.w, bottom = top + geo.w
                var c = 0
                while c < vectorOutputs {
                    let a = load8(xp, top + 2 * c), b = load8(xp, bottom + 2 * c)
                    var best = a.evenHalf
                    let (w01, w10, w11) = (a.oddHalf, b.evenHalf, b.oddHalf)
                    if let pa {
                        let first = SIMD4<Int32>(0, 2, 4, 6) &+ Int32(truncatingIfNeeded: top + 2 * c)
                        var index = first
                        @inline(__always) func tap(_ v: SIMD4<Float>, _ offset: Int) {
                            let wins = (v .> best) .^ (v .!= v)
                            best.replace(with: v, where: wins)
                            index.replace(with: first &+ Int32(truncatingIfNeeded: offset), where: wins)
                        }
                        tap(w01, 1); tap(w10, geo.w); tap(w11, geo.w + 1)
                        storeVector(index, pa, o + c)
                    } else {
                        best.replace(with: w01, where: (w01 .> best) .^ (w01 .!= w01))
                        best.replace(with: w10, where: (w10 .> best) .^ (w10 .!= w10))
                        best.replace(with: w11, where: (w11 .> best) .^ (w11 .!= w11))
                    }
                    store4(best, py, o + c)
                    c += 4
                }
                while c < geo.ow {  // the last 1–3 windows, one at a time
                    let i00 = top + 2 * c
                    var (best, at) = (xp[i00], i00)
                    @inline(__always) func tap(_ i: Int) {
                        let v = xp[i]
                        if v > best || v.isNaN { (best, at) = (v, i) }
                    }
                    tap(i00 + 1); tap(i00 + geo.w); tap(i00 + geo.w + 1)
                    py[o + c] = best
                    pa?[o + c] = Int32(truncatingIfNeeded: at)
                    c += 1
                }
            }
        }
    }
}

/// One tap of max pooling over `count` outputs: with v = x[from + c·s],
/// `if v > best[c] || v.isNaN { best[c] = v; at[c] = from + c·s }`.
/// Four outputs at a time with SIMD selects, the last group partial: on real data the winner is
/// unpredictable, and the branchy scalar form (which the compiler keeps for the NaN test)
/// mispredicts on every other window.
@inline(__always)
private func maxStep(_ x: UnsafePointer<Float>, from i0: Int, stride s: Int, count: Int,
                     best: UnsafeMutablePointer<Float>, at: UnsafeMutablePointer<Int32>?) {
    // SIMD4: the width of the baseline x86-64 target (SSE), where wider masks cost shuffles.
    let lanes = SIMD4<Int32>(0, 1, 2, 3) &* Int32(truncatingIfNeeded: s)
    var c = 0
    while c < count {
        let n = min(4, count - c), i = i0 + c * s, p = x + i
        var v = SIMD4<Float>(repeating: -.infinity), b = SIMD4<Float>(), a = SIMD4<Int32>()
        if n == 4 {
            v = s == 1 ? load4(p) : SIMD4(p[0], p[s], p[2 * s], p[3 * s])
            b = load4(best, c)
            if let at { a = loadVector(at, c) }
        } else {  // the spare lanes hold −∞ against 0: they never win
            for l in 0..<n { v[l] = p[l * s]; b[l] = best[c + l] }
            if let at { for l in 0..<n { a[l] = at[c + l] } }
        }
        let wins = (v .> b) .^ (v .!= v)  // v > b or v is NaN (never both)
        b.replace(with: v, where: wins)
        if n == 4 {
            store4(b, best, c)
        } else {
            for l in 0..<n { best[c + l] = b[l] }
        }
        if let at {
            a.replace(with: lanes &+ Int32(truncatingIfNeeded: i), where: wins)
            if n == 4 {
                storeVector(a, at, c)
            } else {
                for l in 0..<n { at[c + l] = a[l] }
            }
        }
        c += 4
    }
}

/// Mean over each k×k window. Padding counts as zeros and the divisor is always k·k
/// (`count_include_pad=True`, PyTorch's default; in floor mode no window reaches past the padding).
/// x: [N, C, H, W] → y: [N, C, OH, OW]
public func avgPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    let profiled = OpProfile.begin("avgPool2d \(kernel)×\(kernel)")
    defer { OpProfile.end(profiled) }
    let geo = poolGeometry("avgPool2d", x.shape, kernel: kernel, stride: stride, padding: padding)
    let y = Tensor(uninitializedShape: [x.shape[0], x.shape[1], geo.oh, geo.ow])
    let (scale, s) = (1 / Float(kernel * kernel), geo.stride)
    nonisolated(unsafe) let (px, py) = (x.data, y.data)
    parallelFor(geo.planes, grain: geo.grain) { planes in
        for plane in planes {
            let xp = px + plane * geo.inPlane
            for r in 0..<geo.oh {
                let sum = py + plane * geo.outPlane + r * geo.ow
                sum.update(repeating: 0, count: geo.ow)
                for ih in geo.rows(r) {
                    for j in 0..<geo.kernel {
                        let (cols, base) = (geo.cols(tap: j), ih * geo.w - geo.padding + j)
                        for c in cols { sum[c] += xp[base &+ c &* s] }
                    }
                }
                for c in 0..<geo.ow { sum[c] *= scale }
            }
        }
    }
    let inShape = x.shape  // not x: backward needs only its shape
    record(y, "avgPool2d", [x]) { dy, _ in
        // dy: [N, C, OH, OW] → dx: [N, C, H, W]; every input in a window receives dy / k².
        let dx = Tensor(uninitializedShape: inShape)
        nonisolated(unsafe) let (pdy, pdx) = (dy.data, dx.data)
        parallelFor(geo.planes, grain: geo.grain) { planes in
            for plane in planes {
                let dxp = pdx + plane * geo.inPlane
                dxp.update(repeating: 0, count: geo.inPlane)
                for r in 0..<geo.oh {
                    let dyr = pdy + plane * geo.outPlane + r * geo.ow
                    for ih in geo.rows(r) {
                        for j in 0..<geo.kernel {
                            let (cols, base) = (geo.cols(tap: j), ih * geo.w - geo.padding + j)
                            for c in cols { dxp[base &+ c &* s] += dyr[c] * scale }
                        }
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
    let profiled = OpProfile.begin("globalAvgPool2d")
    defer { OpProfile.end(profiled) }
    require(x.rank == 4, "globalAvgPool2d: x must be [N, C, H, W], got \(x.shape)")
    let (planes, size) = (x.shape[0] * x.shape[1], x.shape[2] * x.shape[3])
    require(size > 0, "globalAvgPool2d: empty planes in x \(x.shape)")
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


// MARK: - The 2×2 max-pool fused after a ReLU

/// Which output of a 2×2 window is its maximum, as the ops that fuse a ReLU and a 2×2 max-pool into what comes
/// before (`conv2dReLUMaxPool2`, `batchNorm2d(…, pool: true)`) keep it for backward instead of the activation: one
/// byte per pooled output, 2·i + j for the window's output (i, j) — the first of equal maxima, as `maxPool2d`'s
/// argmax — or `none` where the maximum is 0, where the ReLU passes no gradient to any of the four.
enum WindowArgmax {
    static let none: UInt8 = 4
}

/// The maximum of the windows (a, b; c, d) lane by lane, in row-major order, and its `WindowArgmax` code. The
/// values are ReLU outputs (≥ 0, no NaN), so the pairwise maxima, each keeping its first argument on ties, are
/// `maxPool2d`'s maxima bit for bit and the code names `maxPool2d`'s argmax.
@inline(__always)
func windowMaximum(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Int32>) {
    let (right, lowerRight) = (b .> a, d .> c)
    let top = a.replacing(with: b, where: right), bottom = c.replacing(with: d, where: lowerRight)
    let lower = bottom .> top
    var code = SIMD8<Int32>(repeating: 0).replacing(with: 1, where: right)
    code.replace(with: SIMD8<Int32>(repeating: 2).replacing(with: 3, where: lowerRight), where: lower)
    let m = top.replacing(with: bottom, where: lower)
    code.replace(with: Int32(WindowArgmax.none), where: .!(m .> 0))
    return (m, code)
}

/// `windowMaximum` for four lanes (one function per vector width, as `positivePart` in SIMD.swift: generic lane code
/// was not specialised where it was inlined).
@inline(__always)
func windowMaximum(_ a: SIMD4<Float>, _ b: SIMD4<Float>, _ c: SIMD4<Float>, _ d: SIMD4<Float>) -> (SIMD4<Float>, SIMD4<Int32>) {
    let (right, lowerRight) = (b .> a, d .> c)
    let top = a.replacing(with: b, where: right), bottom = c.replacing(with: d, where: lowerRight)
    let lower = bottom .> top
    var code = SIMD4<Int32>(repeating: 0).replacing(with: 1, where: right)
    code.replace(with: SIMD4<Int32>(repeating: 2).replacing(with: 3, where: lowerRight), where: lower)
    let m = top.replacing(with: bottom, where: lower)
    code.replace(with: Int32(WindowArgmax.none), where: .!(m .> 0))
    return (m, code)
}

/// `code`'s lanes as bytes at `p` on, one vector store (the codes, 0…3 or `WindowArgmax.none`, fit in a byte).
@inline(__always)
func storeCodes(_ code: SIMD8<Int32>, _ p: UnsafeMutablePointer<UInt8>) {
    UnsafeMutableRawPointer(p).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: code), as: SIMD8<UInt8>.self)
}

/// `storeCodes` for four lanes.
@inline(__always)
func storeCodes(_ code: SIMD4<Int32>, _ p: UnsafeMutablePointer<UInt8>) {
    UnsafeMutableRawPointer(p).storeBytes(of: SIMD4<UInt8>(truncatingIfNeeded: code), as: SIMD4<UInt8>.self)
}

/// `windowMaximum` of one window of scalars.
@inline(__always)
func windowMaximum(_ a: Float, _ b: Float, _ c: Float, _ d: Float) -> (Float, UInt8) {
    let (top, topCode): (Float, UInt8) = b > a ? (b, 1) : (a, 0)
    let (bottom, bottomCode): (Float, UInt8) = d > c ? (d, 3) : (c, 2)
    let (m, code) = bottom > top ? (bottom, bottomCode) : (top, topCode)
    return (m, m > 0 ? code : WindowArgmax.none)
}

/// g[p, 2·i + a, 2·j + b] = dy[p, i, j] where `codes` (`WindowArgmax`) names output (a, b) of window (i, j), and 0
/// everywhere else (the other outputs of the window, windows whose maximum is 0, and the last row and column of an
/// odd-sized plane, which no window covers): what `maxPool2d`'s backward and then the ReLU's mask give, in one pass.
/// dy: [N, C, ⌊H/2⌋, ⌊W/2⌋] → g: `shape` [N, C, H, W]. Four windows at a time make eight floats of each of their two rows;
/// a row of windows that is not a multiple of four ends with one more step over its last four (rewriting the outputs it
/// shares with the step before it with the same floats), so only rows of fewer than four windows run one at a time.
func unpooledGradient(_ dy: Tensor, codes: UnsafePointer<UInt8>, shape: [Int]) -> Tensor {
    let (planes, h, w) = (shape[0] * shape[1], shape[2], shape[3])
    require(dy.shape == [shape[0], shape[1], h / 2, w / 2], "unpooledGradient: dy \(dy.shape) is not the pooled \(shape)")
    let g = Tensor(uninitializedShape: shape)
    let (ph, pw) = (h / 2, w / 2)
    nonisolated(unsafe) let (pdy, pg, pc) = (dy.data, g.data, codes)
    @inline(__always) func picked(_ d: SIMD4<Float>, _ code: SIMD4<Int32>, _ k: Int32) -> SIMD4<Float> {
        SIMD4<Float>(repeating: 0).replacing(with: d, where: code .== k)
    }
    @inline(__always) func interleaved(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD8<Float> {
        SIMD8<Float>(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3])
    }
    parallelFor(planes, grain: planeGrain(h * w)) { range in
        for plane in range {
            let gp = pg + plane * h * w
            for i in 0..<ph {
                let (d, c) = (pdy + (plane * ph + i) * pw, pc + (plane * ph + i) * pw)
                let (top, bottom) = (gp + 2 * i * w, gp + (2 * i + 1) * w)
                @inline(__always) func four(_ j: Int) {  // windows j..<j + 4
                    let dj = load4(d, j)
                    let code = SIMD4<Int32>(Int32(c[j]), Int32(c[j + 1]), Int32(c[j + 2]), Int32(c[j + 3]))
                    store8(interleaved(picked(dj, code, 0), picked(dj, code, 1)), top, 2 * j)
                    store8(interleaved(picked(dj, code, 2), picked(dj, code, 3)), bottom, 2 * j)
                }
                if pw >= 4 {
                    overlappingSteps(pw, width: 4, four)
                } else {
                    for j in 0..<pw {
                        let code = c[j]
                        top[2 * j] = code == 0 ? d[j] : 0; top[2 * j + 1] = code == 1 ? d[j] : 0
                        bottom[2 * j] = code == 2 ? d[j] : 0; bottom[2 * j + 1] = code == 3 ? d[j] : 0
                    }
                }
                if w % 2 == 1 { top[w - 1] = 0; bottom[w - 1] = 0 }
            }
            if h % 2 == 1 { (gp + (h - 1) * w).update(repeating: 0, count: w) }
        }
    }
    return g
}
