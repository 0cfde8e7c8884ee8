import Attacks
import Datasets
import Engine
import Foundation
import NN

/// One training run, as written in `Configs/<name>.json`. Every key is documented in README's config table;
/// unknown keys are errors. Fields that are absent take the defaults below (or the method's own defaults).
public struct RunConfig: Codable, Sendable, Equatable {
    public var name: String
    public var seed: UInt64
    public var data: DataConfig
    public var model: ModelConfig
    public var teachers: TeachersConfig?
    public var method: MethodConfig
    /// The training threat model (the attack run inside training steps).
    public var attack: AttackConfig
    public var optimizer: OptimizerConfig
    public var schedule: ScheduleConfig
    public var epochs: Int
    public var batchSize: Int
    public var eval: EvalConfig
    /// Runs are written to `<output>/<name>/`.
    public var output: String
    /// What a NaN or infinite loss does: stop the run (default) or skip the batch and count it.
    public var nanPolicy: NaNPolicy
    /// Whether the run writes TensorBoard event files beside metrics.jsonl (default true).
    public var tensorboard: Bool
    /// Data-parallel runs (`mpirun -np N`): batch norm normalises with the statistics of the whole global
    /// batch (allreduced, backward included) instead of each rank's slice (the default, as PyTorch DDP).
    /// No effect in one process.
    public var syncBN: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, seed, data, model, teachers, method, attack, optimizer, schedule, epochs
        case batchSize = "batch_size", eval, output, nanPolicy = "nan_policy", tensorboard, syncBN = "sync_bn"
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        data = try c.decode(DataConfig.self, forKey: .data)
        model = try c.decode(ModelConfig.self, forKey: .model)
        teachers = try c.decodeIfPresent(TeachersConfig.self, forKey: .teachers)
        method = try c.decode(MethodConfig.self, forKey: .method)
        attack = try c.decodeIfPresent(AttackConfig.self, forKey: .attack) ?? AttackConfig()
        optimizer = try c.decodeIfPresent(OptimizerConfig.self, forKey: .optimizer) ?? OptimizerConfig()
        schedule = try c.decodeIfPresent(ScheduleConfig.self, forKey: .schedule) ?? ScheduleConfig()
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? 128
        eval = try c.decodeIfPresent(EvalConfig.self, forKey: .eval) ?? EvalConfig()
        output = try c.decodeIfPresent(String.self, forKey: .output) ?? "runs"
        nanPolicy = try c.decodeIfPresent(NaNPolicy.self, forKey: .nanPolicy) ?? .stop
        tensorboard = try c.decodeIfPresent(Bool.self, forKey: .tensorboard) ?? true
        do { syncBN = try c.decodeIfPresent(Bool.self, forKey: .syncBN) ?? false } catch DecodingError.typeMismatch {
            throw ConfigError.invalid(field: "sync_bn", message: "must be true or false")
        }
    }

    /// Reads and validates a config file. Relative paths inside it stay relative to the working directory.
    public static func load(path: String) throws -> RunConfig {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw ConfigError.unreadable(file: path, reason: "no such file or not readable")
        }
        return try parse(bytes, source: path)
    }

    /// Decodes and validates the contents of a config file; `source` names it in error messages. The method
    /// is one of `methods` (tests register their own).
    public static func parse(_ bytes: Data, source path: String, methods: MethodRegistry = .standard) throws -> RunConfig {
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[MethodRegistry.userInfoKey] = methods
            let config = try decoder.decode(RunConfig.self, from: bytes)
            try config.validate(methods: methods)
            return config
        } catch let e as ConfigError {
            throw e
        } catch let e as UnknownKeyError {  // from a part Datasets decodes (data.train, data.augmentation)
            throw ConfigError(e)
        } catch let e as DecodingError {
            throw ConfigError.unreadable(file: path, reason: describe(e, in: bytes))
        } catch {
            throw ConfigError.unreadable(file: path, reason: "\(error)")
        }
    }

    /// Checks every value before any work starts; the method against `methods` (tests register their own).
    public func validate(methods: MethodRegistry = .standard) throws {
        func fail(_ field: String, _ message: String) -> ConfigError { .invalid(field: field, message: message) }
        guard !name.isEmpty, !name.contains("/") else { throw fail("name", "must be a non-empty name without '/'") }
        guard epochs >= 1 else { throw fail("epochs", "must be ≥ 1, got \(epochs)") }
        guard batchSize >= 1 else { throw fail("batch_size", "must be ≥ 1, got \(batchSize)") }
        guard (0..<1).contains(data.valFraction) else { throw fail("data.val_fraction", "must be in [0, 1), got \(data.valFraction)") }
        try attack.validate()
        try teachers?.natural?.validate(role: "natural")
        try teachers?.robust?.validate(role: "robust")
        try optimizer.validate()
        try schedule.validate(epochs: epochs)
        try eval.validate()
        // The evaluation's attacks are checked now, not after the first epoch of training.
        do { _ = try AttackRegistry.parse(eval.attacks, eps: attack.eps ?? 8 / 255) }
        catch { throw fail("eval.attacks", "\(error)") }
        try method.validate(hasTeachers: teachers, registry: methods)
    }
}

