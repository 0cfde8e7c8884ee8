import Engine
import NN

/// Projected Gradient Descent under L∞ (Madry et al. 2018):
/// x′ₖ₊₁ = Π_{B∞(x, ε) ∩ [0,1]}(x′ₖ + α·sign(∇ f(x′ₖ))), from a uniform, Gaussian (0.001·N) or no random start.
///
/// With `keepBest` (evaluation) each example keeps the first iterate that fools the model, else the one
/// with the highest objective; with restarts, the worst case over restarts. Without it (training attacks)
/// the last iterate is returned, as in the reference implementations.
public struct PGD: Attack {
    public enum Start: Sendable, Equatable { case none, uniform, gaussian(sigma: Float) }

    public var eps: Float
    public var stepSize: Float
    public var steps: Int
    public var start: Start = .uniform
    public var restarts: Int = 1
    public var keepBest = true
    /// Run the model in train mode during the attack (ARD); eval mode otherwise.
    public var modelInTrainingMode = false
    /// Keys of the random start's rows (the examples' indices in the data, so that an example's start does not
    /// depend on its batch or rank); nil: the row positions.
    public var exampleKeys: [UInt64]? = nil
    public var label = "PGD"
    /// Objective maker: called once per batch (KL needs per-batch reference probabilities).
    public var objective: (_ x: Tensor, _ labels: [Int]) -> AttackObjective = { _, _ in .crossEntropy }

    public var name: String { label }
    public var gradientSteps: Int { steps * restarts }

    public init(eps: Float, stepSize: Float, steps: Int, start: Start = .uniform, restarts: Int = 1) {
        self.eps = eps; self.stepSize = stepSize; self.steps = steps; self.start = start; self.restarts = restarts
        self.label = "PGD-\(steps)"
    }

    public func perturb(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator) -> Tensor {
        let objective = self.objective(x, labels)
        var tracker = WorstCaseTracker(start: x, count: labels.count)
        var last = x
        for _ in 0..<max(restarts, 1) {
            var xa: Tensor
            switch start {
            case .none: xa = x.detachedCopy()
            case .uniform: xa = uniformStart(x, eps: eps, rng: &rng, keys: exampleKeys)
            case .gaussian(let sigma): xa = projectLinf(gaussianStart(x, sigma: sigma, rng: &rng, keys: exampleKeys), center: x, eps: eps)
            }
            for _ in 0..<steps {
                let (values, logits, g) = objectiveAndGradient(model, xa, labels: labels, objective: objective,
                                                                training: modelInTrainingMode)
                if keepBest { tracker.offer(xa, values: values, fooled: misclassified(logits, labels: labels)) }
                xa = projectLinf(signedStep(xa, g, stepSize), center: x, eps: eps)
            }
            if keepBest {
                let (values, logits) = withNoGrad { () -> ([Float], Tensor) in
                    let logits = model.forward(xa, training: false)
                    return (objective.rows(logits, labels: labels).scalars, logits)
                }
                tracker.offer(xa, values: values, fooled: misclassified(logits, labels: labels))
            }
            last = xa
        }
        return keepBest ? tracker.best : last
    }
}

/// PGD under L2: x′ₖ₊₁ = Π_{B₂(x, ε) ∩ [0,1]}(x′ₖ + α·∇f/‖∇f‖₂), per example, from a random point of the ball.
public struct PGDL2: Attack {
    public var eps: Float
    public var stepSize: Float
    public var steps: Int
    public var name: String { "PGD-L2-\(steps)" }
    public var gradientSteps: Int { steps }

    public init(eps: Float, stepSize: Float, steps: Int) { self.eps = eps; self.stepSize = stepSize; self.steps = steps }

    public func perturb(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator) -> Tensor {
        let n = labels.count, per = x.count / max(n, 1)
        // Random start: a Gaussian direction scaled to a uniform radius in [0, ε).
        var xa = Tensor(uninitializedShape: x.shape)
        for i in 0..<n {
            var d = (0..<per).map { _ in rng.normal() }
            let norm = max(d.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            let r = eps * rng.nextUnitFloat()
            for j in 0..<per { d[j] *= r / norm; xa.data[i * per + j] = x.data[i * per + j] + d[j] }
        }
        xa = projectL2(xa, center: x, eps: eps)
        var tracker = WorstCaseTracker(start: x, count: n)
        for _ in 0..<steps {
            let (values, logits, g) = objectiveAndGradient(model, xa, labels: labels, objective: .crossEntropy)
            tracker.offer(xa, values: values, fooled: misclassified(logits, labels: labels))
            let next = xa.detachedCopy()
            for i in 0..<n {
                var norm: Float = 0
                for j in 0..<per { norm += g.data[i * per + j] * g.data[i * per + j] }
                let scale = stepSize / max(norm.squareRoot(), 1e-12)
                for j in 0..<per { next.data[i * per + j] += scale * g.data[i * per + j] }
            }
            xa = projectL2(next, center: x, eps: eps)
        }
        let (values, logits) = withNoGrad { () -> ([Float], Tensor) in
            let logits = model.forward(xa, training: false)
            return (crossEntropyRows(logits, labels: labels).scalars, logits)
        }
        tracker.offer(xa, values: values, fooled: misclassified(logits, labels: labels))
        return tracker.best
    }
}
