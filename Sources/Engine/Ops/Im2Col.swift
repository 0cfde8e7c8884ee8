/// Lowering of a convolution to a matrix product (im2col) and its adjoint (col2im), plus the
/// geometry every convolution kernel shares.
///
/// Column layout, for the `cg = Cin/groups` channels of one group of one image:
/// `col[(c·kH + i)·kW + j, oh·OW + ow] = x[c, oh·s − top + i, ow·s − left + j]` (0 outside the image).
/// Row `(c, i, j)` matches the flattened weight `[Cout/groups, cg·kH·kW]`, so one group's output is
/// `y_g[Cout/groups, OH·OW] = W_g · col`.

/// Every dimension of one conv2d call, derived once and passed by value to the kernels.
struct ConvGeometry {
    let n: Int, cin: Int, h: Int, w: Int
    let cout: Int, kh: Int, kw: Int
    let stride: Int, padding: Padding, groups: Int
    let oh: Int, ow: Int

    /// Input channels one group reads (1 for depthwise).
    var cinPerGroup: Int { cin / groups }
    /// Output channels one group writes.
    var coutPerGroup: Int { cout / groups }
    /// Rows of one group's column matrix = the GEMM's inner dimension.
    var colRows: Int { cinPerGroup * kh * kw }
    var inPlane: Int { h * w }
    var outPlane: Int { oh * ow }
    /// A 1×1, stride-1, unpadded convolution: the input image already is the column matrix.
    var isPointwise: Bool { kh == 1 && kw == 1 && stride == 1 && padding == .symmetric(0) }
    /// Each output channel reads a single input channel (depthwise, possibly with a multiplier):
    /// a direct kernel beats GEMMs with an inner dimension of kH·kW.
    var isDepthwise: Bool { cinPerGroup == 1 }
    /// "conv winograd 64→64 3×3/1 32×32" (the kernel, channels, kernel/stride, input size), for `OpProfile`.
    var profileName: String {
        let kind = isDepthwise ? "depthwise" : usesWinograd ? "winograd" : isPointwise ? "pointwise" : "im2col"
        return "conv \(kind) \(cin)→\(cout) \(kh)×\(kw)/\(stride) \(h)×\(w)"
    }
    /// FLOPs of the direct convolution, 2 per multiply-add: 2·N·Cout·OH·OW·cg·kH·kW. The bench's
    /// convention whatever the kernel (taps in the padding count too, as in every published count).
    var directFLOPs: Int { 2 * n * cout * outPlane * colRows }

    /// Output rows `oh` for which the kernel row `i` lands inside the image.
    @inline(__always) func rows(tap i: Int) -> Range<Int> {
        validOutputs(tap: i, pad: padding.top, inSize: h, outSize: oh, stride: stride)
    }
    /// Output columns `ow` for which the kernel column `j` lands inside the image.
    @inline(__always) func cols(tap j: Int) -> Range<Int> {
        validOutputs(tap: j, pad: padding.left, inSize: w, outSize: ow, stride: stride)
    }
}

/// The outputs `o` in `0..<outSize` whose input index `o·stride − pad + tap` lies in `0..<inSize`.
/// Computing the range once per kernel tap keeps bounds checks out of the inner loops.
@inline(__always)
func validOutputs(tap: Int, pad: Int, inSize: Int, outSize: Int, stride: Int) -> Range<Int> {
    let offset = tap - pad                        // input index = o·stride + offset
    // o ≥ ⌈−offset / stride⌉ and o ≤ ⌊(inSize − 1 − offset) / stride⌋.
    let lo = min(outSize, max(0, ceilDiv(-offset, stride)))
    let last = inSize - 1 - offset
    let hi = last < 0 ? 0 : min(outSize, last / stride + 1)
    return lo..<max(lo, hi)
}

/// ⌈a / b⌉ for b > 0 and any sign of a (Swift's `/` truncates toward zero).
@inline(__always)
func ceilDiv(_ a: Int, _ b: Int) -> Int { a > 0 ? (a + b - 1) / b : -((-a) / b) }

/// One kernel tap of one input channel: row `colRow` of the column matrix, the output rows and columns
/// whose window reads inside the image, and where in the channel's plane output (oh, 0) reads.
struct ConvTap {
    let channel: Int, colRow: Int
    let rows: Range<Int>, cols: Range<Int>
    let kernelRow: Int, kernelColumn: Int

    /// Index in the channel's [H, W] plane that output (oh, ow = 0) reads for this tap.
    @inline(__always) func inputIndex(outputRow oh: Int, _ geo: ConvGeometry) -> Int {
        (oh * geo.stride - geo.padding.top + kernelRow) * geo.w - geo.padding.left + kernelColumn
    }
}

