/// Batch normalisation over the channels of `[N, C, H, W]` (BatchNorm2d) or `[N, C]` (BatchNorm1d),
/// with PyTorch semantics.
///
/// Legend: N batch, C channels, HW = H·W (1 for `[N, C]`), M = N·HW values per channel,
/// μ_c / σ²_c the batch mean and BIASED variance, ι_c = 1/√(σ²_c + eps), x̂ = (x − μ)·ι,
/// γ/β the affine weight/bias (`bn.weight`, `bn.bias`), m the momentum.
///
/// Training:  y = γ·x̂ + β with batch statistics; in place, not recorded:
///            running_mean ← (1 − m)·running_mean + m·μ,
///            running_var  ← (1 − m)·running_var  + m·σ²·M/(M − 1)   (UNBIASED, as PyTorch),
///            num_batches_tracked += 1.
/// Eval:      y = γ·(x − running_mean)/√(running_var + eps) + β; running statistics untouched.
///
/// Kernels run in parallel over channels. Channel sums accumulate in Double, the variance in a
/// second pass around the mean (no E[x²] − E[x]² cancellation), and x − μ subtracts μ as a Float
/// pair hi + lo, so channels whose mean is large against their spread keep full precision.

/// Channel c's values: N blocks of HW contiguous floats, block n at (n·C + c)·HW.
private struct ChannelLayout {
    let n: Int, c: Int, hw: Int
    var perChannel: Int { n * hw }

