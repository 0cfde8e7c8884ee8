import Attacks
import Engine
import NN

/// The frozen teachers of a run (eval mode, no gradients).
public struct Teachers {
    public var natural: Model?
    public var robust: Model?
    public init(natural: Model? = nil, robust: Model? = nil) { self.natural = natural; self.robust = robust }
}

/// What a method needs besides the batch.
public struct StepContext {
    public var epoch: Int
    public var batchIndex: Int
    public var numClasses: Int
    public var teachers: Teachers
    /// Randomness of the training attack (checkpointed with the run).
    public var rng: SeededGenerator

    public init(epoch: Int, batchIndex: Int, numClasses: Int, teachers: Teachers, rng: SeededGenerator) {
        self.epoch = epoch; self.batchIndex = batchIndex; self.numClasses = numClasses
        self.teachers = teachers; self.rng = rng
    }
}

/// A method's loss on one batch: `loss` is recorded (backward runs on it), `logs` are plain numbers
/// for metrics.jsonl (e.g. "loss_adv", "loss_nat").
public struct StepOutput {
    public var loss: Tensor
    public var logs: [String: Double]
}

/// A training method: given the student and a batch, the loss to minimise (one file per method;
/// registered by name in `MethodRegistry`).
public protocol Method: AnyObject {
    var name: String { get }
    /// x: [N, C, H, W] in [0, 1], labels: N → loss (recorded) and logs. May run the training attack.
    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput
    /// Balancer state (τ_nat, τ_adv, w_nat, w_adv, L(0)…) for logs and checkpoints; empty if none.
    var state: [String: Double] { get }
    func restore(_ state: [String: Double]) throws
    /// Called at the start of every epoch with the number of learning-rate decays so far (B-MTARD
    /// decays η and r_w with the learning rate).
    func epochStarted(_ epoch: Int, lrDecays: Int)
}

extension Method {
    public var state: [String: Double] { [:] }
    public func restore(_ state: [String: Double]) throws {}
    public func epochStarted(_ epoch: Int, lrDecays: Int) {}
}

/// The training attack with the method's defaults filled in from the config.
/// Default step sizes are given for ε = 8/255 and scale with ε (as in `AttackRegistry`).
public struct TrainingAttack: Sendable, Equatable {
    public var eps: Float
    public var stepSize: Float
    public var steps: Int
    public var start: PGD.Start
    /// BatchNorm in train mode during the attack (ARD, IAD); eval otherwise.
    public var trainModeBN: Bool

    init(_ c: AttackConfig, method: MethodConfig, defaultStep: Float = 2 / 255, defaultStepEps: Float = 8 / 255,
         defaultStart: PGD.Start, defaultTrainBN: Bool = false) {
        eps = c.eps ?? 8 / 255
        stepSize = c.stepSize ?? defaultStep * eps / defaultStepEps
        steps = c.steps ?? 10
        switch c.start {
        case "uniform": start = .uniform
        case "gaussian": start = .gaussian(sigma: 0.001)
        case "none": start = PGD.Start.none
        default: start = defaultStart
        }
        trainModeBN = method.attackBN.map { $0 == "train" } ?? defaultTrainBN
    }

    /// L∞ PGD maximising `objective` on `model`, returning the last iterate (training attacks do not keep
    /// the best iterate, as in the reference implementations).
    func run(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator,
             objective: @escaping (Tensor, [Int]) -> AttackObjective = { _, _ in .crossEntropy }) -> Tensor {
        var pgd = PGD(eps: eps, stepSize: stepSize, steps: steps, start: start)
        pgd.keepBest = false
        pgd.modelInTrainingMode = trainModeBN
        pgd.objective = objective
        return pgd.perturb(model, x, labels: labels, rng: &rng)
    }
}

public enum KLReduction: String, Sendable { case mean, batchmean }

/// KLc(p, log q): the paper's mean over B·K of p·(log(p + 1e-5) − log q) ("mean"), or the per-example sum
/// over K averaged over B ("batchmean", K times larger). p is detached by the callers (teacher side).
func klc(_ p: Tensor, _ logQ: Tensor, _ reduction: KLReduction) -> Tensor {
    let rows = klDivergenceRows(target: p, logQ: logQ, epsInLog: 1e-5)
    switch reduction {
    case .mean: return (1 / Float(p.count)) * rows.sum()
    case .batchmean: return rows.mean()
    }
}

/// Teacher probabilities softmax(T(x)/τ), computed without recording (teachers never receive gradients).
func teacherProbabilities(_ teacher: Model, _ x: Tensor, temperature: Float = 1) -> Tensor {
    withNoGrad { softmax(teacher.forward(x, training: false), temperature: temperature) }
}
