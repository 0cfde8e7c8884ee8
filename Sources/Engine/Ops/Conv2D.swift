/// 2-D convolution (PyTorch `nn.Conv2d` semantics: cross-correlation, zero padding, groups).
///
/// Legend: N batch, Cin/Cout channels, H×W input, kH×kW kernel, OH×OW output, cg = Cin/groups,
/// og = Cout/groups, s stride.
/// Shapes: `x: [N, Cin, H, W]`, `weight: [Cout, cg, kH, kW]`, `bias: [Cout]` → `y: [N, Cout, OH, OW]`,
/// `OH = (H + top + bottom − kH) / s + 1`, `OW = (W + left + right − kW) / s + 1`.
///
/// Four kernels, chosen per call (the FLOP count is the direct method's whichever runs):
/// - 3×3, stride 1, one group, ≥ 8 channels each side: Winograd F(4×4, 3×3) (Winograd.swift),
///   4× fewer multiplications; its dX and dW are Winograd too;
/// - one input channel per group (cg == 1: depthwise, depthwise with a multiplier, a single-channel
///   image): a direct kernel (DepthwiseConv2D.swift), since its GEMMs would have an inner dimension
///   of only kH·kW;
/// - pointwise (1×1, stride 1, unpadded): per image, `y_g = W_g · x_g`, the image is the column matrix;
/// - general: `y_g = W_g · im2col(x_g)` with one single-threaded `serialGEMM` per chunk of images
///   (`imagesPerGEMM`, one image unless its plane is small); chunks are split over
///   `Compute.parts` slots (whatever the worker count, so that the GEMMs' sizes and dW's partial sums are the
///   same with any `--threads`), each slot owning its buffers.
///
/// A fused ReLU (`relu: true`, the epilogue of a convolution with eval-mode batch norm folded in,
/// BatchNormFold.swift) is applied where each kernel writes its outputs: Winograd's output transform
/// and the depthwise kernel's vector stores clamp as they store, the GEMM kernels as they copy a
/// chunk's outputs into y or, where the GEMM writes y itself (one image per GEMM), over that image's
/// block right after its GEMM, while it is still in cache.

/// Zero padding added to each side of the input's spatial dimensions.
public struct Padding: Equatable, Sendable {
    public var top: Int, bottom: Int, left: Int, right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }

    /// The same padding `p` on all four sides (PyTorch's `padding=p`).
    public static func symmetric(_ p: Int) -> Padding { Padding(top: p, bottom: p, left: p, right: p) }
}

