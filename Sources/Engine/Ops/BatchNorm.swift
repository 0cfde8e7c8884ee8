/// Batch normalisation over the channels of `[N, C, H, W]` (BatchNorm2d) or `[N, C]` (BatchNorm1d),
/// with PyTorch semantics.
///
/// Legend: N batch, C channels, HW = H·W (1 for `[N, C]`), M = N·HW values per channel,
/// μ_c / σ²_c the batch mean and BIASED variance, ι_c = 1/√(σ²_c + eps), x̂ = (x − μ)·ι,
/// γ/β the affine weight/bias (`bn.weight`, `bn.bias`), m the momentum (the layer's, or `withBatchNormMomentum`'s).
///
/// Training:  y = γ·x̂ + β with batch statistics; in place, not recorded:
///            running_mean ← (1 − m)·running_mean + m·μ,
///            running_var  ← (1 − m)·running_var  + m·σ²·M/(M − 1)   (UNBIASED, as PyTorch),
///            num_batches_tracked += 1.
/// Eval:      y = γ·(x − running_mean)/√(running_var + eps) + β; running statistics untouched.
///
/// Kernels run in parallel over channels. Sums run in Float SIMD over one plane at a time and in
/// Double across planes (see "Block kernels"); the variance is a sum of squared deviations, never
/// E[x²] − E[x]², and x − μ subtracts μ as a Float pair hi + lo, so channels whose mean is large
/// against their spread keep full precision.

/// Channel c's values: N blocks of HW contiguous floats, block n at (n·C + c)·HW.
private struct ChannelLayout {
    let n: Int, c: Int, hw: Int
    var perChannel: Int { n * hw }

    /// Calls `body(flat index of block start)` for each of channel `ch`'s N blocks.
    @inline(__always)
    func forEachBlock(_ ch: Int, _ body: (Int) -> Void) {
        for b in 0..<n { body((b * c + ch) * hw) }
    }
}

/// A Double split into two Floats whose sum is the Double to ~2⁻⁴⁸ relative: (x − hi) − lo is then
/// accurate even when x ≈ hi.
@inline(__always)
private func split(_ v: Double) -> (hi: Float, lo: Float) {
    let hi = Float(v)
    return (hi, Float(v - Double(hi)))
}

// MARK: - Block kernels
//
// A channel's values come in N contiguous blocks of HW floats (a plane each). Each block is reduced
// in Float with SIMD accumulators (a scalar Float sum does not vectorise, and the Double sums this
// replaces ran at a quarter of the memory rate); blocks are combined in Double. Every Float sum is
// of deviations (from the block's first value, or from the mean), never of raw values, so channels
// whose mean is large against their spread lose nothing to cancellation.

/// g[i..<i+8] where y[i..<i+8] > 0, else 0: the gradient through a fused ReLU with output y.
@inline(__always) private func masked(_ g: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ i: Int) -> SIMD8<Float> {
    SIMD8<Float>().replacing(with: load8(g, i), where: load8(y, i) .> SIMD8<Float>())
}

/// Mean and Σ (x − mean)² of one block: two passes over the (cache-resident) block, the first
/// shifted by its first value.
@inline(__always)
private func blockMoments(_ p: UnsafePointer<Float>, _ n: Int) -> (mean: Double, m2: Double) {
    let shift = p[0], s8 = SIMD8<Float>(repeating: shift)
    let deviation = simdSum(n, { load8(p, $0) - s8 }, { p[$0] - shift })
    let mean = Double(shift) + Double(deviation) / Double(n)
    let (hi, lo) = split(mean)
    let (h8, l8) = (SIMD8<Float>(repeating: hi), SIMD8<Float>(repeating: lo))
    let m2 = simdSum(n, { i in let d = (load8(p, i) - h8) - l8; return d * d },
                     { i in let d = (p[i] - hi) - lo; return d * d })
    return (mean, Double(m2))
}

