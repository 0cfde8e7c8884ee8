/// Direct kernels for convolutions in which every output channel reads a single input channel
/// (Cin/groups == 1): depthwise (groups = Cin = Cout, MobileNetV2), depthwise with a channel
/// multiplier m (Cout = m·Cin; output channel co reads input channel co / m), and a first layer on
/// a single-channel image (Cin = 1, groups = 1: m = Cout).
///
/// As GEMMs these would have an inner dimension of kH·kW (9), far too small for sgemm to pay off.
/// Each plane is first copied into a zero-padded scratch plane (one per worker), so the kernels
/// need no bounds checks; then every output is accumulated over all kH·kW taps in registers
/// (8 outputs per SIMD vector at stride 1) and stored once. Work is split over independent planes
/// or channels, so no two workers write the same floats.
///
/// Shapes: `x: [N, Cin, H, W]`, `weight: [Cout, 1, kH, kW]`, `bias: [Cout]` → `y: [N, Cout, OH, OW]`;
/// padded plane `[Hp, Wp] = [H + top + bottom, W + left + right]`.

/// Workers worth using for `planes` independent planes of `work` flops each.
private func planeSlots(_ planes: Int, work: Int) -> Int {
    max(1, min(Compute.workers, planes, planes * work / elementwiseGrain))
}

/// x: [N, Cin, H, W], w: [Cout, 1, kH, kW], bias: [Cout]? → y: [N, Cout, OH, OW]
func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let (hp, wp) = (g.h + g.padding.top + g.padding.bottom, g.w + g.padding.left + g.padding.right)
    let (planes, taps) = (g.n * g.cout, g.kh * g.kw)
    let slots = planeSlots(planes, work: g.outPlane * taps)
    let scratch = Tensor(uninitializedShape: [slots, hp * wp])
    nonisolated(unsafe) let (px, pw, pb, py, ps) = (x, w, bias, y, scratch.data)
    parallelSlices(planes, slots: slots) { slot, range in
        let padded = ps + slot * hp * wp
        var paddedInput = -1  // with a multiplier, consecutive output channels read the same plane
        for plane in range {
            let (img, co) = plane.quotientAndRemainder(dividingBy: g.cout)
            let input = img * g.cin + co / g.coutPerGroup
            if input != paddedInput {
                padPlane(px + input * g.inPlane, h: g.h, w: g.w, into: padded, hp: hp, wp: wp,
                         top: g.padding.top, left: g.padding.left)
                paddedInput = input
            }
            let yp = py + plane * g.outPlane
            yp.update(repeating: pb?[co] ?? 0, count: g.outPlane)
            correlatePlane(padded, width: wp, pw + co * taps, kh: g.kh, kw: g.kw, stride: g.stride,
                           adding: yp, oh: g.oh, ow: g.ow)
        }
    }
    withExtendedLifetime(scratch) {}
}

