import Foundation

/// Classification losses on logits: cross-entropy, KL divergence, entropy, Carlini–Wagner margin.
///
/// Legend: N rows (examples), K classes, z the logits, y the integer labels, p a target
/// distribution, log q a log-distribution (usually `logSoftmax` of a student).
/// Sums over K accumulate in Double; every kernel is stable at logits of ±1000.

extension RowKernels {
    /// Traps with a message naming the offending example and K (see `matrixShape`).
    static func checkLabels(_ labels: [Int], rows n: Int, classes k: Int, _ op: String) {
        require(labels.count == n, "\(op): \(labels.count) labels for \(n) rows")
        for (i, label) in labels.enumerated() where label < 0 || label >= k {
            fatalError("\(op): label \(label) at index \(i) is out of range for K = \(k) classes")
        }
    }
}

// MARK: - Cross-entropy

/// Per-row log Σ exp(z) (forward of the fused cross-entropy), in parallel over rows.
private func rowsLogSumExp(_ logits: Tensor, n: Int, k: Int) -> [Float] {
    var lse = [Float](repeating: 0, count: n)
    lse.withUnsafeMutableBufferPointer { buffer in
        nonisolated(unsafe) let (pz, pl) = (logits.data, buffer)
        parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
            for i in rows { pl[i] = RowKernels.logSumExp(pz + i * k, k, scale: 1) }
        }
    }
    return lse
}

/// ∂/∂z of Σ_n w_n·CE_n = w_n · (softmax(z_n) − onehot(y_n)), with softmax recomputed from the
/// saved log Σ exp (no probability tensor is kept in the graph).
private func crossEntropyBackward(_ logits: Tensor, labels: [Int], lse: [Float],
                                  rowWeight: (Int) -> Float) -> Tensor {
    let (n, k) = (logits.shape[0], logits.shape[1])
    let dz = Tensor(uninitializedShape: [n, k])
    nonisolated(unsafe) let (pz, pd) = (logits.data, dz.data)
    labels.withUnsafeBufferPointer { lb in
        lse.withUnsafeBufferPointer { lp in
            nonisolated(unsafe) let (pl, pe) = (lb, lp)
            parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
                for i in rows {
                    let w = rowWeight(i), z = pz + i * k, d = pd + i * k, m = pe[i]
                    for j in 0..<k { d[j] = w * expf(z[j] - m) }
                    d[pl[i]] -= w
                }
            }
        }
    }
    return dz
}

/// Per-example cross-entropy CE_n = log Σ_k exp(z_nk) − z_{n,y_n}, fused (log-sum-exp, no softmax).
///
/// Shapes: `logits: [N, K]`, `labels: N` → `[N]`.
/// Backward: ∂L/∂z_n = g_n · (softmax(z_n) − onehot(y_n)).
public func crossEntropyRows(_ logits: Tensor, labels: [Int]) -> Tensor {
    let profiled = OpProfile.begin("crossEntropyRows")
    defer { OpProfile.end(profiled) }
    let (n, k) = RowKernels.matrixShape(logits, "crossEntropyRows")
    RowKernels.checkLabels(labels, rows: n, classes: k, "crossEntropyRows")
    let lse = rowsLogSumExp(logits, n: n, k: k)
    let out = Tensor(uninitializedShape: [n])
    for i in 0..<n { out.data[i] = lse[i] - logits.data[i * k + labels[i]] }
    record(out, "crossEntropyRows", [logits]) { g, _ in
        // g: [N] → dz: [N, K]
        nonisolated(unsafe) let pg = g.data
        return [crossEntropyBackward(logits, labels: labels, lse: lse) { pg[$0] }]
    }
    return out
}

/// Mean cross-entropy (1/N) Σ_n CE_n, fused.
///
/// Shapes: `logits: [N, K]`, `labels: N` → `[1]`.
/// Backward: ∂L/∂z_n = (g/N) · (softmax(z_n) − onehot(y_n)).
public func crossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
    let profiled = OpProfile.begin("crossEntropy")
    defer { OpProfile.end(profiled) }
    let (n, k) = RowKernels.matrixShape(logits, "crossEntropy")
    RowKernels.checkLabels(labels, rows: n, classes: k, "crossEntropy")
    let lse = rowsLogSumExp(logits, n: n, k: k)
    var total: Double = 0
    for i in 0..<n { total += Double(lse[i]) - Double(logits.data[i * k + labels[i]]) }
    let out = Tensor(shape: [1], scalars: [Float(total / Double(max(n, 1)))])
    record(out, "crossEntropy", [logits]) { g, _ in
        // g: [1] → dz: [N, K]
        let w = g.data[0] / Float(n)
        return [crossEntropyBackward(logits, labels: labels, lse: lse) { _ in w }]
    }
    return out
}

// MARK: - KL divergence