/// Convolution of `x` with `weight` (+ `bias`), see the file header for shapes.
/// Backward computes dX, dW and dBias only for the inputs whose gradient is needed.
/// `relu: true` fuses the ReLU that follows: y = max(conv(x) + bias, 0), exactly `conv2d(…).relu()` (a NaN
/// gives 0), with no pass of its own (see the header). Its backward keeps y, as `relu()` does, and runs the
/// usual backward on g = dy·[y > 0]: the depthwise input gradient masks dy as it pads dy's planes, the other
/// kernels read g from one SIMD pass; dBias = Σ g, masked as it sums. (Masking inside Winograd's blocked-plane
/// copy of dy instead measured 6–28 % slower on smallcnn's 32→64 layer than this pass, 2026-12-06.)
///
/// `adding: residual` (y's shape) fuses a residual connection too: y = conv(x) + bias + residual (then the ReLU),
/// exactly `(conv2d(…) + residual).relu()`, the sums rounded in that order; on a Winograd layer the output transform
/// adds it as it stores, with no pass of its own (a ResNet block's second convolution in eval mode, its batch norm
/// folded in; bench/README.md). The residual's gradient is g, as the addition's backward gives it.
/// Complexity: 2·N·Cout·OH·OW·cg·kH·kW flops forward; dX and dW cost as much again each.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1,
                   padding: Padding = .symmetric(0), groups: Int = 1, adding residual: Tensor? = nil,
                   relu: Bool = false) -> Tensor {
    let geo = convGeometry(x: x.shape, weight: weight.shape, bias: bias?.shape,
                           stride: stride, padding: padding, groups: groups)
    let shape = [geo.n, geo.cout, geo.oh, geo.ow]
    if let residual {
        require(residual.shape == shape, "conv2d: the residual has shape \(residual.shape), expected the output's \(shape)")
    }
    let y = Tensor(uninitializedShape: shape)
    let epilogue = (residual == nil ? "" : "+add") + (relu ? "+relu" : "")
    let name = OpProfile.isRecording ? geo.profileName + epilogue : "conv2d" + epilogue
    OpProfile.measure(name) {
        // The Winograd output transform adds the residual itself; the other kernels store conv + bias, then one pass adds it.
        let reluInKernel = relu && residual == nil
        if geo.isDepthwise {
            depthwiseForward(x.data, weight.data, bias?.data, y.data, geo, relu: reluInKernel)
        } else if geo.usesWinograd {
            winogradConvForward(x.data, weight.storage, bias?.data, y.data, geo, relu: relu, residual: residual?.data)
            return
        } else {
            gemmConvForward(x.data, weight.data, bias?.data, y.data, geo, relu: reluInKernel)
        }
        if let residual { addResidual(residual, into: y, relu: relu) }
    }
    FLOPCounter.add(geo.directFLOPs)
    let inputs = [x, weight] + [bias, residual].compactMap { $0 }
    // With the ReLU fused, backward masks dy by the output (a plain alias: no node ↔ output cycle).
    let output = relu ? y.savedForBackward : nil
    record(y, name, inputs) { dy, needs in
        // dy: [N, Cout, OH, OW]
        // g = dy·[y > 0]: masked as the depthwise dx pads dy and as dBias sums it (`mask`), else here.
        var (g, mask) = (dy, nil as Tensor?)
        if let output {
            if geo.isDepthwise && !needs[1] && residual == nil { mask = output } else { g = zipMap(dy, output, ReLUBackward()) }
        }
        guard residual != nil else { return convGradients(g, mask: mask, x, weight, geo, needs: needs) }
        // [x, weight, bias?] as without a residual, then the residual's: g itself.
        return convGradients(g, mask: mask, x, weight, geo, needs: Array(needs.dropLast())) + [needs.last! ? g : nil]
    }
    return y
}

/// y = y + residual, then max(·, 0) with `relu`, in place: the residual connection of `conv2d(…, adding:)` for the
/// kernels that do not add it as they store.
private func addResidual(_ residual: Tensor, into y: Tensor, relu: Bool) {
    nonisolated(unsafe) let (pr, py) = (UnsafePointer(residual.data), y.data)
    parallelFor(y.count, grain: elementwiseGrain) { r in
        if relu {
            simdMap(r.count, base: r.lowerBound, to: py, { positivePart(load8(py, $0) + load8(pr, $0)) },
                    { let v = py[$0] + pr[$0]; return v > 0 ? v : 0 })
        } else {
            simdMap(r.count, base: r.lowerBound, to: py, { load8(py, $0) + load8(pr, $0) }, { py[$0] + pr[$0] })
        }
    }
}

/// The gradients of conv2d's inputs [x, weight, bias?] (as many as `needs`) from g = ∂L/∂y, each only when needed;
/// `mask` (the depthwise kernel's fused ReLU): g counts only where the mask is > 0. Shared by `conv2d` and
/// `conv2dReLUMaxPool2`, whose g comes from the pooling's window codes.
private func convGradients(_ g: Tensor, mask: Tensor?, _ x: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
                           needs: [Bool]) -> [Tensor?] {
    var grads: [Tensor?] = Array(repeating: nil, count: needs.count)
    if geo.isDepthwise {
        if needs[0] { grads[0] = depthwiseInputGradient(g, weight, geo, mask: mask) }
        if needs[1] { grads[1] = depthwiseWeightGradient(g, x, geo) }
    } else if geo.usesWinograd && (needs[0] || needs[1]) {
        (grads[0], grads[1]) = winogradConvBackward(g, x, weight, geo, wantX: needs[0], wantW: needs[1])
    } else if needs[0] || needs[1] {
        (grads[0], grads[1]) = gemmConvBackward(g, x, weight, geo, wantX: needs[0], wantW: needs[1])
    }
    // dX and dW each cost as much as the forward pass.
    FLOPCounter.add(geo.directFLOPs * ((needs[0] ? 1 : 0) + (needs[1] ? 1 : 0)))
    if needs.count == 3 && needs[2] { grads[2] = convBiasGradient(g, geo, mask: mask) }
    return grads
}