/// dy: [N, Cout, OH, OW], weight: [Cout, 1, kH, kW] → dx: [N, Cin, H, W].
/// One task per input plane; it gathers from the m output channels that read it.
/// Stride 1: dx is the correlation of dy, padded by (kH − 1 − top, kW − 1 − left), with the
/// kernel flipped — the forward kernel again. Other strides: each dy element is scattered onto a
/// padded dx plane, which is then cropped.
func depthwiseInputGradient(_ dy: Tensor, _ weight: Tensor, _ g: ConvGeometry) -> Tensor {
    let dx = Tensor(uninitializedShape: [g.n, g.cin, g.h, g.w])
    let (planes, taps, m, s) = (g.n * g.cin, g.kh * g.kw, g.coutPerGroup, g.stride)
    let (hp, wp) = s == 1 ? (g.h + g.kh - 1, g.w + g.kw - 1)
                          : (g.h + g.padding.top + g.padding.bottom, g.w + g.padding.left + g.padding.right)
    let slots = planeSlots(planes, work: m * g.outPlane * taps)
    let scratch = Tensor(uninitializedShape: [slots, hp * wp + taps])
    nonisolated(unsafe) let (pdy, pw, pdx, ps) = (dy.data, weight.data, dx.data, scratch.data)
    parallelSlices(planes, slots: slots) { slot, range in
        let padded = ps + slot * (hp * wp + taps), flipped = padded + hp * wp
        for plane in range {
            let (img, ci) = plane.quotientAndRemainder(dividingBy: g.cin)
            let dxp = pdx + plane * g.inPlane
            if s == 1 { dxp.update(repeating: 0, count: g.inPlane) } else { padded.update(repeating: 0, count: hp * wp) }
            for co in ci * m..<(ci + 1) * m {
                let (dyp, k) = (pdy + (img * g.cout + co) * g.outPlane, pw + co * taps)
                if s == 1 {
                    padPlane(dyp, h: g.oh, w: g.ow, into: padded, hp: hp, wp: wp,
                             top: g.kh - 1 - g.padding.top, left: g.kw - 1 - g.padding.left)
                    for t in 0..<taps { flipped[t] = k[taps - 1 - t] }
                    correlatePlane(padded, width: wp, flipped, kh: g.kh, kw: g.kw, stride: 1,
                                   adding: dxp, oh: g.h, ow: g.w)
                } else {
                    // x_padded[oh·s + i, ow·s + j] fed y[oh, ow] with weight k[i, j]
                    for r in 0..<g.oh {
                        for c in 0..<g.ow {
                            let gv = dyp[r * g.ow + c], window = padded + r * s * wp + c * s
                            for i in 0..<g.kh { for j in 0..<g.kw { window[i * wp + j] += k[i * g.kw + j] * gv } }
                        }
                    }
                }
            }
            if s != 1 {
                for ih in 0..<g.h {
                    (dxp + ih * g.w).update(from: padded + (ih + g.padding.top) * wp + g.padding.left, count: g.w)
                }
            }
        }
    }
    withExtendedLifetime(scratch) {}
    return dx
}

/// dy: [N, Cout, OH, OW], x: [N, Cin, H, W] → dW: [Cout, 1, kH, kW],
/// dW[co, i, j] = Σ_{n, oh, ow} dy[n, co, oh, ow] · x_padded[n, ci, oh·s + i, ow·s + j].
/// One task per output channel, looping over the batch.
func depthwiseWeightGradient(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry) -> Tensor {
    let dw = Tensor(uninitializedShape: [g.cout, 1, g.kh, g.kw])
    let (hp, wp) = (g.h + g.padding.top + g.padding.bottom, g.w + g.padding.left + g.padding.right)
    let taps = g.kh * g.kw
    let slots = planeSlots(g.cout, work: g.n * g.outPlane * taps)
    let scratch = Tensor(uninitializedShape: [slots, hp * wp])
    nonisolated(unsafe) let (pdy, px, pdw, ps) = (dy.data, x.data, dw.data, scratch.data)
    parallelSlices(g.cout, slots: slots) { slot, channels in
        let padded = ps + slot * hp * wp
        for co in channels {
            let dk = pdw + co * taps
            dk.update(repeating: 0, count: taps)
            for img in 0..<g.n {
                padPlane(px + (img * g.cin + co / g.coutPerGroup) * g.inPlane, h: g.h, w: g.w,
                         into: padded, hp: hp, wp: wp, top: g.padding.top, left: g.padding.left)
                accumulateKernelGradient(padded, width: wp, pdy + (img * g.cout + co) * g.outPlane,
                                         oh: g.oh, ow: g.ow, stride: g.stride, kh: g.kh, kw: g.kw, into: dk)
            }
        }
    }
    withExtendedLifetime(scratch) {}
    return dw
}

// MARK: - Plane kernels