/// Per-channel batch mean and biased variance, in parallel over channels. Blocks are combined with
/// Chan et al.'s pairwise update (exact for the means, no E[x²] − E[x]² cancellation), so x is
/// read from memory once.
private func batchStatistics(_ x: Tensor, _ layout: ChannelLayout) -> (mean: [Double], variance: [Double]) {
    let (channels, m) = (layout.c, Double(layout.perChannel))
    var mean = [Double](repeating: 0, count: channels)
    var variance = [Double](repeating: 0, count: channels)
    mean.withUnsafeMutableBufferPointer { mb in
        variance.withUnsafeMutableBufferPointer { vb in
            nonisolated(unsafe) let (px, pm, pv) = (x.data, mb.baseAddress!, vb.baseAddress!)
            parallelFor(channels, grain: max(1, elementwiseGrain / max(layout.perChannel, 1))) { range in
                for ch in range {
                    var (count, mu, m2) = (0.0, 0.0, 0.0)
                    layout.forEachBlock(ch) { base in
                        let nb = Double(layout.hw)
                        let (mb, m2b) = blockMoments(px + base, layout.hw)
                        let total = count + nb, delta = mb - mu
                        mu += delta * nb / total
                        m2 += m2b + delta * delta * count * nb / total
                        count = total
                    }
                    pm[ch] = mu
                    pv[ch] = m2 / m
                }
            }
        }
    }
    return (mean, variance)
}

/// Where a training-mode batch norm takes its statistics from: this rank's batch (nil, the default, as
/// PyTorch DDP does), or the global batch of every rank of `communicator` (`sync_bn`, as `SyncBatchNorm`).
/// Scoped like `GradMode`: the trainer sets it around a student's step, teachers run in eval mode anyway.
public enum BatchNormSync {
    @TaskLocal public static var communicator: (any Communicator)?
}

/// Runs `body` with training-mode batch norms synchronised over `communicator`'s ranks (forward and the
/// backward recorded in it).
public func withSynchronizedBatchNorm<R>(_ communicator: (any Communicator)?, _ body: () throws -> R) rethrows -> R {
    try BatchNormSync.$communicator.withValue(communicator, operation: body)
}

/// The momentum m of the running-statistics update of training-mode batch norms, in place of each layer's own
/// (nil, the default). Scoped like `BatchNormSync`. Stochastic weight averaging recomputes an averaged model's
/// statistics with it: reset to mean 0, variance 1, then batch b of n_b examples after N seen with m = n_b/(N + n_b)
/// leaves running_mean = Σ_b n_b·μ_b / Σ_b n_b (and so for the variance), as `bn_update` in the SWA authors' code.
public enum BatchNormMomentum {
    @TaskLocal public static var override: Double?
}

/// Runs `body` with every training-mode batch norm updating its running statistics with momentum `m`.
public func withBatchNormMomentum<R>(_ m: Double, _ body: () throws -> R) rethrows -> R {
    try BatchNormMomentum.$override.withValue(m, operation: body)
}

/// The global batch's per-channel mean and biased variance from every rank's (mean, variance, count):
/// μ = Σ n_r·μ_r / N, then σ² = Σ [n_r·σ²_r + n_r·(μ_r − μ)²] / N (Chan et al.: no E[x²] − E[x]²).
private func globalStatistics(_ mean: [Double], _ variance: [Double], count: Double, _ comm: any Communicator)
    -> (mean: [Double], variance: [Double], count: Double) {
    var first = mean.map { $0 * count } + [count]
    comm.allreduceSum(&first)
    let total = first[mean.count]
    let mu = first.prefix(mean.count).map { $0 / total }
    var second = (0..<mean.count).map { count * variance[$0] + count * (mean[$0] - mu[$0]) * (mean[$0] - mu[$0]) }
    comm.allreduceSum(&second)
    return (mu, second.map { $0 / total }, total)
}