extension ConvGeometry {
    /// Calls `body` for every (channel c of one group, kernel row i, kernel column j), in column-row order.
    @inline(__always) func forEachTap(_ body: (ConvTap) -> Void) {
        for c in 0..<cinPerGroup {
            for i in 0..<kh {
                let tapRows = self.rows(tap: i)
                for j in 0..<kw {
                    body(ConvTap(channel: c, colRow: (c * kh + i) * kw + j, rows: tapRows, cols: self.cols(tap: j),
                                 kernelRow: i, kernelColumn: j))
                }
            }
        }
    }
}

/// x: [cg, H, W] (one group of one image) → col: [cg·kH·kW, OH·OW] with rows `ld` floats apart
/// (≥ OH·OW: several images side by side). Every element of the image's block is written.
func im2col(_ x: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, ld: Int? = nil) {
    let (ow, s, ld) = (geo.ow, geo.stride, ld ?? geo.outPlane)
    geo.forEachTap { tap in
        let (xc, dst, rows, cols) = (x + tap.channel * geo.inPlane, col + tap.colRow * ld, tap.rows, tap.cols)
        dst.update(repeating: 0, count: rows.lowerBound * ow)
        for oh in rows {
            let d = dst + oh * ow, base = tap.inputIndex(outputRow: oh, geo)
            d.update(repeating: 0, count: cols.lowerBound)
            if s == 1 {
                (d + cols.lowerBound).update(from: xc + base + cols.lowerBound, count: cols.count)
            } else if s == 2 {
                gatherEven(from: xc, base: base, cols, limit: geo.inPlane, into: d)
            } else {
                for o in cols { d[o] = xc[base + o * s] }
            }
            (d + cols.upperBound).update(repeating: 0, count: ow - cols.upperBound)
        }
        (dst + rows.upperBound * ow).update(repeating: 0, count: (geo.oh - rows.upperBound) * ow)
    }
}

/// d[o] = x[base + 2·o] for o in `cols`: a stride-2 row of `im2col` (ResNets' downsampling layers), eight outputs
/// per step from two vector loads whose even lanes it keeps, while those 16 floats lie below `limit` (the
/// channel plane's end: no read past the input), the rest one by one. A copy: the same floats as the scalar loop.
@inline(__always)
func gatherEven(from x: UnsafePointer<Float>, base: Int, _ cols: Range<Int>, limit: Int,
                into d: UnsafeMutablePointer<Float>) {
    var o = cols.lowerBound
    while o + 8 <= cols.upperBound && base + 2 * o + 16 <= limit {
        let p = x + base + 2 * o
        store8(SIMD16(lowHalf: load8(p), highHalf: load8(p, 8)).evenHalf, d, o)
        o += 8
    }
    while o < cols.upperBound { d[o] = x[base + 2 * o]; o += 1 }
}

/// The adjoint of `im2col`: col: [cg·kH·kW, OH·OW] (rows `ld` apart) → dx: [cg, H, W],
/// *accumulated* into dx (overlapping windows add up; the caller zeroes dx first).
func col2im(_ col: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, ld: Int? = nil) {
    let (ow, s, ld) = (geo.ow, geo.stride, ld ?? geo.outPlane)
    geo.forEachTap { tap in
        let (dxc, src, cols) = (dx + tap.channel * geo.inPlane, col + tap.colRow * ld, tap.cols)
        for oh in tap.rows {
            let d = src + oh * ow, base = tap.inputIndex(outputRow: oh, geo)
            if s == 1 {
                let (dst, from) = (dxc + base + cols.lowerBound, d + cols.lowerBound)
                for o in 0..<cols.count { dst[o] += from[o] }
            } else if s == 2 {
                scatterAddEven(d, cols, into: dxc, base: base, limit: geo.inPlane)
            } else {
                for o in cols { dxc[base + o * s] += d[o] }
            }
        }
    }
}

/// x[base + 2·o] += d[o] for o in `cols`: the adjoint of `gatherEven` (a stride-2 row of `col2im`), eight
/// outputs per step (two vector loads, the even lanes added to, both stored back unchanged elsewhere) while those 16
/// floats lie below `limit`, the rest one by one. Each float gets the scalar loop's one addition.
@inline(__always)
func scatterAddEven(_ d: UnsafePointer<Float>, _ cols: Range<Int>, into x: UnsafeMutablePointer<Float>, base: Int,
                    limit: Int) {
    var o = cols.lowerBound
    while o + 8 <= cols.upperBound && base + 2 * o + 16 <= limit {
        let p = x + base + 2 * o
        var v = SIMD16(lowHalf: load8(p), highHalf: load8(p, 8))
        v.evenHalf += load8(d, o)
        store8(v.lowHalf, p); store8(v.highHalf, p, 8)
        o += 8
    }
    while o < cols.upperBound { x[base + 2 * o] += d[o]; o += 1 }
}
