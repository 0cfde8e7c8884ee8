import Attacks
import Engine
import Foundation
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
    /// The run's number of epochs (IGDM ramps its weight over them, CIARD anneals its teacher's rate).
    public var epochs: Int
    /// The student's learning rate for this batch (PeerAiD's peer follows it).
    public var learningRate: Float
    /// The batch's examples' indices in the training data: the training attack's noise for an example is keyed
    /// by it (the same whatever the number of ranks); nil: the row positions.
    public var exampleKeys: [UInt64]? = nil
    /// The mean over the global batch of per-example means computed on this rank's rows (identity in one
    /// process): a balancer that updates from this batch's losses or entropies must see the same numbers on
    /// every rank of a data-parallel job.
    public var globalMean: ([Double]) -> [Double] = { $0 }

    /// `epochs` and `learningRate` default to a one-epoch run at rate 0.1 (tests and benchmarks of one step).
    public init(epoch: Int, batchIndex: Int, numClasses: Int, teachers: Teachers, rng: SeededGenerator,
                epochs: Int = 1, learningRate: Float = 0.1) {
        self.epoch = epoch; self.batchIndex = batchIndex; self.numClasses = numClasses
        self.teachers = teachers; self.rng = rng; self.epochs = epochs; self.learningRate = learningRate
    }
}

/// What a method may need to build itself besides its parameters: the student's architecture, the loaded
/// teachers, the optimizer the config describes and the run's seed (PeerAiD builds a peer like the student;
/// CIARD trains a copy of the robust teacher).
public struct MethodEnvironment {
    public var student: ModelSpec
    public var teachers: Teachers
    public var optimizer: OptimizerConfig
    public var seed: UInt64

    public init(student: ModelSpec, teachers: Teachers, optimizer: OptimizerConfig = OptimizerConfig(), seed: UInt64 = 0) {
        self.student = student; self.teachers = teachers; self.optimizer = optimizer; self.seed = seed
    }
}

/// A method's loss on one batch: `loss` is recorded (backward runs on it), `logs` are plain numbers
/// for metrics.jsonl (e.g. "loss_adv", "loss_nat").
public struct StepOutput {
    public var loss: Tensor
    public var logs: [String: Double]
    /// The training attack's example x′ (nil for a method without one): modifiers such as IGDM read it.
    public var adversarial: Tensor? = nil
    /// The loss of each trainable (`Method.trainables`) this batch updates, by its name. The trainer runs one
    /// backward pass on `loss` plus these (each a function of its own model's parameters, with the student's
    /// outputs detached), checks every gradient, then steps the student's optimizer and these trainables'
    /// (a trainable without a loss here is not stepped).
    public var trainableLosses: [String: Tensor] = [:]
}

/// A training method: given the student and a batch, the loss to minimise (one file per method in Methods/,
/// one entry in `MethodRegistry`).
public protocol Method: AnyObject {
    /// What the method carries from batch to batch (B-MTARD's balancer), saved in checkpoints.
    associatedtype State: MethodState = NoState
    var name: String { get }
    /// x: [N, C, H, W] in [0, 1], labels: N → loss (recorded) and logs. May run the training attack.
    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput
    var state: State { get set }
    /// Models the method trains besides the student (a peer model, as PeerAiD trains one), each with its
    /// optimizer. The method gives each one's loss in `StepOutput.trainableLosses` and sets its learning rate;
    /// the trainer zeroes, differentiates, checks and steps them exactly as it does the student (so a NaN in
    /// a peer is caught like one in the student, and a data-parallel trainer combines their gradients where it
    /// combines the student's), and saves and restores them with the run.
    var trainables: [Trainable] { get }
    /// Called at the start of every epoch with the number of learning-rate decays so far (B-MTARD
    /// decays η and r_w with the learning rate).
    func epochStarted(_ epoch: Int, lrDecays: Int)
    /// Called once after the last batch of each epoch (0-based `epoch` of `epochs`), before its evaluation, with
    /// that epoch's training images to pass over again: [n_b, C, H, W] per batch, in the order and with the
    /// augmentation the epoch trained on, whole global batches on every rank of a data-parallel job. A run
    /// interrupted after the call does not repeat it on `--resume`. PeerAiD averages the student's weights here.
    func epochTrained(_ epoch: Int, epochs: Int, student: Model, images: AnySequence<Tensor>)
    /// The model the run evaluates, selects `best.safetensors` from and saves as its model in place of the
    /// student (PeerAiD's weight average of the student, once averaging has begun); nil: the student itself.
    /// The trainer keeps saving the student's own weights for `--resume` (Trainer+Checkpoint.swift).
    var evaluatedModel: EvaluatedModel? { get }
}

/// A model a method evaluates and saves as the run's result in place of the student (`Method.evaluatedModel`).
public struct EvaluatedModel {
    /// What metrics.jsonl (`eval_model`) and the trainer state call it: letters, digits, '_' and '-'.
    public let name: String
    /// The student's architecture; its weights and BN statistics belong to the method.
    public let model: Model

    public init(name: String, model: Model) { self.name = name; self.model = model }
}

extension Method where State == NoState {
    public var state: NoState {
        get { NoState() }
        set {}
    }
}