/// What a NaN or infinite loss or gradient does (`nan_policy`).
public enum NaNPolicy: String, ConfigChoice {
    /// Stop the run, naming epoch and batch; the last checkpoint stays intact.
    case stop
    /// Skip the batch, leaving no trace in the weights, BN statistics or balancers, and count it.
    case skip
}

/// Human-readable decoding errors: the path of the field and what was wrong; for a syntax error, where
/// in the file (line and column, from `bytes`) the JSON stops making sense.
func describe(_ e: DecodingError, in bytes: Data? = nil) -> String {
    func path(_ c: [CodingKey]) -> String { keyPath(c) }
    switch e {
    case .keyNotFound(let key, let ctx):
        let p = path(ctx.codingPath + [key])
        return "missing required key '\(p)'"
    case .typeMismatch(let type, let ctx):
        return "'\(path(ctx.codingPath))' should be \(kind(type))\(found(ctx.debugDescription))"
    case .valueNotFound(let type, let ctx): return "'\(path(ctx.codingPath))' is null, expected \(kind(type))"
    case .dataCorrupted(let ctx):
        if ctx.codingPath.isEmpty, let bytes { return "not valid JSON (\(jsonSyntaxError(bytes)))" }
        if let underlying = ctx.underlyingError { return "not valid JSON (\(underlying.localizedDescription))" }
        return "'\(path(ctx.codingPath))': \(ctx.debugDescription)"
    @unknown default: return "\(e)"
    }
}

/// What a config value of Swift type `type` is called in JSON terms.
private func kind(_ type: Any.Type) -> String {
    switch type {
    case is Float.Type, is Double.Type: return "a number"
    case is Int.Type, is UInt64.Type, is Int64.Type: return "a whole number"
    case is String.Type: return "a string"
    case is Bool.Type: return "true or false"
    default:
        let name = "\(type)"
        if name.hasPrefix("Array") { return "a list" }
        if name.hasPrefix("Dictionary") || name.hasSuffix("Config") || name.hasSuffix("Spec") { return "an object" }
        return name
    }
}

/// " (found a string)" from a decoder's "Expected to decode Float but found a string instead.", or "".
private func found(_ debugDescription: String) -> String {
    guard let start = debugDescription.range(of: "but found ") else { return "" }
    var what = debugDescription[start.upperBound...]
    if let end = what.range(of: " instead") { what = what[..<end.lowerBound] }
    return what.isEmpty ? "" : " (found \(what))"
}

/// The JSON parser's complaint about `bytes`, with "around character N" turned into a line and column.
func jsonSyntaxError(_ bytes: Data) -> String {
    let message: String
    do { _ = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]); return "not a JSON object" }
    catch { message = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)" }
    let trimmed = message.hasSuffix(".") ? String(message.dropLast()) : message
    guard let r = trimmed.range(of: "around character "), let offset = Int(trimmed[r.upperBound...]),
          offset >= 0, offset <= bytes.count else { return trimmed }
    var line = 1, column = 1
    for byte in bytes.prefix(offset) {
        if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
    }
    return trimmed[..<r.lowerBound].trimmingCharacters(in: .whitespaces) + " at line \(line), column \(column)"
}

