/// Direct kernels for convolutions in which every output channel reads a single input channel
/// (Cin/groups == 1): depthwise (groups = Cin = Cout, MobileNetV2) and depthwise with a channel
/// multiplier m (Cout = m·Cin; output channel co reads input channel co / m).
///
/// As GEMMs these would have an inner dimension of kH·kW (9), far too small for sgemm to pay off.
/// Instead each kernel tap (i, j) is one pass of `out[o] += w · in[o·s + offset]` over a row, with
/// the valid range of `o` computed once per tap so the inner loop has no bounds checks (and
/// vectorises for stride 1). Work is split over independent planes, so no two workers write the
/// same floats.

/// Planes per parallel chunk for a kernel doing `work` flops per plane.
@inline(__always)
func planeGrain(_ work: Int) -> Int { max(1, elementwiseGrain / max(1, work)) }

/// x: [N, Cin, H, W], w: [Cout, 1, kH, kW], bias: [Cout]? → y: [N, Cout, OH, OW]
func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    nonisolated(unsafe) let (px, pw, pb, py) = (x, w, bias, y)
    let (s, taps) = (g.stride, g.kh * g.kw)
    parallelFor(g.n * g.cout, grain: planeGrain(g.outPlane * taps)) { planes in
        for plane in planes {
            let (img, co) = plane.quotientAndRemainder(dividingBy: g.cout)
            let xp = px + (img * g.cin + co / g.coutPerGroup) * g.inPlane
            let yp = py + plane * g.outPlane
            yp.update(repeating: pb?[co] ?? 0, count: g.outPlane)
            for i in 0..<g.kh {
                let rows = g.rows(tap: i)
                for j in 0..<g.kw {
                    let cols = g.cols(tap: j)
                    let wv = pw[co * taps + i * g.kw + j]
                    for oh in rows {
                        // x index of output (oh, cols.lowerBound) under tap (i, j)
                        let start = (oh * s - g.padding.top + i) * g.w - g.padding.left + j + cols.lowerBound * s
                        let (src, dst) = (xp + start, yp + oh * g.ow + cols.lowerBound)
                        if s == 1 {
                            for o in 0..<cols.count { dst[o] += wv * src[o] }
                        } else {
                            for o in 0..<cols.count { dst[o] += wv * src[o * s] }
                        }
                    }
                }
            }
        }
    }
}

/// dy: [N, Cout, OH, OW], weight: [Cout, 1, kH, kW] → dx: [N, Cin, H, W].
/// One task per input plane: it gathers from the m output channels that read it.
func depthwiseInputGradient(_ dy: Tensor, _ weight: Tensor, _ g: ConvGeometry) -> Tensor {
    let dx = Tensor(uninitializedShape: [g.n, g.cin, g.h, g.w])
    nonisolated(unsafe) let (pdy, pw, pdx) = (dy.data, weight.data, dx.data)
    let (s, taps, m) = (g.stride, g.kh * g.kw, g.coutPerGroup)
    parallelFor(g.n * g.cin, grain: planeGrain(g.outPlane * taps * m)) { planes in
        for plane in planes {
            let (img, ci) = plane.quotientAndRemainder(dividingBy: g.cin)
            let dxp = pdx + plane * g.inPlane
            dxp.update(repeating: 0, count: g.inPlane)
            for co in ci * m..<(ci + 1) * m {
                let dyp = pdy + (img * g.cout + co) * g.outPlane
                for i in 0..<g.kh {
                    let rows = g.rows(tap: i)
                    for j in 0..<g.kw {
                        let cols = g.cols(tap: j)
                        let wv = pw[co * taps + i * g.kw + j]
                        for oh in rows {
                            let start = (oh * s - g.padding.top + i) * g.w - g.padding.left + j + cols.lowerBound * s
                            let (dst, src) = (dxp + start, dyp + oh * g.ow + cols.lowerBound)
                            if s == 1 {
                                for o in 0..<cols.count { dst[o] += wv * src[o] }
                            } else {
                                for o in 0..<cols.count { dst[o * s] += wv * src[o] }
                            }
                        }
                    }
                }
            }
        }
    }
    return dx
}

/// dy: [N, Cout, OH, OW], x: [N, Cin, H, W] → dW: [Cout, 1, kH, kW],
/// dW[co, i, j] = Σ_{n, oh, ow} dy[n, co, oh, ow] · x[n, ci, oh·s − top + i, ow·s − left + j].
/// One task per output channel. Floating-point sums do not vectorise, so each tap accumulates
/// elementwise into a row `acc[tap, ow]` (which does) and the row is summed once at the end.
func depthwiseWeightGradient(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry) -> Tensor {
    let dw = Tensor(uninitializedShape: [g.cout, 1, g.kh, g.kw])
    let (s, taps) = (g.stride, g.kh * g.kw)
    let slots = min(Compute.workers, g.cout)
    let accumulators = Tensor(uninitializedShape: [slots, taps * g.ow])
    nonisolated(unsafe) let (pdy, px, pdw, pacc) = (dy.data, x.data, dw.data, accumulators.data)
    parallelSlices(g.cout, slots: slots) { slot, channels in
        let acc = pacc + slot * taps * g.ow
        for co in channels {
            let ci = co / g.coutPerGroup
            acc.update(repeating: 0, count: taps * g.ow)
            for img in 0..<g.n {
                let xp = px + (img * g.cin + ci) * g.inPlane
                let dyp = pdy + (img * g.cout + co) * g.outPlane
                for i in 0..<g.kh {
                    let rows = g.rows(tap: i)
                    for j in 0..<g.kw {
                        let cols = g.cols(tap: j)
                        let a = acc + (i * g.kw + j) * g.ow + cols.lowerBound
                        for oh in rows {
                            let start = (oh * s - g.padding.top + i) * g.w - g.padding.left + j + cols.lowerBound * s
                            let (src, d) = (xp + start, dyp + oh * g.ow + cols.lowerBound)
                            if s == 1 {
                                for o in 0..<cols.count { a[o] += d[o] * src[o] }
                            } else {
                                for o in 0..<cols.count { a[o] += d[o] * src[o * s] }
                            }
                        }
                    }
                }
            }
            for t in 0..<taps { pdw[co * taps + t] = sumOfFloats(acc + t * g.ow, g.ow) }
        }
    }
    withExtendedLifetime(accumulators) {}
    return dw
}