extension Method {
    public var trainables: [Trainable] { [] }
    public func epochStarted(_ epoch: Int, lrDecays: Int) {}
    public func epochTrained(_ epoch: Int, epochs: Int, student: Model, images: AnySequence<Tensor>) {}
    public var evaluatedModel: EvaluatedModel? { nil }

    /// The state as a checkpoint's trainer metadata holds it: a flat JSON object of numbers
    /// (`{"tau_nat": 1.002, …}`; `{}` for methods without state).
    func checkpointState() throws -> [String: Double] {
        try JSONDecoder().decode([String: Double].self, from: JSONEncoder().encode(state))
    }

    /// Restores the state from a checkpoint's trainer metadata.
    func restoreState(from values: [String: Double]) throws {
        state = try JSONDecoder().decode(State.self, from: JSONEncoder().encode(values))
    }

    /// Puts back the state the method has now, when called (a skipped batch leaves no trace).
    func stateRestorer() -> () -> Void {
        let saved = state
        return { self.state = saved }
    }
}

/// A method built around a base method, as a modifier builds one (`MethodModifier`): its name, state,
/// trainables, epoch hooks and evaluated model are the base's, so that a wrapped B-MTARD still checkpoints its balancer.
/// A wrapper is generic over its base, says `typealias State = Base.State`, and implements `step` (calling
/// `base.step`) and whatever else it changes; a modifier's constructor opens the base it receives into it.
public protocol MethodWrapper: Method where State == Base.State {
    associatedtype Base: Method
    var base: Base { get }
}

extension MethodWrapper {
    public var name: String { base.name }
    public var state: State {
        get { base.state }
        set { base.state = newValue }
    }
    public var trainables: [Trainable] { base.trainables }
    public func epochStarted(_ epoch: Int, lrDecays: Int) { base.epochStarted(epoch, lrDecays: lrDecays) }
    public func epochTrained(_ epoch: Int, epochs: Int, student: Model, images: AnySequence<Tensor>) {
        base.epochTrained(epoch, epochs: epochs, student: student, images: images)
    }
    public var evaluatedModel: EvaluatedModel? { base.evaluatedModel }
}

/// What a method carries from batch to batch. It is saved in the checkpoint's trainer metadata as a flat JSON
/// object of numbers (its coding keys are the checkpoint's keys), so every stored property encodes as a
/// number; models and optimizer state belong in `Method.trainables`, which are saved as tensors.
public protocol MethodState: Codable, Equatable, Sendable {
    /// The balancer's temperatures and weights for metrics.jsonl; nil for methods without one.
    var balancer: BalancerState? { get }
}

extension MethodState {
    public var balancer: BalancerState? { nil }
}

/// The state of a method that carries none.
public struct NoState: MethodState {
    public init() {}
}

/// A model a method trains besides the student, with its optimizer, saved in `checkpoint.safetensors` under
/// `advdistill.trainable.<name>.model.` (weights and BN statistics) and `advdistill.trainable.<name>.optimizer.`.
public struct Trainable {
    /// Names its tensors in checkpoints: letters, digits, '_' and '-'.
    public let name: String
    public let model: Model
    public let optimizer: Optimizer

    public init(name: String, model: Model, optimizer: Optimizer) {
        self.name = name; self.model = model; self.optimizer = optimizer
    }
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

    /// A method's own attack settings, which the config's `attack` object and `method.attack_bn` override.
    public struct Defaults: Sendable {
        public var start: AttackConfig.Start
        public var batchNorm: AttackBatchNorm = .eval
        /// The step size at ε = `stepEps`; it scales linearly with ε.
        public var step: Float = 2 / 255
        public var stepEps: Float = 8 / 255
    }

    init(_ c: AttackConfig, defaults: Defaults, batchNorm: AttackBatchNorm) {
        eps = c.eps ?? 8 / 255
        stepSize = c.stepSize ?? defaults.step * eps / defaults.stepEps
        steps = c.steps ?? 10
        start = switch c.start ?? defaults.start {
        case .uniform: .uniform
        case .gaussian: .gaussian(sigma: 0.001)
        case .none: PGD.Start.none
        }
        trainModeBN = batchNorm == .train
    }

    /// L∞ PGD maximising `objective` on `model`, returning the last iterate (training attacks do not keep
    /// the best iterate, as in the reference implementations).
    func run(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator, keys: [UInt64]? = nil,
             objective: @escaping (Tensor, [Int]) -> AttackObjective = { _, _ in .crossEntropy }) -> Tensor {
        var pgd = PGD(eps: eps, stepSize: stepSize, steps: steps, start: start)
        pgd.exampleKeys = keys
        pgd.keepBest = false
        pgd.modelInTrainingMode = trainModeBN
        pgd.objective = objective
        return pgd.perturb(model, x, labels: labels, rng: &rng)
    }
}

/// How KLc averages (`method.kl_reduction`).
public enum KLReduction: String, ConfigChoice, MethodParameterValue {
    /// The paper's mean over B·K.
    case mean
    /// Summed over classes, averaged over the batch (K times larger).
    case batchmean
}

/// BatchNorm mode of the student during the training attack (`method.attack_bn`).
public enum AttackBatchNorm: String, ConfigChoice, MethodParameterValue {
    /// Running statistics, nothing updated (the attack must not move them).
    case eval
    /// Batch statistics, running ones updated (ARD, IAD as published).
    case train
}

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