/// Per-example KL: KL_n = Σ_k p_nk · (log(p_nk + ε) − log q_nk), ε = `epsInLog`.
///
/// Shapes: `target p: [N, K]`, `logQ: [N, K]` → `[N]`.
/// With ε = 0 a term with p = 0 contributes 0 (xlogy convention, PyTorch's `KLDivLoss`).
/// The paper's KLc (mean over B·K) is `klDivergenceRows(...).sum() / (B·K)`; PyTorch's
/// `batchmean` is `.mean()`.
/// Backward (both inputs; TRADES differentiates through the clean side p):
///   ∂L/∂p_nk    = g_n · (log(p_nk + ε) − log q_nk + p_nk / (p_nk + ε)),
///   ∂L/∂logQ_nk = −g_n · p_nk.
/// At p = 0 with ε = 0 the true ∂(p log p)/∂p is −∞; we drop that term and return −g·log q. A
/// softmax upstream multiplies this entry by ∂p/∂z = 0, so the gradient reaching logits is exact
/// and finite (an infinite value would turn it into nan).
public func klDivergenceRows(target p: Tensor, logQ: Tensor, epsInLog: Float = 0) -> Tensor {
    let profiled = OpProfile.begin("klDivergenceRows")
    defer { OpProfile.end(profiled) }
    let (n, k) = RowKernels.matrixShape(p, "klDivergenceRows")
    require(logQ.shape == p.shape, "klDivergenceRows: target p \(p.shape) and logQ \(logQ.shape) differ")
    require(epsInLog >= 0, "klDivergenceRows: epsInLog must be ≥ 0, got \(epsInLog)")
    let eps = epsInLog
    let out = Tensor(uninitializedShape: [n])
    nonisolated(unsafe) let (pp, pq, po) = (p.data, logQ.data, out.data)
    parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
        for i in rows {
            var total: Double = 0
            for j in 0..<k {
                let pj = pp[i * k + j]
                if pj == 0 { continue }  // 0 · anything = 0, even 0 · log 0
                total += Double(pj) * (Foundation.log(Double(pj) + Double(eps)) - Double(pq[i * k + j]))
            }
            po[i] = Float(total)
        }
    }
    record(out, "klDivergenceRows", [p, logQ]) { g, needs in
        // g: [N] → dp: [N, K], dlogQ: [N, K]. The closure captures p and logQ (the graph keeps no
        // activations), so their pointers are re-read here.
        nonisolated(unsafe) let (pg, pp, pq) = (g.data, p.data, logQ.data)
        var dp: Tensor?, dq: Tensor?
        if needs[0] {
            let t = Tensor(uninitializedShape: [n, k])
            nonisolated(unsafe) let pd = t.data
            parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
                for i in rows {
                    for j in 0..<k {
                        let idx = i * k + j, pj = pp[idx]
                        let logTerm = (pj == 0 && eps == 0) ? 0 : logf(pj + eps) + pj / (pj + eps)
                        pd[idx] = pg[i] * (logTerm - pq[idx])
                    }
                }
            }
            dp = t
        }
        if needs[1] {
            let t = Tensor(uninitializedShape: [n, k])
            nonisolated(unsafe) let pd = t.data
            parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
                for i in rows { for j in 0..<k { pd[i * k + j] = -pg[i] * pp[i * k + j] } }
            }
            dq = t
        }
        return [dp, dq]
    }
    return out
}

// MARK: - Entropy

/// Shannon entropy per row, H_n = −Σ_k p_nk log p_nk (0 log 0 = 0), in nats. Not recorded: the
/// entropy balancer reads it as a statistic of detached teacher distributions.
///
/// Shapes: `p: [N, K]` → `[N]`.
public func entropyRows(_ p: Tensor) -> Tensor {
    let (n, k) = RowKernels.matrixShape(p, "entropyRows")
    let out = Tensor(uninitializedShape: [n])
    for i in 0..<n {
        var h: Double = 0
        for j in 0..<k {
            let pj = Double(p.data[i * k + j])
            if pj > 0 { h -= pj * Foundation.log(pj) }
        }
        out.data[i] = Float(h)
    }
    return out
}

// MARK: - Carlini–Wagner margin

/// Carlini–Wagner margin per example, m_n = max(z_{n,y} − max_{j≠y} z_nj, −κ).
///
/// Shapes: `logits: [N, K]` (K ≥ 2), `labels: N` → `[N]`.
/// Backward: where the margin is not clamped (z_y − z_{j*} ≥ −κ, j* the first runner-up),
/// ∂L/∂z_y = g_n and ∂L/∂z_{j*} = −g_n; everything else 0.
public func marginRows(_ logits: Tensor, labels: [Int], kappa: Float) -> Tensor {
    let (n, k) = RowKernels.matrixShape(logits, "marginRows")
    require(k >= 2, "marginRows needs at least 2 classes, got K = \(k)")
    RowKernels.checkLabels(labels, rows: n, classes: k, "marginRows")
    let out = Tensor(uninitializedShape: [n])
    var runnerUp = [Int](repeating: 0, count: n)
    var active = [Bool](repeating: false, count: n)
    for i in 0..<n {
        let z = logits.data + i * k, y = labels[i]
        var best = -1
        for j in 0..<k where j != y && (best < 0 || z[j] > z[best]) { best = j }
        let margin = z[y] - z[best]
        runnerUp[i] = best
        active[i] = margin >= -kappa
        out.data[i] = max(margin, -kappa)
    }
    record(out, "marginRows", [logits]) { g, _ in
        // g: [N] → dz: [N, K]
        let dz = Tensor(zeros: [n, k])
        for i in 0..<n where active[i] {
            dz.data[i * k + labels[i]] += g.data[i]
            dz.data[i * k + runnerUp[i]] -= g.data[i]
        }
        return [dz]
    }
    return out
}