public struct DataConfig: Codable, Sendable, Equatable {
    public var train: DataSpec
    public var test: DataSpec
    /// Fraction of the training pool held out (deterministically, by the seed) for per-epoch validation and
    /// the choice of best.safetensors (default `defaultValFraction`). The pool is `train` after its `limit`:
    /// the limit picks the images, the split then divides them. 0 validates on the test split (the old
    /// behaviour, which selects the best epoch on the numbers it then reports).
    public var valFraction: Double
    /// Training augmentation; nil = none.
    public var augmentation: Augmentation?

    /// A tenth of the training pool: enough images to rank epochs (2,000 of the demo's 20,000) while
    /// training keeps nine tenths.
    public static let defaultValFraction = 0.1

    enum CodingKeys: String, CodingKey, CaseIterable {
        case train, test, valFraction = "val_fraction", augmentation
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        train = try c.decode(DataSpec.self, forKey: .train)
        test = try c.decode(DataSpec.self, forKey: .test)
        valFraction = try c.decodeIfPresent(Double.self, forKey: .valFraction) ?? Self.defaultValFraction
        augmentation = try c.decodeIfPresent(Augmentation.self, forKey: .augmentation)
    }
}

public struct ModelConfig: Codable, Sendable, Equatable {
    public var arch: String
    /// Defaults to the data set's class count / channels / image size.
    public var numClasses: Int?
    public var inChannels: Int?
    public var inputSize: Int?
    public var mean: [Float]?
    public var std: [Float]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case arch, numClasses = "num_classes", inChannels = "in_channels", inputSize = "input_size", mean, std
    }

    public init(arch: String) { self.arch = arch }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        arch = try c.decode(String.self, forKey: .arch)
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses)
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels)
        inputSize = try c.decodeIfPresent(Int.self, forKey: .inputSize)
        mean = try c.decodeIfPresent([Float].self, forKey: .mean)
        std = try c.decodeIfPresent([Float].self, forKey: .std)
    }
}

public struct TeacherConfig: Codable, Sendable, Equatable {
    /// Path of a safetensors checkpoint (ours, or PyTorch's state_dict).
    public var checkpoint: String
    /// Architecture, needed only when the file lacks our metadata.
    public var arch: String?
    /// The clean accuracy the teacher is known to reach (a fraction in [0, 1]): the check on load warns when
    /// it measures more than 5 points less.
    public var expectClean: Double?

    enum CodingKeys: String, CodingKey, CaseIterable { case checkpoint, arch, expectClean = "expect_clean" }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        checkpoint = try c.decode(String.self, forKey: .checkpoint)
        arch = try c.decodeIfPresent(String.self, forKey: .arch)
        expectClean = try c.decodeIfPresent(Double.self, forKey: .expectClean)
    }

    func validate(role: String) throws {
        if let expectClean, !(0...1).contains(expectClean) {
            throw ConfigError.invalid(field: "teachers.\(role).expect_clean", message: "must be a clean accuracy in [0, 1] (0.9 for 90 %), got \(expectClean)")
        }
    }
}

public struct TeachersConfig: Codable, Sendable, Equatable {
    /// The clean (naturally trained) teacher.
    public var natural: TeacherConfig?
    /// The robust (adversarially trained) teacher.
    public var robust: TeacherConfig?

    enum CodingKeys: String, CodingKey, CaseIterable { case natural, robust }

    init(natural: TeacherConfig?, robust: TeacherConfig?) { self.natural = natural; self.robust = robust }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        natural = try c.decodeIfPresent(TeacherConfig.self, forKey: .natural)
        robust = try c.decodeIfPresent(TeacherConfig.self, forKey: .robust)
    }
}