/// Batch normalisation (PyTorch `nn.BatchNorm2d` / `nn.BatchNorm1d` forward), see the legend above.
///
/// Shapes: `x: [N, C, H, W]` or `[N, C]` → same shape; `weight`, `bias`, `runningMean`, `runningVar`: `[C]`;
/// `numBatchesTracked`: one element. `weight`/`bias` nil means no affine map (γ = 1, β = 0).
/// Backward (recorded for x, weight, bias; only the gradients in `needs` are computed):
///   training: dx = γι·(g − mean_c(g) − x̂·mean_c(g·x̂)), the full batch-statistics backward;
///   eval:     dx = γι·g (the running statistics are constants);
///   both:     dγ = Σ g·x̂, dβ = Σ g over N, H, W.
/// `relu: true` fuses the ReLU that follows in most networks: y = max(γ·x̂ + β, 0), exactly
/// `batchNorm2d(…).relu()` (a NaN gives 0), with g replaced by g·[y > 0] in every formula above. One pass
/// over the activation instead of two each way, and no intermediate tensor.
/// `pool: true` (with `relu`, x: [N, C, H, W], H, W ≥ 2) also fuses the 2×2 max-pool after the ReLU in training mode:
/// y: [N, C, ⌊H/2⌋, ⌊W/2⌋] is `maxPool2d(batchNorm2d(…, relu: true), kernel: 2)` bit for bit, with its gradients
/// bit for bit. The normalised activation is never written: the pass that normalises pools as it goes and keeps
/// each window's `WindowArgmax` code, and backward rebuilds g·[y > 0] at the argmax from dy and the codes
/// (`unpooledGradient`) before the formulas above. This is the training-mode batch norm's counterpart of
/// `conv2dReLUMaxPool2`; in eval mode, which the models fold into the convolution instead, it is the two ops.
public func batchNorm2d(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                        numBatchesTracked: Tensor?, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5,
                        relu: Bool = false, pool: Bool = false) -> Tensor {
    let name = "batchNorm2d\(relu ? "+relu" : "")\(pool ? "+maxPool2" : "")"
    require(!pool || (relu && x.rank == 4 && x.shape[2] >= 2 && x.shape[3] >= 2),
            "batchNorm2d: pool needs relu and x [N, C, H, W] with H, W ≥ 2, got x \(x.shape), relu \(relu)")
    if pool && !training {
        // Eval mode is the two ops: the models fold it into the convolution instead (`conv2dReLUMaxPool2`), and
        // fused, its input gradient γι·g would give −0 where the ReLU's mask gives +0.
        return maxPool2d(batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                     numBatchesTracked: numBatchesTracked, training: false, momentum: momentum, eps: eps,
                                     relu: true), kernel: 2)
    }
    let profiled = OpProfile.begin("\(name) (\(training ? "train" : "eval"))")
    defer { OpProfile.end(profiled) }
    // x: [N, C, H, W] or [N, C] → y: same shape
    require(x.rank == 4 || x.rank == 2, "batchNorm2d needs x [N, C, H, W] or [N, C], got \(x.shape)")
    let layout = ChannelLayout(n: x.shape[0], c: x.shape[1], hw: x.rank == 4 ? x.shape[2] * x.shape[3] : 1)
    let channels = layout.c, m = layout.perChannel
    for case let (name, t?) in [("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar)] {
        require(t.count == channels, "batchNorm2d: \(name) has shape \(t.shape), expected [\(channels)] for x \(x.shape)")
    }
    if let numBatchesTracked {
        require(numBatchesTracked.count == 1, "batchNorm2d: numBatchesTracked has shape \(numBatchesTracked.shape), expected one element")
    }
    require(!training || m > 1, "batchNorm2d: training needs more than 1 value per channel, got x \(x.shape)")

    // Per-channel statistics used to normalise: batch (training) or running (eval). Copied, so the
    // backward sees what the forward used even if a later training-mode pass moves the running ones.
    let mean: [Double], invStd: [Float]
    // Synchronised BN (several ranks, `withSynchronizedBatchNorm`): the statistics of the global batch.
    let sync = training ? BatchNormSync.communicator.flatMap { $0.size > 1 ? $0 : nil } : nil
    var count = Double(m)
    if training {
        var (mu, variance) = batchStatistics(x, layout)
        if let sync { (mu, variance, count) = globalStatistics(mu, variance, count: count, sync) }
        mean = mu
        invStd = variance.map { Float(1 / ($0 + Double(eps)).squareRoot()) }
        // Running statistics move in place and are never recorded (PyTorch buffers).
        let (rm, rv, mo) = (runningMean.data, runningVar.data, BatchNormMomentum.override ?? Double(momentum))
        for ch in 0..<channels {
            let unbiased = variance[ch] * count / (count - 1)
            rm[ch] = Float((1 - mo) * Double(rm[ch]) + mo * mean[ch])
            rv[ch] = Float((1 - mo) * Double(rv[ch]) + mo * unbiased)
        }
        if let numBatchesTracked { numBatchesTracked.data[0] += 1 }
    } else {
        mean = runningMean.scalars.map { Double($0) }
        invStd = runningVar.scalars.map { Float(1 / (Double($0) + Double(eps)).squareRoot()) }
    }

    // y = (x − μ)·γι + β
    let pooledShape = pool ? [x.shape[0], x.shape[1], x.shape[2] / 2, x.shape[3] / 2] : x.shape
    let y = Tensor(uninitializedShape: pooledShape)
    let gamma = weight?.scalars, beta = bias?.scalars
    let grain = max(1, elementwiseGrain / max(m, 1))
    nonisolated(unsafe) let (px, py) = (x.data, y.data)
    // Pooled: each window's argmax code (`WindowArgmax`), one byte per output of y.
    let codes = [UInt8](unsafeUninitializedCapacity: pool ? y.count : 0) { buffer, initialized in
        // An empty buffer may still have a base address (the shared empty storage): never write there.
        nonisolated(unsafe) let pc = pool ? buffer.baseAddress : nil
        let (h, w, pooledPlane) = pool ? (x.shape[2], x.shape[3], pooledShape[2] * pooledShape[3]) : (0, 0, 0)
        parallelFor(channels, grain: grain) { range in
            for ch in range {
                let (hi, lo) = split(mean[ch])
                let scale = (gamma?[ch] ?? 1) * invStd[ch], shift = beta?[ch] ?? 0
                layout.forEachBlock(ch) { base in
                    if let pc {
                        let at = base / layout.hw * pooledPlane
                        normalizedReLUMaxPool2(px + base, h: h, w: w, hi: hi, lo: lo, scale: scale, shift: shift,
                                               into: py + at, codes: pc + at)
                    } else if relu {
                        for i in base..<(base + layout.hw) { let v = ((px[i] - hi) - lo) * scale + shift; py[i] = v > 0 ? v : 0 }
                    } else {
                        for i in base..<(base + layout.hw) { py[i] = ((px[i] - hi) - lo) * scale + shift }
                    }
                }
            }
        }
        initialized = buffer.count
    }

    let inputs = [x] + [weight, bias].compactMap { $0 }
    let weightIndex: Int? = weight == nil ? nil : 1
    let biasIndex: Int? = bias == nil ? nil : inputs.count - 1
    // With the ReLU fused, backward masks g by the output (a plain alias: no node ↔ output cycle); with the
    // pooling too, g arrives masked from the codes instead.
    let output = relu && !pool ? y.savedForBackward : nil
    record(y, "\(name)(\(training ? "train" : "eval"))", inputs) { dy, needs in
        // g: [N, C, H, W] (from dy: [N, C, H/2, W/2] when pooled) → dx: [N, C, H, W], dγ: [C], dβ: [C]
        let g = pool ? codes.withUnsafeBufferPointer { unpooledGradient(dy, codes: $0.baseAddress!, shape: x.shape) } : dy
        let needX = needs[0]
        let needWeight = weightIndex.map { needs[$0] } ?? false
        let needBias = biasIndex.map { needs[$0] } ?? false
        // Σ g and Σ g·(x − μ) per channel: dβ and dγ·/ι, and (training) the batch-stat terms of dx.
        let wantSums = needWeight || needBias || (needX && training)
        var sumG = [Double](repeating: 0, count: channels)
        var sumGX = [Double](repeating: 0, count: channels)
        // The closure captures x (the graph itself keeps no activations), so its pointer is valid here.
        nonisolated(unsafe) let (pg, px) = (g.data, x.data)
        nonisolated(unsafe) let py = output?.data
        if wantSums {
            sumG.withUnsafeMutableBufferPointer { sb in
                sumGX.withUnsafeMutableBufferPointer { xb in
                    nonisolated(unsafe) let (ps, pgx) = (sb.baseAddress!, xb.baseAddress!)
                    parallelFor(channels, grain: grain) { range in
                        for ch in range {
                            let (hi, lo) = split(mean[ch])
                            let (h8, l8) = (SIMD8<Float>(repeating: hi), SIMD8<Float>(repeating: lo))
                            var (sg, sgx) = (0.0, 0.0)
                            layout.forEachBlock(ch) { base in
                                let (g, x) = (UnsafePointer(pg + base), UnsafePointer(px + base))
                                if let py {
                                    let (gm, y) = (pg + base, py + base)
                                    sg += Double(simdSum(layout.hw, { masked(gm, y, $0) }, { y[$0] > 0 ? g[$0] : 0 }))
                                    sgx += Double(simdSum(layout.hw, { i in masked(gm, y, i) * ((load8(x, i) - h8) - l8) },
                                                          { i in (y[i] > 0 ? g[i] : 0) * ((x[i] - hi) - lo) }))
                                } else {
                                    sg += Double(simdSum(layout.hw, { load8(g, $0) }, { g[$0] }))
                                    sgx += Double(simdSum(layout.hw, { i in load8(g, i) * ((load8(x, i) - h8) - l8) },
                                                          { i in g[i] * ((x[i] - hi) - lo) }))
                                }
                            }
                            ps[ch] = sg
                            pgx[ch] = sgx
                        }
                    }
                }
            }
        }
        // Synchronised: dx needs Σ g and Σ g·(x − μ) over the global batch; dγ, dβ stay this rank's share
        // (the trainer sums parameter gradients over ranks).
        var (dxSumG, dxSumGX, dxCount) = (sumG, sumGX, Double(m))
        if let sync, needX {
            var sums = sumG + sumGX + [Double(m)]
            sync.allreduceSum(&sums)
            dxSumG = Array(sums[0..<channels]); dxSumGX = Array(sums[channels..<(2 * channels)]); dxCount = sums[2 * channels]
        }
        var grads = [Tensor?](repeating: nil, count: inputs.count)
        if needX {
            let dx = Tensor(uninitializedShape: x.shape)
            nonisolated(unsafe) let pd = dx.data
            parallelFor(channels, grain: grain) { range in
                for ch in range {
                    let iota = invStd[ch], k1 = (gamma?[ch] ?? 1) * iota
                    if training {
                        // dx = γι·(g − mean(g) − x̂·mean(g·x̂)), x̂ = (x − μ)·ι
                        //    = k1·g + k2·(x − μ) + k3
                        let k2 = Float(-Double(k1) * Double(iota) * Double(iota) * dxSumGX[ch] / dxCount)
                        let k3 = Float(-Double(k1) * dxSumG[ch] / dxCount)
                        let (hi, lo) = split(mean[ch])
                        layout.forEachBlock(ch) { base in
                            if let py {
                                let (c1, c2, c3) = (SIMD8<Float>(repeating: k1), SIMD8<Float>(repeating: k2), SIMD8<Float>(repeating: k3))
                                let (h8, l8) = (SIMD8<Float>(repeating: hi), SIMD8<Float>(repeating: lo))
                                simdMap(layout.hw, base: base, to: pd,
                                        { i in c1 * masked(pg, py, i) + c2 * ((load8(px, i) - h8) - l8) + c3 },
                                        { i in k1 * (py[i] > 0 ? pg[i] : 0) + k2 * ((px[i] - hi) - lo) + k3 })
                            } else {
                                for i in base..<(base + layout.hw) { pd[i] = k1 * pg[i] + k2 * ((px[i] - hi) - lo) + k3 }
                            }
                        }
                    } else {
                        // Running statistics are constants: the affine map's derivative γι.
                        layout.forEachBlock(ch) { base in
                            if let py {
                                let c1 = SIMD8<Float>(repeating: k1)
                                simdMap(layout.hw, base: base, to: pd, { i in c1 * masked(pg, py, i) },
                                        { i in py[i] > 0 ? k1 * pg[i] : 0 })
                            } else {
                                for i in base..<(base + layout.hw) { pd[i] = k1 * pg[i] }
                            }
                        }
                    }
                }
            }
            grads[0] = dx
        }
        if needWeight, let weightIndex {  // dγ = Σ g·x̂ = ι·Σ g·(x − μ)
            grads[weightIndex] = Tensor(shape: [channels],
                                        scalars: (0..<channels).map { Float(Double(invStd[$0]) * sumGX[$0]) })
        }
        if needBias, let biasIndex {  // dβ = Σ g
            grads[biasIndex] = Tensor(shape: [channels], scalars: sumG.map { Float($0) })
        }
        return grads
    }
    return y
}