/// `maxPool2d(conv2d(x, weight:, bias:, stride:, padding:, groups:, relu: true), kernel: 2)`, the same values bit
/// for bit, and where a graph is recorded the same gradients bit for bit. On a Winograd layer it is one op: the
/// output transform stores each 2×2 window's maximum (`storePooledTile`), so the full-size activation is never
/// written nor read again by a pooling pass (measured in bench/README.md). Recorded (an attack's input gradient,
/// a teacher or student in eval mode under training), it also keeps one byte per pooled output saying which of
/// its window's four outputs is the maximum, or that the maximum is 0 (`WindowArgmax`); backward scatters dy to
/// those outputs — what the pooling's backward and then the ReLU's mask would give, g = ∂L/∂(conv output) — and
/// runs the convolution's backward on g. Other layers: the two ops.
public func conv2dReLUMaxPool2(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1,
                               padding: Padding = .symmetric(0), groups: Int = 1) -> Tensor {
    let geo = convGeometry(x: x.shape, weight: weight.shape, bias: bias?.shape, stride: stride, padding: padding, groups: groups)
    guard geo.usesWinograd, geo.n > 0, geo.oh >= 2, geo.ow >= 2 else {
        return maxPool2d(conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups, relu: true),
                         kernel: 2)
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    let recorded = willRecord(inputs)
    let y = Tensor(uninitializedShape: [geo.n, geo.cout, geo.oh / 2, geo.ow / 2])
    let name = OpProfile.isRecording ? geo.profileName + "+relu+maxPool2" : "conv2d+relu+maxPool2"
    let argmax = [UInt8](unsafeUninitializedCapacity: recorded ? y.count : 0) { codes, initialized in
        OpProfile.measure(name) {
            // An empty buffer may still have a base address (the shared empty storage): never write there.
            winogradConvForward(x.data, weight.storage, bias?.data, y.data, geo, relu: true, pool: true,
                                argmax: recorded ? codes.baseAddress : nil)
        }
        initialized = codes.count
    }
    FLOPCounter.add(geo.directFLOPs)
    guard recorded else { return y }
    record(y, name, inputs) { dy, needs in
        // dy: [N, Cout, OH/2, OW/2] → g: [N, Cout, OH, OW] → dx, dW, dBias as conv2d's backward.
        let g = argmax.withUnsafeBufferPointer {
            unpooledGradient(dy, codes: $0.baseAddress!, shape: [geo.n, geo.cout, geo.oh, geo.ow])
        }
        return convGradients(g, mask: nil, x, weight, geo, needs: needs)
    }
    return y
}

/// Checks the shapes of a conv2d call and derives its geometry.
private func convGeometry(x: [Int], weight w: [Int], bias: [Int]?, stride: Int, padding p: Padding,
                          groups: Int) -> ConvGeometry {
    require(x.count == 4, "conv2d: x must be [N, Cin, H, W], got \(x) (weight \(w))")
    require(w.count == 4, "conv2d: weight must be [Cout, Cin/groups, kH, kW], got \(w) (x \(x))")
    require(stride >= 1 && groups >= 1, "conv2d: stride \(stride) and groups \(groups) must be ≥ 1")
    require(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0,
            "conv2d: negative padding \(p)")
    let (n, cin, h, wd) = (x[0], x[1], x[2], x[3])
    let (cout, cg, kh, kw) = (w[0], w[1], w[2], w[3])
    require(cin % groups == 0 && cout % groups == 0,
            "conv2d: groups \(groups) must divide the channels of x \(x) and of weight \(w)")
    require(cg * groups == cin,
            "conv2d: x \(x) has \(cin) channels, weight \(w) with groups \(groups) expects \(cg * groups)")
    if let bias {
        require(bias == [cout], "conv2d: bias \(bias) does not match weight \(w): expected [\(cout)]")
    }
    let ph = h + p.top + p.bottom, pw = wd + p.left + p.right
    require(kh >= 1 && kw >= 1 && kh <= ph && kw <= pw,
            "conv2d: kernel of weight \(w) does not fit x \(x) padded by \(p)")
    return ConvGeometry(n: n, cin: cin, h: h, w: wd, cout: cout, kh: kh, kw: kw,
                        stride: stride, padding: p, groups: groups,
                        oh: (ph - kh) / stride + 1, ow: (pw - kw) / stride + 1)
}

