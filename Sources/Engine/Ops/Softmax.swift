import Foundation

/// Softmax and log-softmax over the last axis of a matrix, with a temperature.
///
/// Legend: N rows (examples), K classes, τ the temperature, s = 1/τ, z the logits.
/// Every row is max-subtracted before `exp`, so logits of ±1000 give exact 0s and 1s instead of
/// inf/nan, and the backward kernels use only the (finite) outputs.

/// Helpers shared by the row-wise kernels of this file, Losses.swift and Indexing.swift.
enum RowKernels {
    /// Rows worth giving one worker: a row costs about K `expf`s, so split only when there are
    /// enough rows to pay for waking a thread.
    @inline(__always)
    static func grain(classes k: Int) -> Int { max(1, elementwiseGrain / max(8 * k, 1)) }

    /// log Σ_k exp(s·z_k) for one row of length k, computed as m + log Σ_k exp(s·z_k − m) with
    /// m = max_k s·z_k: the largest term is exp(0) = 1, so the sum lies in [1, K] and never overflows.
    @inline(__always)
    static func logSumExp(_ z: UnsafePointer<Float>, _ k: Int, scale s: Float) -> Float {
        var m = -Float.infinity
        for j in 0..<k { m = max(m, s * z[j]) }
        var total: Float = 0
        for j in 0..<k { total += expf(s * z[j] - m) }
        return m + logf(total)
    }

    /// (N, K) of a matrix; traps naming the op otherwise (`require`: a `precondition` would lose the
    /// message under -O, and the user would see only "Illegal instruction").
    static func matrixShape(_ t: Tensor, _ op: String) -> (n: Int, k: Int) {
        require(t.rank == 2, "\(op) needs a matrix [N, K], got shape \(t.shape)")
        return (t.shape[0], t.shape[1])
    }

    static func checkTemperature(_ temperature: Float, _ op: String) {
        require(temperature > 0 && temperature.isFinite,
                "\(op): temperature must be positive and finite, got \(temperature)")
    }
}

/// softmax(z / τ) row by row.
///
/// Shapes: `logits: [N, K]` → `[N, K]`.
/// Backward: with y the output, ∂L/∂z = s · y ⊙ (g − Σ_k g_k y_k) (the 1/τ of the chain rule).
public func softmax(_ logits: Tensor, temperature: Float = 1) -> Tensor {
    let profiled = OpProfile.begin("softmax")
    defer { OpProfile.end(profiled) }
    RowKernels.checkTemperature(temperature, "softmax")
    let (n, k) = RowKernels.matrixShape(logits, "softmax")
    let s = 1 / temperature
    let y = Tensor(uninitializedShape: [n, k])
    nonisolated(unsafe) let (pz, py) = (logits.data, y.data)
    parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
        for i in rows {
            let z = pz + i * k, out = py + i * k
            let lse = RowKernels.logSumExp(z, k, scale: s)
            for j in 0..<k { out[j] = expf(s * z[j] - lse) }
        }
    }
    let saved = y.savedForBackward
    record(y, "softmax", [logits]) { g, _ in
        // g: [N, K] → dz: [N, K]
        let dz = Tensor(uninitializedShape: [n, k])
        nonisolated(unsafe) let (pg, py, pd) = (g.data, saved.data, dz.data)
        parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
            for i in rows {
                let gi = pg + i * k, yi = py + i * k, di = pd + i * k
                var dot: Float = 0
                for j in 0..<k { dot += gi[j] * yi[j] }
                for j in 0..<k { di[j] = s * yi[j] * (gi[j] - dot) }
            }
        }
        return [dz]
    }
    return y
}

/// log softmax(z / τ) row by row: s·z_k − log Σ_j exp(s·z_j).
///
/// Shapes: `logits: [N, K]` → `[N, K]`.
/// Backward: ∂L/∂z = s · (g − softmax ⊙ Σ_k g_k), with softmax = exp(output) (never materialised
/// as a graph tensor).
public func logSoftmax(_ logits: Tensor, temperature: Float = 1) -> Tensor {
    let profiled = OpProfile.begin("logSoftmax")
    defer { OpProfile.end(profiled) }
    RowKernels.checkTemperature(temperature, "logSoftmax")
    let (n, k) = RowKernels.matrixShape(logits, "logSoftmax")
    let s = 1 / temperature
    let y = Tensor(uninitializedShape: [n, k])
    nonisolated(unsafe) let (pz, py) = (logits.data, y.data)
    parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
        for i in rows {
            let z = pz + i * k, out = py + i * k
            let lse = RowKernels.logSumExp(z, k, scale: s)
            for j in 0..<k { out[j] = s * z[j] - lse }
        }
    }
    let saved = y.savedForBackward
    record(y, "logSoftmax", [logits]) { g, _ in
        // g: [N, K] → dz: [N, K]
        let dz = Tensor(uninitializedShape: [n, k])
        nonisolated(unsafe) let (pg, py, pd) = (g.data, saved.data, dz.data)
        parallelFor(n, grain: RowKernels.grain(classes: k)) { rows in
            for i in rows {
                let gi = pg + i * k, yi = py + i * k, di = pd + i * k
                var total: Float = 0
                for j in 0..<k { total += gi[j] }
                for j in 0..<k { di[j] = s * (gi[j] - expf(yi[j]) * total) }
            }
        }
        return [dz]
    }
    return y
}