/// The training attack. Absent fields take the method's defaults (see each method's file).
public struct AttackConfig: Codable, Sendable, Equatable {
    /// L∞ radius on [0, 1] inputs (8/255 for CIFAR, 0.1 for Fashion-MNIST), as written (`0.1` or `"8/255"`).
    public var epsilon: Epsilon?
    /// Its value.
    public var eps: Float? {
        get { epsilon?.value }
        set { epsilon = newValue.map(Epsilon.init) }
    }
    public var stepSize: Float?
    public var steps: Int?
    /// Where the attack starts; nil: the method's own start.
    public var start: Start?

    public enum Start: String, ConfigChoice {
        /// x + ε·U(−1, 1).
        case uniform
        /// x + 0.001·N(0, 1).
        case gaussian
        /// x itself.
        case none
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case epsilon = "eps", stepSize = "step_size", steps, start }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epsilon = try c.decodeIfPresent(Epsilon.self, forKey: .epsilon)
        stepSize = try c.decodeIfPresent(Float.self, forKey: .stepSize)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        start = try c.decodeIfPresent(Start.self, forKey: .start)
    }

    func validate() throws {
        if let eps, !(eps >= 0 && eps.isFinite) { throw ConfigError.invalid(field: "attack.eps", message: "must be ≥ 0, got \(eps)") }
        if let stepSize, !(stepSize > 0 && stepSize.isFinite) { throw ConfigError.invalid(field: "attack.step_size", message: "must be > 0, got \(stepSize)") }
        if let steps, steps < 1 { throw ConfigError.invalid(field: "attack.steps", message: "must be ≥ 1, got \(steps)") }
    }
}

public struct OptimizerConfig: Codable, Sendable, Equatable {
    public var name: Name = .sgd
    public var lr: Float = 0.1
    public var momentum: Float = 0.9
    public var weightDecay: Float = 2e-4
    public var nesterov: Bool = false

    enum CodingKeys: String, CodingKey, CaseIterable { case name, lr, momentum, weightDecay = "weight_decay", nesterov }