/// One plane of `batchNorm2d(…, relu: true, pool: true)`'s forward: v = max(((x − hi) − lo)·scale + shift, 0) over
/// the plane x: [h, w], exactly as the unpooled pass computes each value, 2×2 max-pooled into p: [⌊h/2⌋, ⌊w/2⌋] with
/// each window's `WindowArgmax` code in `codes`. Eight windows per step: the even and odd lanes of sixteen values of
/// a row are the windows' left and right columns. A row of windows that is not a multiple of eight ends with one more
/// step over its last eight windows (four, in rows of four to seven windows), which recomputes the windows it shares
/// with the step before it from the same values, so they get the same maxima and codes again; only rows of fewer than
/// four windows run lane by lane (a scalar tail took 6 of the 14 windows of a 28-wide row and all 7 of a 14-wide one).
@inline(__always)
private func normalizedReLUMaxPool2(_ x: UnsafePointer<Float>, h: Int, w: Int, hi: Float, lo: Float, scale: Float,
                                    shift: Float, into p: UnsafeMutablePointer<Float>, codes: UnsafeMutablePointer<UInt8>) {
    let (ph, pw) = (h / 2, w / 2)
    let (h8, l8, s8, b8) = (SIMD8<Float>(repeating: hi), SIMD8<Float>(repeating: lo), SIMD8<Float>(repeating: scale),
                            SIMD8<Float>(repeating: shift))
    @inline(__always) func values(_ i: Int) -> SIMD8<Float> { positivePart(((load8(x, i) - h8) - l8) * s8 + b8) }
    @inline(__always) func value(_ i: Int) -> Float { let v = ((x[i] - hi) - lo) * scale + shift; return v > 0 ? v : 0 }
    for i in 0..<ph {
        let (top, bottom, out) = (2 * i * w, (2 * i + 1) * w, i * pw)
        // Windows j..<j + 8 of this row.
        @inline(__always) func eight(_ j: Int) {
            let (t0, t1, b0, b1) = (values(top + 2 * j), values(top + 2 * j + 8), values(bottom + 2 * j), values(bottom + 2 * j + 8))
            let (m, code) = windowMaximum(SIMD8(lowHalf: t0.evenHalf, highHalf: t1.evenHalf),
                                          SIMD8(lowHalf: t0.oddHalf, highHalf: t1.oddHalf),
                                          SIMD8(lowHalf: b0.evenHalf, highHalf: b1.evenHalf),
                                          SIMD8(lowHalf: b0.oddHalf, highHalf: b1.oddHalf))
            store8(m, p + out, j)
            storeCodes(code, codes + out + j)
        }
        // Windows j..<j + 4 of this row.
        @inline(__always) func four(_ j: Int) {
            let (t, b) = (values(top + 2 * j), values(bottom + 2 * j))
            let (m, code) = windowMaximum(t.evenHalf, t.oddHalf, b.evenHalf, b.oddHalf)
            store4(m, p + out, j)
            storeCodes(code, codes + out + j)
        }
        if pw >= 8 {
            overlappingSteps(pw, width: 8, eight)
        } else if pw >= 4 {
            overlappingSteps(pw, width: 4, four)
        } else {
            for j in 0..<pw {
                let (a, b) = (top + 2 * j, bottom + 2 * j)
                (p[out + j], codes[out + j]) = windowMaximum(value(a), value(a + 1), value(b), value(b + 1))
            }
        }
    }
}
