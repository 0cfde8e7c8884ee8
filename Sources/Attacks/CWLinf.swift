import Engine
import NN

/// CW∞ as evaluated in the robust-distillation literature: L∞ PGD on the Carlini–Wagner margin loss
/// −max(z_y − max_{j≠y} z_j, −κ) with κ = 50 (so the margin keeps being pushed well past 0).
public struct CWLinf: Attack {
    public var eps: Float
    public var stepSize: Float
    public var steps: Int
    public var kappa: Float = 50
    public var name: String { "CW∞-\(steps)" }
    public var gradientSteps: Int { steps }

    public init(eps: Float, stepSize: Float, steps: Int, kappa: Float = 50) {
        self.eps = eps; self.stepSize = stepSize; self.steps = steps; self.kappa = kappa
    }

    public func perturb(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator) -> Tensor {
        var pgd = PGD(eps: eps, stepSize: stepSize, steps: steps, start: .uniform)
        let kappa = self.kappa
        pgd.objective = { _, _ in .margin(kappa: kappa) }
        return pgd.perturb(model, x, labels: labels, rng: &rng)
    }
}
