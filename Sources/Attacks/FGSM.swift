import Engine
import NN

/// Fast Gradient Sign Method (Goodfellow et al. 2015), L∞: x′ = clip(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1).
public struct FGSM: Attack {
    public var eps: Float
    public var name: String { "FGSM" }
    public var gradientSteps: Int { 1 }

    public init(eps: Float) { self.eps = eps }

    public func perturb(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator) -> Tensor {
        let (_, _, g) = objectiveAndGradient(model, x, labels: labels, objective: .crossEntropy)
        return projectLinf(signedStep(x, g, eps), center: x, eps: eps)
    }
}