    /// Σ over channel `ch` of `term(flat index)`, in Double with four independent lanes (a single
    /// Double accumulator would serialise on the add latency).
    @inline(__always)
    func sum(_ ch: Int, _ term: (Int) -> Double) -> Double {
        var acc = SIMD4<Double>.zero
        var tail: Double = 0
        for b in 0..<n {
            let base = (b * c + ch) * hw
            var i = 0
            while i + 4 <= hw {
                acc += SIMD4(term(base + i), term(base + i + 1), term(base + i + 2), term(base + i + 3))
                i += 4
            }
            while i < hw { tail += term(base + i); i += 1 }
        }
        return acc.sum() + tail
    }

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

/// Per-channel batch mean and biased variance, two passes in Double, in parallel over channels.
private func batchStatistics(_ x: Tensor, _ layout: ChannelLayout) -> (mean: [Double], variance: [Double]) {
    let (channels, m) = (layout.c, Double(layout.perChannel))
    var mean = [Double](repeating: 0, count: channels)
    var variance = [Double](repeating: 0, count: channels)
    mean.withUnsafeMutableBufferPointer { mb in
        variance.withUnsafeMutableBufferPointer { vb in
            nonisolated(unsafe) let (px, pm, pv) = (x.data, mb.baseAddress!, vb.baseAddress!)
            parallelFor(channels, grain: max(1, elementwiseGrain / max(layout.perChannel, 1))) { range in
                for ch in range {
                    let mu = layout.sum(ch) { Double(px[$0]) } / m
                    pm[ch] = mu
                    pv[ch] = layout.sum(ch) { let d = Double(px[$0]) - mu; return d * d } / m
                }
            }
        }
    }
    return (mean, variance)
}

/// Batch normalisation (PyTorch `nn.BatchNorm2d` / `nn.BatchNorm1d` forward), see the legend above.
///
/// Shapes: `x: [N, C, H, W]` or `[N, C]` → same shape; `weight`, `bias`, `runningMean`, `runningVar`: `[C]`;
/// `numBatchesTracked`: one element. `weight`/`bias` nil means no affine map (γ = 1, β = 0).
/// Backward (recorded for x, weight, bias; only the gradients in `needs` are computed):
///   training: dx = γι·(g − mean_c(g) − x̂·mean_c(g·x̂)), the full batch-statistics backward;
///   eval:     dx = γι·g (the running statistics are constants);
///   both:     dγ = Σ g·x̂, dβ = Σ g over N, H, W.
public func batchNorm2d(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                        numBatchesTracked: Tensor?, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    // x: [N, C, H, W] or [N, C] → y: same shape
    guard x.rank == 4 || x.rank == 2 else {
        fatalError("batchNorm2d needs x [N, C, H, W] or [N, C], got \(x.shape)")
    }
    let layout = ChannelLayout(n: x.shape[0], c: x.shape[1], hw: x.rank == 4 ? x.shape[2] * x.shape[3] : 1)
    let channels = layout.c, m = layout.perChannel
    for (name, t) in [("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar)] {
        if let t, t.count != channels {
            fatalError("batchNorm2d: \(name) has shape \(t.shape), expected [\(channels)] for x \(x.shape)")
        }
    }
    if let numBatchesTracked, numBatchesTracked.count != 1 {
        fatalError("batchNorm2d: numBatchesTracked has shape \(numBatchesTracked.shape), expected one element")
    }
    if training && m <= 1 {
        fatalError("batchNorm2d: training needs more than 1 value per channel, got x \(x.shape)")
    }

    // Per-channel statistics used to normalise: batch (training) or running (eval). Copied, so the
    // backward sees what the forward used even if a later training-mode pass moves the running ones.
    let mean: [Double], invStd: [Float]
    if training {
        let variance: [Double]
        (mean, variance) = batchStatistics(x, layout)
        invStd = variance.map { Float(1 / ($0 + Double(eps)).squareRoot()) }
        // Running statistics move in place and are never recorded (PyTorch buffers).
        let (rm, rv, mo) = (runningMean.data, runningVar.data, Double(momentum))
        for ch in 0..<channels {
            let unbiased = variance[ch] * Double(m) / Double(m - 1)
            rm[ch] = Float((1 - mo) * Double(rm[ch]) + mo * mean[ch])
            rv[ch] = Float((1 - mo) * Double(rv[ch]) + mo * unbiased)
        }
        if let numBatchesTracked { numBatchesTracked.data[0] += 1 }
    } else {
        mean = runningMean.scalars.map { Double($0) }
        invStd = runningVar.scalars.map { Float(1 / (Double($0) + Double(eps)).squareRoot()) }
    }

    // y = (x − μ)·γι + β
    let y = Tensor(uninitializedShape: x.shape)
    let gamma = weight?.scalars, beta = bias?.scalars
    let grain = max(1, elementwiseGrain / max(m, 1))
    nonisolated(unsafe) let (px, py) = (x.data, y.data)
    parallelFor(channels, grain: grain) { range in
        for ch in range {
            let (hi, lo) = split(mean[ch])
            let scale = (gamma?[ch] ?? 1) * invStd[ch], shift = beta?[ch] ?? 0
            layout.forEachBlock(ch) { base in
                for i in base..<(base + layout.hw) { py[i] = ((px[i] - hi) - lo) * scale + shift }
            }
        }
    }

    let inputs = [x] + [weight, bias].compactMap { $0 }
    let weightIndex: Int? = weight == nil ? nil : 1
    let biasIndex: Int? = bias == nil ? nil : inputs.count - 1
    record(y, training ? "batchNorm2d(train)" : "batchNorm2d(eval)", inputs) { g, needs in
        // g: [N, C, H, W] → dx: [N, C, H, W], dγ: [C], dβ: [C]
        let needX = needs[0]
        let needWeight = weightIndex.map { needs[$0] } ?? false
        let needBias = biasIndex.map { needs[$0] } ?? false
        // Σ g and Σ g·(x − μ) per channel: dβ and dγ·/ι, and (training) the batch-stat terms of dx.
        let wantSums = needWeight || needBias || (needX && training)
        var sumG = [Double](repeating: 0, count: channels)
        var sumGX = [Double](repeating: 0, count: channels)
        // x stays alive through the node's inputs; re-read its pointer rather than trust the capture.
        nonisolated(unsafe) let (pg, px) = (g.data, x.data)
        if wantSums {
            sumG.withUnsafeMutableBufferPointer { sb in
                sumGX.withUnsafeMutableBufferPointer { xb in
                    nonisolated(unsafe) let (ps, pgx) = (sb.baseAddress!, xb.baseAddress!)
                    parallelFor(channels, grain: grain) { range in
                        for ch in range {
                            let mu = mean[ch]
                            ps[ch] = layout.sum(ch) { Double(pg[$0]) }
                            pgx[ch] = layout.sum(ch) { Double(pg[$0]) * (Double(px[$0]) - mu) }
                        }
                    }
                }
            }
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
                        let k2 = Float(-Double(k1) * Double(iota) * Double(iota) * sumGX[ch] / Double(m))
                        let k3 = Float(-Double(k1) * sumG[ch] / Double(m))
                        let (hi, lo) = split(mean[ch])
                        layout.forEachBlock(ch) { base in
                            for i in base..<(base + layout.hw) { pd[i] = k1 * pg[i] + k2 * ((px[i] - hi) - lo) + k3 }
                        }
                    } else {
                        // Running statistics are constants: the affine map's derivative γι.
                        layout.forEachBlock(ch) { base in
                            for i in base..<(base + layout.hw) { pd[i] = k1 * pg[i] }
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