/// C = op(A)·op(B) (+ beta·C), contiguous row-major. With `split` the GEMM itself is cut into parts
/// (`parallelGEMM`: a batch of one image leaves nothing else to parallelise); otherwise single-threaded,
/// since the caller already runs one per part.
@inline(__always)
private func matmul(_ split: Bool, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                    _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, beta: Float = 0,
                    transA: Bool = false, transB: Bool = false, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil) {
    if split {
        // Only a batch of one image splits its GEMMs, and one image never needs row strides.
        require(lda == nil && ldb == nil && ldc == nil, "split GEMM with strided operands")
        parallelGEMM(a, b, c, m: m, n: n, k: k, beta: beta, transA: transA, transB: transB)
    } else {
        serialGEMM(a, b, c, m: m, n: n, k: k, beta: beta, transA: transA, transB: transB, lda: lda, ldb: ldb, ldc: ldc)
    }
}

extension ConvGeometry {
    /// Images per GEMM of the im2col kernel: enough that the GEMM has ~512 columns. Deep layers
    /// have tiny planes (4×4 in ResNet-18's last stage): one GEMM per image would have 16 columns,
    /// re-pack the whole weight matrix for each, and in dW accumulate into all of it per image
    /// with an inner dimension of 16. One image when the plane alone is wide enough.
    var imagesPerGEMM: Int {
        guard outPlane < 512, !isPointwise else { return 1 }
        return max(1, min((512 + outPlane - 1) / outPlane, (n + Compute.parts - 1) / Compute.parts))
    }
}

/// x: [N, Cin, H, W], w: [Cout, cg, kH, kW], bias: [Cout]? → y: [N, Cout, OH, OW] (relu: max(·, 0))
/// Per chunk of `imagesPerGEMM` images and per group: the images' columns side by side,
/// `Y[og, images·OH·OW] = W_g · col`, then Y is copied image by image into y (adding the bias, clamping
/// with the ReLU). One image per chunk: the GEMM writes y_g itself, clamped right after while in cache.
/// Chunks are split into `Compute.parts` slots, each owning its buffers.
private func gemmConvForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                             _ y: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, relu: Bool) {
    let per = geo.imagesPerGEMM, chunks = (geo.n + per - 1) / per
    let slots = max(1, min(Compute.parts, chunks))
    let split = slots == 1 && Compute.parts > 1
    let width = per * geo.outPlane  // columns of one chunk's GEMM
    let colCount = geo.isPointwise ? 0 : geo.colRows * width
    let outCount = per == 1 ? 0 : geo.coutPerGroup * width
    let scratch = Tensor(uninitializedShape: [slots * (colCount + outCount)])  // pooled: cheap every step
    nonisolated(unsafe) let (px, pw, pb, py, ps) = (x, w, bias, y, scratch.data)
    parallelSlices(chunks, slots: slots) { slot, range in
        let col = ps + slot * (colCount + outCount), out = col + colCount
        for chunk in range {
            let images = chunk * per..<min(geo.n, (chunk + 1) * per)
            for grp in 0..<geo.groups {
                let wg = pw + grp * geo.coutPerGroup * geo.colRows
                @inline(__always) func xg(_ img: Int) -> UnsafePointer<Float> { px + (img * geo.cin + grp * geo.cinPerGroup) * geo.inPlane }
                @inline(__always) func yg(_ img: Int) -> UnsafeMutablePointer<Float> { py + (img * geo.cout + grp * geo.coutPerGroup) * geo.outPlane }
                if per == 1 {
                    let img = images.lowerBound
                    var beta: Float = 0
                    if let pb {  // y starts as the bias, the GEMM adds onto it
                        for co in 0..<geo.coutPerGroup {
                            (yg(img) + co * geo.outPlane).update(repeating: pb[grp * geo.coutPerGroup + co], count: geo.outPlane)
                        }
                        beta = 1
                    }
                    if !geo.isPointwise { im2col(xg(img), col, geo) }
                    // y_g[og, OH·OW] = W_g[og, cg·kH·kW] · col[cg·kH·kW, OH·OW]
                    matmul(split, wg, geo.isPointwise ? xg(img) : UnsafePointer(col), yg(img),
                           m: geo.coutPerGroup, n: geo.outPlane, k: geo.colRows, beta: beta)
                    if relu { clampNegativesToZero(yg(img), geo.coutPerGroup * geo.outPlane) }
                    continue
                }
                let n = images.count * geo.outPlane
                for (k, img) in images.enumerated() { im2col(xg(img), col + k * geo.outPlane, geo, ld: width) }
                // Y[og, images·OH·OW] = W_g · col, rows `width` apart
                serialGEMM(wg, col, out, m: geo.coutPerGroup, n: n, k: geo.colRows, ldb: width, ldc: width)
                for (k, img) in images.enumerated() {
                    for co in 0..<geo.coutPerGroup {
                        let (src, dst) = (out + co * width + k * geo.outPlane, yg(img) + co * geo.outPlane)
                        let b = pb?[grp * geo.coutPerGroup + co] ?? 0
                        if relu {
                            let b8 = SIMD8<Float>(repeating: b)
                            simdMap(geo.outPlane, base: 0, to: dst, { positivePart(load8(src, $0) + b8) },
                                    { let v = src[$0] + b; return v > 0 ? v : 0 })
                        } else if pb != nil {
                            for p in 0..<geo.outPlane { dst[p] = src[p] + b }
                        } else {
                            dst.update(from: src, count: geo.outPlane)
                        }
                    }
                }
            }
        }
    }
    withExtendedLifetime(scratch) {}
}