    public enum Name: String, ConfigChoice { case sgd, adam }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(Name.self, forKey: .name) ?? .sgd
        lr = try c.decodeIfPresent(Float.self, forKey: .lr) ?? 0.1
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum) ?? 0.9
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? 2e-4
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? false
    }

    /// The optimizer over `parameters`.
    func make(parameters: [Tensor]) -> Optimizer {
        switch name {
        case .sgd: SGD(parameters: parameters, learningRate: lr, momentum: momentum, weightDecay: weightDecay, nesterov: nesterov)
        case .adam: Adam(parameters: parameters, learningRate: lr, weightDecay: weightDecay)
        }
    }

    func validate() throws {
        guard lr > 0, lr.isFinite else { throw ConfigError.invalid(field: "optimizer.lr", message: "must be > 0, got \(lr)") }
        guard momentum >= 0, momentum < 1 else { throw ConfigError.invalid(field: "optimizer.momentum", message: "must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0 else { throw ConfigError.invalid(field: "optimizer.weight_decay", message: "must be ≥ 0, got \(weightDecay)") }
    }
}

public struct ScheduleConfig: Codable, Sendable, Equatable {
    public var name: Name = .multistep
    public var milestones: [Int] = []
    public var gamma: Float = 0.1
    public var warmupEpochs: Int = 0
    public var minLR: Float = 0
    /// hold_cosine_exp: epochs at the full rate before the annealing, and the Gaussian factor's k.
    public var holdEpochs: Int = 0
    public var expDecay: Float = 0.01

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, milestones, gamma, warmupEpochs = "warmup_epochs", minLR = "min_lr", holdEpochs = "hold_epochs",
             expDecay = "exp_decay"
    }

    public enum Name: String, ConfigChoice {
        /// lr × gamma after each milestone epoch.
        case multistep
        /// Annealed to min_lr over all steps.
        case cosine
        case constant
        /// CIARD's: the full rate for hold_epochs epochs, then cosine × exp(−exp_decay·p²) per epoch, to 0.
        case holdCosineExp = "hold_cosine_exp"
    }

    public init() { name = .constant }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(Name.self, forKey: .name) ?? .multistep
        milestones = try c.decodeIfPresent([Int].self, forKey: .milestones) ?? []
        gamma = try c.decodeIfPresent(Float.self, forKey: .gamma) ?? 0.1
        warmupEpochs = try c.decodeIfPresent(Int.self, forKey: .warmupEpochs) ?? 0
        minLR = try c.decodeIfPresent(Float.self, forKey: .minLR) ?? 0
        holdEpochs = try c.decodeIfPresent(Int.self, forKey: .holdEpochs) ?? 0
        expDecay = try c.decodeIfPresent(Float.self, forKey: .expDecay) ?? 0.01
    }

    /// The schedule as NN's `LRSchedule` (warm-up ramps linearly from 10 % of the rate).
    public var lrSchedule: LRSchedule {
        let inner: LRSchedule = switch name {
        case .multistep: .multistep(milestones: milestones, gamma: gamma)
        case .cosine: .cosine(minLR: minLR)
        case .constant: .constant
        case .holdCosineExp: .holdCosineExp(holdEpochs: holdEpochs, decay: expDecay)
        }
        return warmupEpochs > 0 ? .warmup(warmupEpochs: warmupEpochs, startFactor: 0.1, schedule: inner) : inner
    }

    /// How many times the learning rate has decayed by the start of `epoch` (0-based): the milestones passed
    /// under `multistep`, 0 otherwise (B-MTARD decays η and r_w with it).
    public func lrDecays(atEpoch epoch: Int) -> Int {
        name == .multistep ? milestones.filter { $0 <= epoch }.count : 0
    }

    /// Learning rate for batch `batch` (0-based) of epoch `epoch` (0-based).
    public func learningRate(base: Float, epoch: Int, batch: Int, batchesPerEpoch: Int, epochs: Int) -> Float {
        lrSchedule.learningRate(base: base, epoch: epoch, totalEpochs: epochs, step: batch, stepsPerEpoch: batchesPerEpoch)
    }

    func validate(epochs: Int) throws {
        do { try lrSchedule.validate(totalEpochs: epochs) }
        catch {
            let field = switch error {
            case .invalidTotalEpochs: "epochs"
            case .emptyMilestones, .negativeMilestone, .unsortedMilestones, .milestoneAfterTraining: "schedule.milestones"
            case .invalidGamma: "schedule.gamma"
            case .invalidMinLR: "schedule.min_lr"
            case .invalidWarmup, .invalidStartFactor: "schedule.warmup_epochs"
            case .invalidHold: "schedule.hold_epochs"
            case .invalidExpDecay: "schedule.exp_decay"
            }
            throw ConfigError.invalid(field: field, message: error.description)
        }
    }
}

public struct EvalConfig: Codable, Sendable, Equatable {
    /// Evaluate every N epochs (and always after the last).
    public var every: Int = 1
    /// Attacks of the per-epoch evaluation (registry names).
    public var attacks: String = AttackRegistry.wRobustAttack
    /// Examples of the validation/test split used per epoch (nil = all).
    public var limit: Int? = 1000
    public var batchSize: Int = 500

    enum CodingKeys: String, CodingKey, CaseIterable { case every, attacks, limit, batchSize = "batch_size" }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        every = try c.decodeIfPresent(Int.self, forKey: .every) ?? 1
        attacks = try c.decodeIfPresent(String.self, forKey: .attacks) ?? AttackRegistry.wRobustAttack
        limit = try c.decodeIfPresent(Int.self, forKey: .limit) ?? 1000
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? 500
    }

    func validate() throws {
        guard every >= 1 else { throw ConfigError.invalid(field: "eval.every", message: "must be ≥ 1, got \(every)") }
        if let limit, limit < 1 { throw ConfigError.invalid(field: "eval.limit", message: "must be ≥ 1, got \(limit)") }
        guard batchSize >= 1 else { throw ConfigError.invalid(field: "eval.batch_size", message: "must be ≥ 1") }
    }
}
