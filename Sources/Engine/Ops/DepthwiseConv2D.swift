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

/// x: [N, Cin, H, W], w: [Cout, 1, kH, kW], bias: [Cout]? → y: [N, Cout, OH, OW]; `relu`: max(·, 0) as stored.
func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ y: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, relu: Bool = false) {
    let (hp, wp) = (geo.h + geo.padding.top + geo.padding.bottom, geo.w + geo.padding.left + geo.padding.right)
    let (planes, taps) = (geo.n * geo.cout, geo.kh * geo.kw)
    let slots = planeSlots(planes, work: geo.outPlane * taps)
    let scratch = Tensor(uninitializedShape: [slots, hp * wp])
    nonisolated(unsafe) let (px, pw, pb, py, ps) = (x, w, bias, y, scratch.data)
    parallelSlices(planes, slots: slots) { slot, range in
        let padded = ps + slot * hp * wp
        var paddedInput = -1  // with a multiplier, consecutive output channels read the same plane
        for plane in range {
            let (img, co) = plane.quotientAndRemainder(dividingBy: geo.cout)
            let input = img * geo.cin + co / geo.coutPerGroup
            if input != paddedInput {
                padPlane(px + input * geo.inPlane, h: geo.h, w: geo.w, into: padded, hp: hp, wp: wp,
                         top: geo.padding.top, left: geo.padding.left)
                paddedInput = input
            }
            let yp = py + plane * geo.outPlane
            yp.update(repeating: pb?[co] ?? 0, count: geo.outPlane)
            if relu {
                correlatePlane(padded, width: wp, pw + co * taps, kh: geo.kh, kw: geo.kw, stride: geo.stride,
                               adding: yp, oh: geo.oh, ow: geo.ow, relu: true)
            } else {
                correlatePlane(padded, width: wp, pw + co * taps, kh: geo.kh, kw: geo.kw, stride: geo.stride,
                               adding: yp, oh: geo.oh, ow: geo.ow)
            }
        }
    }
    withExtendedLifetime(scratch) {}
}