/// dy: [N, Cout, OH, OW], x: [N, Cin, H, W], weight: [Cout, cg, kH, kW] → (dx: x's shape, dW: weight's shape),
/// each only when wanted. The columns of x are recomputed rather than kept from the forward pass
/// (they would take kH·kW times the input's memory per layer). Chunks of images as in the forward
/// pass: dy of a chunk is gathered side by side (`dY[og, images·OH·OW]`), then
/// dW_g += dY · colᵀ and dcol = W_gᵀ · dY, which col2im scatters back image by image.
private func gemmConvBackward(_ dy: Tensor, _ x: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
                              wantX: Bool, wantW: Bool) -> (Tensor?, Tensor?) {
    let per = geo.imagesPerGEMM, chunks = (geo.n + per - 1) / per
    let slots = max(1, min(Compute.parts, chunks))
    let split = slots == 1 && Compute.parts > 1
    let width = per * geo.outPlane
    let colCount = geo.isPointwise ? 0 : geo.colRows * width
    // Per worker: `cols` holds im2col(x_g) for dW, `dcols` holds W_gᵀ·dY before col2im for dX,
    // `dys` the chunk's dY side by side (only with several images per chunk).
    let cols = Tensor(uninitializedShape: [wantW ? slots * colCount : 0])
    let dcols = Tensor(uninitializedShape: [wantX ? slots * colCount : 0])
    let dyCount = per == 1 ? 0 : geo.coutPerGroup * width
    let dys = Tensor(uninitializedShape: [slots * dyCount])
    let dx = wantX ? Tensor(uninitializedShape: x.shape) : nil
    // dW is summed per slot, then reduced in slot order: no two slots ever write the same floats.
    let dwParts = wantW ? Tensor(zeros: [slots, weight.count]) : nil
    let wCount = weight.count
    nonisolated(unsafe) let (px, pw, pdy, pcol, pdcol, pdys) = (x.data, weight.data, dy.data, cols.data, dcols.data, dys.data)
    nonisolated(unsafe) let (pdx, pdw) = (dx?.data, dwParts?.data)
    parallelSlices(chunks, slots: slots) { slot, range in
        let col = pcol + slot * colCount, dcol = pdcol + slot * colCount, dyc = pdys + slot * dyCount
        for chunk in range {
            let images = chunk * per..<min(geo.n, (chunk + 1) * per)
            let n = images.count * geo.outPlane
            let stride = per == 1 ? nil : Optional(width)  // row stride of dY, col and dcol
            for grp in 0..<geo.groups {
                let wOffset = grp * geo.coutPerGroup * geo.colRows
                @inline(__always) func xOffset(_ img: Int) -> Int { (img * geo.cin + grp * geo.cinPerGroup) * geo.inPlane }
                @inline(__always) func dyg(_ img: Int) -> UnsafeMutablePointer<Float> { pdy + (img * geo.cout + grp * geo.coutPerGroup) * geo.outPlane }
                // dY[og, images·OH·OW]: dy of the single image in place, or the chunk's images gathered
                let dY: UnsafePointer<Float>
                if per == 1 {
                    dY = UnsafePointer(dyg(images.lowerBound))
                } else {
                    for (k, img) in images.enumerated() {
                        for co in 0..<geo.coutPerGroup {
                            (dyc + co * width + k * geo.outPlane).update(from: dyg(img) + co * geo.outPlane, count: geo.outPlane)
                        }
                    }
                    dY = UnsafePointer(dyc)
                }
                if let pdw {
                    let source: UnsafePointer<Float>
                    if geo.isPointwise {
                        source = UnsafePointer(px + xOffset(images.lowerBound))  // pointwise: one image per chunk
                    } else {
                        for (k, img) in images.enumerated() { im2col(px + xOffset(img), col + k * geo.outPlane, geo, ld: width) }
                        source = UnsafePointer(col)
                    }
                    // dW_g[og, cg·kH·kW] += dY[og, n] · colᵀ[n, cg·kH·kW] (dY and col rows `width` apart)
                    matmul(split, dY, source, pdw + slot * wCount + wOffset, m: geo.coutPerGroup, n: geo.colRows, k: n,
                           beta: 1, transB: true, lda: stride, ldb: stride)
                }
                if let pdx {
                    if geo.isPointwise {
                        // dx_g[cg, H·W] = W_gᵀ[cg, og] · dy_g[og, H·W]
                        matmul(split, pw + wOffset, dY, pdx + xOffset(images.lowerBound), m: geo.cinPerGroup, n: geo.outPlane,
                               k: geo.coutPerGroup, transA: true)
                    } else {
                        // dcol[cg·kH·kW, n] = W_gᵀ · dY, then scattered back onto each image.
                        matmul(split, pw + wOffset, dY, dcol, m: geo.colRows, n: n, k: geo.coutPerGroup, transA: true,
                               ldb: stride, ldc: stride)
                        for (k, img) in images.enumerated() {
                            let dxg = pdx + xOffset(img)
                            dxg.update(repeating: 0, count: geo.cinPerGroup * geo.inPlane)
                            col2im(dcol + k * geo.outPlane, dxg, geo, ld: width)
                        }
                    }
                }
            }
        }
    }
    withExtendedLifetime((cols, dcols, dys)) {}
    guard let dwParts else { return (dx, nil) }
    if slots == 1 { return (dx, Tensor(shape: weight.shape, storage: dwParts.storage)) }
    let dw = Tensor(uninitializedShape: weight.shape)
    nonisolated(unsafe) let (parts, out) = (dwParts.data, dw.data)
    parallelFor(wCount, grain: elementwiseGrain) { r in
        for i in r {
            var s = parts[i]
            for k in 1..<slots { s += parts[k * wCount + i] }
            out[i] = s
        }
    }
    return (dx, dw)
}

/// dy: [N, Cout, OH, OW] → dBias: [Cout], dBias[c] = Σ_{n, oh, ow} dy[n, c, oh, ow];
/// with `mask` (a fused ReLU's output y, dy's shape) only the terms where y > 0.
func convBiasGradient(_ dy: Tensor, _ geo: ConvGeometry, mask: Tensor? = nil) -> Tensor {
    let db = Tensor(uninitializedShape: [geo.cout])
    nonisolated(unsafe) let (pdy, pdb, pm) = (dy.data, db.data, mask?.data)
    parallelFor(geo.cout, grain: max(1, elementwiseGrain / max(1, geo.n * geo.outPlane))) { r in
        for co in r {
            var s: Double = 0  // N·OH·OW terms: accumulate the per-plane sums in Double
            for img in 0..<geo.n {
                let offset = (img * geo.cout + co) * geo.outPlane
                let plane = pm.map { maskedSumOfFloats(pdy + offset, where: $0 + offset, geo.outPlane) }
                    ?? sumOfFloats(pdy + offset, geo.outPlane)
                s += Double(plane)
            }
            pdb[co] = Float(s)
        }
    }
    return db
}
