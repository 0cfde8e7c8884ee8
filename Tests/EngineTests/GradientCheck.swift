import Engine
import Testing

/// Finite-difference gradient check shared by every op test.
///
/// The scalar checked is L = Σ f(inputs) ⊙ R with a fixed random R (so every output element
/// matters with a different weight). The analytic ∂L/∂input comes from `backward`; the numeric one
/// from central differences (L(x+h) − L(x−h)) / 2h, with L accumulated in Double. Float32 kernels
/// limit the precision, hence the stated tolerance: |analytic − numeric| ≤ atol + rtol·|numeric|.
struct GradientCheck {
    var h: Float = 1e-2
    var atol: Float = 2e-3
    var rtol: Float = 2e-2

    /// Returns the worst violation (≤ 0 means every element passed) and records a test issue per
    /// failing input.
    @discardableResult
    func check(_ name: String, inputs: [Tensor], seed: UInt64 = 7,
               _ f: ([Tensor]) -> Tensor, sourceLocation: SourceLocation = #_sourceLocation) -> Float {
        for x in inputs { x.requiresGrad = true; x.grad = nil }
        let probe = f(inputs)
        var rng = SeededGenerator(seed: seed)
        let r = Tensor.uniform(probe.shape, -1, 1, using: &rng)
        let loss = (probe * r).sum()
        loss.backward()
        var worst: Float = -.infinity
        for (idx, x) in inputs.enumerated() {
            guard let analytic = x.grad else {
                Issue.record("\(name): input \(idx) received no gradient", sourceLocation: sourceLocation)
                continue
            }
            var failures = 0
            var firstFailure = ""
            for i in 0..<x.count {
                let saved = x.data[i]
                x.data[i] = saved + h
                let plus = withNoGrad { (f(inputs) * r).sumDoubleWeighted(r) }
                x.data[i] = saved - h
                let minus = withNoGrad { (f(inputs) * r).sumDoubleWeighted(r) }
                x.data[i] = saved
                let numeric = Float((plus - minus) / Double(2 * h))
                let a = analytic.data[i]
                let excess = abs(a - numeric) - (atol + rtol * abs(numeric))
                worst = max(worst, excess)
                if excess > 0 {
                    failures += 1
                    if firstFailure.isEmpty { firstFailure = "element \(i): analytic \(a), numeric \(numeric)" }
                }
            }
            if failures > 0 {
                Issue.record("\(name): input \(idx) \(x.shape): \(failures)/\(x.count) elements off; first \(firstFailure)",
                             sourceLocation: sourceLocation)
            }
        }
        for x in inputs { x.requiresGrad = false; x.grad = nil }
        return worst
    }
}

extension Tensor {
    /// Σ self in Double (the product with R has already been taken; the argument documents intent).
    fileprivate func sumDoubleWeighted(_ r: Tensor) -> Double { sumDouble() }
}

/// Inputs drawn away from kinks: |x| ≥ margin, so ReLU, max-pool and clamp are differentiable
/// within ±h of every element.
func smoothInput(_ shape: [Int], seed: UInt64, margin: Float = 0.05, scale: Float = 1) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    let t = Tensor(uninitializedShape: shape)
    for i in 0..<t.count {
        let m = rng.uniform(margin, 1)
        t.data[i] = scale * (rng.next() & 1 == 0 ? m : -m)
    }
    return t
}