/// dy: [N, Cout, OH, OW], weight: [Cout, 1, kH, kW] → dx: [N, Cin, H, W].
/// One task per input plane; it gathers from the m output channels that read it.
/// Stride 1: dx is the correlation of dy, padded by (kH − 1 − top, kW − 1 − left), with the
/// kernel flipped — the forward kernel again. Other strides: each dy element is scattered onto a
/// padded dx plane, which is then cropped. With `mask` (a fused ReLU's output, dy's shape), dy·[mask > 0]
/// is used for dy, masked where dy is padded or read.
func depthwiseInputGradient(_ dy: Tensor, _ weight: Tensor, _ geo: ConvGeometry, mask: Tensor? = nil) -> Tensor {
    let dx = Tensor(uninitializedShape: [geo.n, geo.cin, geo.h, geo.w])
    let (planes, taps, m, s) = (geo.n * geo.cin, geo.kh * geo.kw, geo.coutPerGroup, geo.stride)
    let (hp, wp) = s == 1 ? (geo.h + geo.kh - 1, geo.w + geo.kw - 1)
                          : (geo.h + geo.padding.top + geo.padding.bottom, geo.w + geo.padding.left + geo.padding.right)
    let slots = planeSlots(planes, work: m * geo.outPlane * taps)
    let scratch = Tensor(uninitializedShape: [slots, hp * wp + taps])
    nonisolated(unsafe) let (pdy, pw, pdx, ps, pm) = (dy.data, weight.data, dx.data, scratch.data, mask?.data)
    parallelSlices(planes, slots: slots) { slot, range in
        let padded = ps + slot * (hp * wp + taps), flipped = padded + hp * wp
        for plane in range {
            let (img, ci) = plane.quotientAndRemainder(dividingBy: geo.cin)
            let dxp = pdx + plane * geo.inPlane
            if s == 1 { dxp.update(repeating: 0, count: geo.inPlane) } else { padded.update(repeating: 0, count: hp * wp) }
            for co in ci * m..<(ci + 1) * m {
                let (dyp, k) = (pdy + (img * geo.cout + co) * geo.outPlane, pw + co * taps)
                let mp = pm.map { $0 + (img * geo.cout + co) * geo.outPlane }
                if s == 1 {
                    padPlane(dyp, mask: mp, h: geo.oh, w: geo.ow, into: padded, hp: hp, wp: wp,
                             top: geo.kh - 1 - geo.padding.top, left: geo.kw - 1 - geo.padding.left)
                    for t in 0..<taps { flipped[t] = k[taps - 1 - t] }
                    correlatePlane(padded, width: wp, flipped, kh: geo.kh, kw: geo.kw, stride: 1,
                                   adding: dxp, oh: geo.h, ow: geo.w)
                } else {
                    // x_padded[oh·s + i, ow·s + j] fed y[oh, ow] with weight k[i, j]
                    for r in 0..<geo.oh {
                        for c in 0..<geo.ow {
                            let at = r * geo.ow + c
                            let gv = mp.map { $0[at] > 0 ? dyp[at] : 0 } ?? dyp[at], window = padded + r * s * wp + c * s
                            for i in 0..<geo.kh { for j in 0..<geo.kw { window[i * wp + j] += k[i * geo.kw + j] * gv } }
                        }
                    }
                }
            }
            if s != 1 {
                for ih in 0..<geo.h {
                    (dxp + ih * geo.w).update(from: padded + (ih + geo.padding.top) * wp + geo.padding.left, count: geo.w)
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
func depthwiseWeightGradient(_ dy: Tensor, _ x: Tensor, _ geo: ConvGeometry) -> Tensor {
    let dw = Tensor(uninitializedShape: [geo.cout, 1, geo.kh, geo.kw])
    let (hp, wp) = (geo.h + geo.padding.top + geo.padding.bottom, geo.w + geo.padding.left + geo.padding.right)
    let taps = geo.kh * geo.kw
    let slots = planeSlots(geo.cout, work: geo.n * geo.outPlane * taps)
    let scratch = Tensor(uninitializedShape: [slots, hp * wp])
    nonisolated(unsafe) let (pdy, px, pdw, ps) = (dy.data, x.data, dw.data, scratch.data)
    parallelSlices(geo.cout, slots: slots) { slot, channels in
        let padded = ps + slot * hp * wp
        for co in channels {
            let dk = pdw + co * taps
            dk.update(repeating: 0, count: taps)
            for img in 0..<geo.n {
                padPlane(px + (img * geo.cin + co / geo.coutPerGroup) * geo.inPlane, h: geo.h, w: geo.w,
                         into: padded, hp: hp, wp: wp, top: geo.padding.top, left: geo.padding.left)
                accumulateKernelGradient(padded, width: wp, pdy + (img * geo.cout + co) * geo.outPlane,
                                         oh: geo.oh, ow: geo.ow, stride: geo.stride, kh: geo.kh, kw: geo.kw, into: dk)
            }
        }
    }
    withExtendedLifetime(scratch) {}
    return dw
}

// MARK: - Plane kernels

/// dst[hp, wp] = src[h, w] moved down `top` rows and right `left` columns, zeros elsewhere.
/// Negative offsets crop (rows or columns that would land outside dst are dropped).
/// With `mask` (src's shape), src·[mask > 0] is placed instead.
@inline(__always)
private func padPlane(_ src: UnsafePointer<Float>, mask: UnsafePointer<Float>? = nil, h: Int, w: Int,
                      into dst: UnsafeMutablePointer<Float>, hp: Int, wp: Int, top: Int, left: Int) {
    dst.update(repeating: 0, count: hp * wp)
    let (r0, r1) = (max(0, -top), min(h, hp - top))
    let (c0, c1) = (max(0, -left), min(w, wp - left))
    guard r0 < r1 && c0 < c1 else { return }
    for r in r0..<r1 {
        let (from, to) = (r * w + c0, dst + (r + top) * wp + left + c0)
        if let mask {
            simdMap(c1 - c0, base: 0, to: to, { maskedByPositive(load8(src + from, $0), load8(mask + from, $0)) },
                    { mask[from + $0] > 0 ? src[from + $0] : 0 })
        } else {
            to.update(from: src + from, count: c1 - c0)
        }
    }
}

/// out[r, c] += Σ_{i, j} k[i, j] · src[r·s + i, c·s + j] for r < oh, c < ow; `src` has rows of
/// `width` floats and is large enough (padded). At stride 1, 8 outputs at a time in one SIMD register;
/// a row whose width is not a multiple of 8 (28, 14, …) ends with one more vector over its last 8
/// outputs, started from their values before this call, so the outputs it shares with the vector
/// before it get the same sum again (bit for bit: same terms, same order) instead of a scalar tail.
/// `relu`: out[r, c] = max(out[r, c] + Σ…, 0) instead, clamped as stored (the shared outputs of the
/// last vector are clamped twice, to the same value).
@inline(__always)
private func correlatePlane(_ src: UnsafePointer<Float>, width sw: Int, _ k: UnsafePointer<Float>,
                            kh: Int, kw: Int, stride s: Int, adding out: UnsafeMutablePointer<Float>,
                            oh: Int, ow: Int, relu: Bool = false) {
    if kh == 3 && kw == 3 && s == 1 && ow >= 8 {
        return correlatePlane3x3(src, width: sw, k, adding: out, oh: oh, ow: ow, relu: relu)
    }
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
            let v = vector(load8(o + c), base, c)
            store8(relu ? positivePart(v) : v, o + c)
            c += 8
        }
        if overlappingTail {
            let v = vector(tailBefore, base, tailStart)
            store8(relu ? positivePart(v) : v, o + tailStart)
            continue
        }
        while c < ow {
            var acc = o[c]
            let window = base + c * s
            for i in 0..<kh { for j in 0..<kw { acc += k[i * kw + j] * window[i * sw + j] } }
            o[c] = relu ? (acc > 0 ? acc : 0) : acc
            c += 1
        }
    }
}

/// `correlatePlane` for a 3×3 kernel at stride 1 on rows of at least 8 outputs (the first layers of
/// smallcnn and tinycnn, and their input gradients): the nine taps stay in registers for the whole
/// plane and each vector's sum is unrolled, in the same order (taps row by row) from the same start,
/// so the floats are those of the general loop. The ReLU is chosen once, outside the loop
/// (`correlateRows3x3`): chosen per vector, as `correlatePlane` does, the optimiser rebuilt the sums
/// from partial loads, blends and scalar multiplies (perf and the assembly, 2026-12-07: the layer ran at
/// 13 GFLOP/s), where nine plain unaligned loads and multiply-adds per vector are what the core does
/// best. Called once per plane and never inlined, so its loop is compiled as the assembly was checked.
@inline(never)
private func correlatePlane3x3(_ src: UnsafePointer<Float>, width sw: Int, _ k: UnsafePointer<Float>,
                               adding out: UnsafeMutablePointer<Float>, oh: Int, ow: Int, relu: Bool) {
    if relu {
        correlateRows3x3(src, width: sw, k, adding: out, oh: oh, ow: ow, finish: positivePart)
    } else {
        correlateRows3x3(src, width: sw, k, adding: out, oh: oh, ow: ow, finish: { $0 })
    }
}

/// The rows of `correlatePlane3x3`, each output vector passed through `finish` as it is stored.
@inline(__always)
private func correlateRows3x3(_ src: UnsafePointer<Float>, width sw: Int, _ k: UnsafePointer<Float>,
                              adding out: UnsafeMutablePointer<Float>, oh: Int, ow: Int,
                              finish: (SIMD8<Float>) -> SIMD8<Float>) {
    let (k0, k1, k2) = (SIMD8<Float>(repeating: k[0]), SIMD8<Float>(repeating: k[1]), SIMD8<Float>(repeating: k[2]))
    let (k3, k4, k5) = (SIMD8<Float>(repeating: k[3]), SIMD8<Float>(repeating: k[4]), SIMD8<Float>(repeating: k[5]))
    let (k6, k7, k8) = (SIMD8<Float>(repeating: k[6]), SIMD8<Float>(repeating: k[7]), SIMD8<Float>(repeating: k[8]))
    @inline(__always) func vector(_ acc: SIMD8<Float>, _ p: UnsafePointer<Float>) -> SIMD8<Float> {
        var acc = acc
        acc += k0 * load8(p); acc += k1 * load8(p + 1); acc += k2 * load8(p + 2)
        let q = p + sw
        acc += k3 * load8(q); acc += k4 * load8(q + 1); acc += k5 * load8(q + 2)
        let u = q + sw
        acc += k6 * load8(u); acc += k7 * load8(u + 1); acc += k8 * load8(u + 2)
        return finish(acc)
    }
    let tail = ow - 8, vectorEnd = ow - ow % 8
    for r in 0..<oh {
        let (o, base) = (out + r * ow, src + r * sw)
        // The last vector overlaps the one before it when ow % 8 ≠ 0 (see `correlatePlane`): it starts
        // from the outputs' values before this row's stores.
        let tailBefore = load8(o + tail)
        var c = 0
        while c < vectorEnd { store8(vector(load8(o + c), base + c), o + c); c += 8 }
        if vectorEnd != ow { store8(vector(tailBefore, base + tail), o + tail) }
    }
}

/// dk[i, j] += Σ_{r, c} dy[r, c] · src[r·s + i, c·s + j]. At stride 1 each tap's sum runs in a
/// SIMD register over the whole (L1-resident) plane, since scalar float sums do not vectorise.
@inline(__always)
private func accumulateKernelGradient(_ src: UnsafePointer<Float>, width sw: Int, _ dy: UnsafePointer<Float>,
                                      oh: Int, ow: Int, stride s: Int, kh: Int, kw: Int,
                                      into dk: UnsafeMutablePointer<Float>) {
    let vectorEnd = s == 1 ? ow - ow % 8 : 0
    for i in 0..<kh {
        for j in 0..<kw {
            var acc = SIMD8<Float>(), tail: Float = 0
            for r in 0..<oh {
                let (dyRow, window) = (dy + r * ow, src + (r * s + i) * sw + j)
                var c = 0
                while c < vectorEnd { acc += load8(dyRow + c) * load8(window + c); c += 8 }
                while c < ow { tail += dyRow[c] * window[c * s]; c += 1 }
            }
            dk[i * kw + j] += acc.sum() + tail
        }
    }
}

