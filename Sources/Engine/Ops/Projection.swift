/// Projections attacks apply after every step: back into the ε-ball around the clean input, then into
/// the valid pixel range [0, 1]. Not recorded: the projected point is a new attack iterate, not a
/// function anyone differentiates through.
///
/// Legend: x the iterate, c the clean center, δ = x − c, N examples of D = C·H·W elements each.
/// When c ∈ [0, 1], the [0, 1] clamp moves every coordinate towards c, so the result stays in the
/// ball.

@inline(__always)
private func checkSameShape(_ x: Tensor, _ center: Tensor, eps: Float, _ op: String) {
    require(x.shape == center.shape, "\(op): x \(x.shape) and center \(center.shape) differ")
    require(eps >= 0 && eps.isFinite, "\(op): eps must be finite and ≥ 0, got \(eps)")
}

/// out = clamp(clamp(x, c − ε, c + ε), 0, 1), elementwise.
///
/// Shapes: `x: S`, `center: S` → `S`.
public func projectLinf(_ x: Tensor, center: Tensor, eps: Float) -> Tensor {
    let profiled = OpProfile.begin("projectLinf")
    defer { OpProfile.end(profiled) }
    checkSameShape(x, center, eps: eps, "projectLinf")
    let out = Tensor(uninitializedShape: x.shape)
    nonisolated(unsafe) let (px, pc, po) = (x.data, center.data, out.data)
    parallelFor(x.count, grain: elementwiseGrain) { r in
        for i in r {
            let inBall = min(max(px[i], pc[i] - eps), pc[i] + eps)
            po[i] = min(max(inBall, 0), 1)
        }
    }
    return out
}

/// Per example: δ ← δ · min(1, ε / ‖δ‖₂) with the norm over all D elements, then
/// out = clamp(c + δ, 0, 1). A point already inside the ball is only clamped to [0, 1] (x itself,
/// not c + (x − c), which can differ from x by a rounding).
///
/// Shapes: `x: [N, ...]`, `center: [N, ...]` → `[N, ...]`.
public func projectL2(_ x: Tensor, center: Tensor, eps: Float) -> Tensor {
    checkSameShape(x, center, eps: eps, "projectL2")
    require(x.rank >= 1, "projectL2 needs a batch dimension, got shape \(x.shape)")
    let (n, d) = (x.shape[0], RowKernels.rowSize(x))
    let out = Tensor(uninitializedShape: x.shape)
    nonisolated(unsafe) let (px, pc, po) = (x.data, center.data, out.data)
    parallelFor(n, grain: max(1, elementwiseGrain / max(d, 1))) { rows in
        for i in rows {
            let xi = px + i * d, ci = pc + i * d, oi = po + i * d
            var squared: Double = 0
            for j in 0..<d {
                let delta = Double(xi[j]) - Double(ci[j])
                squared += delta * delta
            }
            let norm = squared.squareRoot()
            if norm <= Double(eps) {
                for j in 0..<d { oi[j] = min(max(xi[j], 0), 1) }
            } else {
                let factor = Double(eps) / norm
                for j in 0..<d {
                    let projected = Double(ci[j]) + (Double(xi[j]) - Double(ci[j])) * factor
                    oi[j] = Float(min(max(projected, 0), 1))
                }
            }
        }
    }
    return out
}