/// dst[hp, wp] = src[h, w] moved down `top` rows and right `left` columns, zeros elsewhere.
/// Negative offsets crop (rows or columns that would land outside dst are dropped).
@inline(__always)
private func padPlane(_ src: UnsafePointer<Float>, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>,
                      hp: Int, wp: Int, top: Int, left: Int) {
    dst.update(repeating: 0, count: hp * wp)
    let (r0, r1) = (max(0, -top), min(h, hp - top))
    let (c0, c1) = (max(0, -left), min(w, wp - left))
    guard r0 < r1 && c0 < c1 else { return }
    for r in r0..<r1 { (dst + (r + top) * wp + left + c0).update(from: src + r * w + c0, count: c1 - c0) }
}

/// out[r, c] += Σ_{i, j} k[i, j] · src[r·s + i, c·s + j] for r < oh, c < ow; `src` has rows of
/// `width` floats and is large enough (padded). At stride 1, 8 outputs at a time in one SIMD register;
/// a row whose width is not a multiple of 8 (28, 14, …) ends with one more vector over its last 8
/// outputs, started from their values before this call, so the outputs it shares with the vector
/// before it get the same sum again (bit for bit: same terms, same order) instead of a scalar tail.
@inline(__always)
private func correlatePlane(_ src: UnsafePointer<Float>, width sw: Int, _ k: UnsafePointer<Float>,
                            kh: Int, kw: Int, stride s: Int, adding out: UnsafeMutablePointer<Float>,
                            oh: Int, ow: Int) {
    let vectorEnd = s == 1 ? ow - ow % 8 : 0
    let overlappingTail = s == 1 && ow > 8 && ow % 8 != 0
    @inline(__always) func vector(_ acc: SIMD8<Float>, _ base: UnsafePointer<Float>, _ c: Int) -> SIMD8<Float> {
        var acc = acc
        for i in 0..<kh {
            let row = base + i * sw + c
            for j in 0..<kw { acc += SIMD8(repeating: k[i * kw + j]) * load8(row + j) }
        }
        return acc
    }
    for r in 0..<oh {
        let (o, base) = (out + r * ow, src + r * s * sw)
        let tailStart = ow - 8
        let tailBefore = overlappingTail ? load8(o + tailStart) : SIMD8<Float>()
        var c = 0
        while c < vectorEnd {
            store8(vector(load8(o + c), base, c), o + c)
            c += 8
        }
        if overlappingTail {
            store8(vector(tailBefore, base, tailStart), o + tailStart)
            continue
        }
        while c < ow {
            var acc = o[c]
            let window = base + c * s
            for i in 0..<kh { for j in 0..<kw { acc += k[i * kw + j] * window[i * sw + j] } }
            o[c] = acc
            c += 1
        }
    }
}

/// dk[i, j] += Σ_{r, c} g[r, c] · src[r·s + i, c·s + j]. At stride 1 each tap's sum runs in a
/// SIMD register over the whole (L1-resident) plane, since scalar float sums do not vectorise.
@inline(__always)
private func accumulateKernelGradient(_ src: UnsafePointer<Float>, width sw: Int, _ g: UnsafePointer<Float>,
                                      oh: Int, ow: Int, stride s: Int, kh: Int, kw: Int,
                                      into dk: UnsafeMutablePointer<Float>) {
    let vectorEnd = s == 1 ? ow - ow % 8 : 0
    for i in 0..<kh {
        for j in 0..<kw {
            var acc = SIMD8<Float>(), tail: Float = 0
            for r in 0..<oh {
                let (gr, window) = (g + r * ow, src + (r * s + i) * sw + j)
                var c = 0
                while c < vectorEnd { acc += load8(gr + c) * load8(window + c); c += 8 }
                while c < ow { tail += gr[c] * window[c * s]; c += 1 }
            }
            dk[i * kw + j] += acc.sum() + tail
        }
    }
}

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) private func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { load8(UnsafePointer(p)) }
@inline(__always) private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
