import Engine
import NN

/// An adversarial attack: finds x′ with ‖x′ − x‖ ≤ ε (in its norm) and x′ ∈ [0, 1] that the model
/// misclassifies. x: [N, C, H, W] in [0, 1], labels: N class indices → x′ of the same shape.
///
/// Attacks run the model in eval mode (running BatchNorm statistics, nothing updated) unless
/// `modelInTrainingMode` says otherwise (ARD attacks the student in train mode).
public protocol Attack {
    /// Display name, e.g. "PGD-20".
    var name: String { get }
    /// Forward+backward passes per example (for throughput and reports).
    var gradientSteps: Int { get }
    func perturb(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator) -> Tensor
}

public enum Norm: String, Codable, Sendable { case linf, l2 }

/// What an attack maximises, per example.
public enum AttackObjective {
    /// Cross-entropy against the true label (untargeted).
    case crossEntropy
    /// −max(z_y − max_{j≠y} z_j, −κ): the Carlini–Wagner margin with confidence κ.
    case margin(kappa: Float)
    /// KL(reference ‖ softmax(f(x′))) against fixed per-example probabilities [N, K] (TRADES, RSLAD, AdaAD use
    /// their own reference; attacks for evaluation use CE or margin).
    case kl(reference: Tensor)
    /// Difference-of-logits ratio (untargeted, Croce & Hein 2020).
    case dlr
    /// Targeted DLR towards `targets`.
    case targetedDLR(targets: [Int])
    /// −CE towards `targets` (a targeted PGD).
    case targetedCE(targets: [Int])

    /// The same objective for the examples at `indices` only (per-example targets and references follow).
    func restricted(to indices: [Int]) -> AttackObjective {
        switch self {
        case .crossEntropy, .margin, .dlr: return self
        case .kl(let reference): return .kl(reference: reference.gatherBatch(indices))
        case .targetedDLR(let targets): return .targetedDLR(targets: indices.map { targets[$0] })
        case .targetedCE(let targets): return .targetedCE(targets: indices.map { targets[$0] })
        }
    }

    /// Per-example objective [N] on logits [N, K] (differentiable w.r.t. logits).
    func rows(_ logits: Tensor, labels: [Int]) -> Tensor {
        switch self {
        case .crossEntropy: return crossEntropyRows(logits, labels: labels)
        case .margin(let kappa): return -marginRows(logits, labels: labels, kappa: kappa)
        case .kl(let reference): return klDivergenceRows(target: reference, logQ: logSoftmax(logits))
        case .dlr: return dlrRows(logits, labels: labels, targets: nil)
        case .targetedDLR(let targets): return dlrRows(logits, labels: labels, targets: targets)
        case .targetedCE(let targets): return -crossEntropyRows(logits, labels: targets)
        }
    }
}

/// Objective value per example, the logits (detached) and ∂(Σ objective)/∂x at x.
/// Only the input gradient is computed: parameters receive nothing.
func objectiveAndGradient(_ model: Model, _ x: Tensor, labels: [Int], objective: AttackObjective,
                          training: Bool = false) -> (values: [Float], logits: Tensor, gradient: Tensor) {
    let probe = x.detachedCopy()
    probe.requiresGrad = true
    let logits = model.forward(probe, training: training)
    let rows = objective.rows(logits, labels: labels)
    let values = rows.scalars
    let gradient = rows.sum().gradients(wrt: [probe])[0]
    return (values, logits.detached(), gradient)
}

/// Predictions of the model in eval mode, without recording.
public func predictions(_ model: Model, _ x: Tensor) -> [Int] {
    withNoGrad { argmaxRows(model.forward(x, training: false)) }
}

/// x + ε·u with u uniform in [−1, 1], clipped to [0, 1]; row i's noise from its own stream keyed by `keys[i]`
/// (the example's index; nil: its row), see `Tensor.keyedUniform`.
func uniformStart(_ x: Tensor, eps: Float, rng: inout SeededGenerator, keys: [UInt64]? = nil) -> Tensor {
    let out = Tensor.keyedUniform(x.shape, -eps, eps, using: &rng, keys: keys)
    for i in 0..<x.count { out.data[i] = min(max(x.data[i] + out.data[i], 0), 1) }
    return out
}

/// x + σ·N(0, 1), clipped to [0, 1] (the 0.001·N start of TRADES/MTARD); rows keyed as in `uniformStart`.
func gaussianStart(_ x: Tensor, sigma: Float, rng: inout SeededGenerator, keys: [UInt64]? = nil) -> Tensor {
    let out = Tensor.keyedNormal(x.shape, std: sigma, using: &rng, keys: keys)
    for i in 0..<x.count { out.data[i] = min(max(x.data[i] + out.data[i], 0), 1) }
    return out
}

/// x + α·sign(g), not recorded.
func signedStep(_ x: Tensor, _ g: Tensor, _ alpha: Float) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape)
    for i in 0..<x.count {
        let s: Float = g.data[i] > 0 ? 1 : (g.data[i] < 0 ? -1 : 0)
        out.data[i] = x.data[i] + alpha * s
    }
    return out
}

/// Keeps, per example, the candidate that fools the model, else the one with the higher objective.
/// State for restarts and for "best iterate" tracking.
struct WorstCaseTracker {
    let best: Tensor
    var fooled: [Bool]
    var value: [Float]

    init(start: Tensor, count: Int) {
        best = start.detachedCopy()
        fooled = Array(repeating: false, count: count)
        value = Array(repeating: -.infinity, count: count)
    }

    /// Offers `candidate` with its objective values and whether each example is misclassified.
    mutating func offer(_ candidate: Tensor, values: [Float], fooled now: [Bool]) {
        let per = candidate.count / max(fooled.count, 1)
        for i in 0..<fooled.count {
            let better = (now[i] && !fooled[i]) || (now[i] == fooled[i] && values[i] > value[i])
            guard better else { continue }
            fooled[i] = now[i]; value[i] = values[i]
            (best.data + i * per).update(from: candidate.data + i * per, count: per)
        }
    }
}

func misclassified(_ logits: Tensor, labels: [Int]) -> [Bool] {
    zip(argmaxRows(logits), labels).map { $0 != $1 }
}
