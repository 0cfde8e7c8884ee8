import Engine
import Foundation

/// What a method parameter can hold: a number, a whole number, or one of an enum's words (`ConfigChoice`).
public protocol MethodParameterValue: Codable, Sendable, Equatable {
    /// The value as a config writes it, for Configs/README's table: `6`, `0.001`, `"mean"`.
    var configText: String { get }
}

extension Float: MethodParameterValue {
    public var configText: String { String(format: "%g", Double(self)) }
}

extension Int: MethodParameterValue {
    public var configText: String { String(self) }
}

extension Bool: MethodParameterValue {
    public var configText: String { self ? "true" : "false" }
}

extension MethodParameterValue where Self: ConfigChoice {
    public var configText: String { "\"\(rawValue)\"" }
}

extension MethodParameterValue {
    func isEqual(to other: any MethodParameterValue) -> Bool { (other as? Self) == self }
}

/// A method hyper-parameter as configs spell it: its key, its type and the values it accepts. Each is
/// declared once, below; a method's registry entry lists those it reads, with its own defaults.
public struct MethodParameter<Value: MethodParameterValue>: Sendable {
    public let key: String
    /// What it does (Configs/README's table).
    public let help: String
    /// Why a value is refused ("must be > 0, got -1"); nil when it is accepted.
    let refusal: @Sendable (Value) -> String?

    public init(key: String, help: String, refusal: @escaping @Sendable (Value) -> String? = { _ in nil }) {
        self.key = key; self.help = help; self.refusal = refusal
    }
}

extension MethodParameter where Value == Float {
    public static var beta: Self {
        Self(key: "beta", help: "TRADES: weight of the robust KL; MTARD/B-MTARD: exponent β of the loss balance", refusal: positive)
    }
    public static var temperature: Self { Self(key: "temperature", help: "ARD/IAD/PeerAiD distillation temperature T", refusal: positive) }
    public static var alpha: Self {
        Self(key: "alpha", help: "ARD/IAD weight of the distillation term") { (0...1).contains($0) ? nil : "must be in [0, 1], got \($0)" }
    }
    public static var eta: Self {
        Self(key: "eta", help: "B-MTARD/CIARD temperature step η (decays ×0.1 with each LR milestone)", refusal: positive)
    }
    /// IGDM's weight of the matching term (a modifier parameter: `"igdm": {"alpha": 1}`).
    public static var igdmAlpha: Self {
        Self(key: "alpha", help: "IGDM: weight α of the output-difference matching term (ramped by epoch/epochs)", refusal: nonNegative)
    }
    public static var peerTemperature: Self {
        Self(key: "peer_temperature", help: "PeerAiD: temperature of the peer's distillation from the student", refusal: positive)
    }
    public static var lambda1: Self { Self(key: "lambda1", help: "PeerAiD: weight λ1 of the student's CE on x′", refusal: nonNegative) }
    public static var lambda2: Self { Self(key: "lambda2", help: "PeerAiD: weight λ2 of the student's KL towards the peer on x′", refusal: nonNegative) }
    public static var lambda3: Self { Self(key: "lambda3", help: "PeerAiD: weight λ3 of the student's KL between its clean and adversarial outputs", refusal: nonNegative) }
    public static var gamma1: Self { Self(key: "gamma1", help: "PeerAiD: weight γ1 of the peer's CE on x′", refusal: nonNegative) }
    public static var gamma2: Self { Self(key: "gamma2", help: "PeerAiD: weight γ2 of the peer's KL towards the student on x′", refusal: nonNegative) }
    public static var swaStart: Self {
        Self(key: "swa_start", help: "PeerAiD: where SWA begins, as a fraction f of the run: the student is averaged after every epoch from ⌊f·epochs⌋ (0-based) on") {
            (0..<1).contains($0) ? nil : "must be in [0, 1), got \($0)"
        }
    }
    public static var alpBeta: Self {
        Self(key: "alp_beta", help: "DGAD: weight of the consistency term MSE(softmax(S(x′)), softmax(S(x)))", refusal: nonNegative)
    }
    public static var pushTemperature: Self {
        Self(key: "push_temperature", help: "CIARD: student temperature of the push loss", refusal: positive)
    }
    public static var pushWeight: Self {
        Self(key: "push_weight", help: "CIARD: weight λ of the push loss (after its scaling to the KL terms' magnitude)", refusal: nonNegative)
    }
    public static var teacherLR: Self {
        Self(key: "teacher_lr", help: "CIARD: base learning rate of the robust teacher's updates (cosine-annealed from its start epoch)", refusal: nonNegative)
    }
    public static var teacherMomentum: Self {
        Self(key: "teacher_momentum", help: "CIARD: SGD momentum of the robust teacher's updates") { (0..<1).contains($0) ? nil : "must be in [0, 1), got \($0)" }
    }
    public static var teacherWeightDecay: Self {
        Self(key: "teacher_weight_decay", help: "CIARD: weight decay of the robust teacher's updates", refusal: nonNegative)
    }
    public static var weightRate: Self {
        Self(key: "weight_rate", help: "MTARD/B-MTARD weight update rate r_w (decays ×0.1 with each LR milestone)") {
            $0 > 0 && $0 <= 1 ? nil : "must be in (0, 1], got \($0)"
        }
    }
    public static var lossScale: Self { Self(key: "loss_scale", help: "multiplier of the distillation loss", refusal: positive) }

    private static func positive(_ v: Float) -> String? { v > 0 && v.isFinite ? nil : "must be > 0, got \(v)" }
    private static func nonNegative(_ v: Float) -> String? { v >= 0 && v.isFinite ? nil : "must be ≥ 0, got \(v)" }
}

extension MethodParameter where Value == Int {
    public static var iadStartEpoch: Self {
        Self(key: "iad_start_epoch", help: "IAD: epoch from which the introspection term is added") { $0 >= 0 ? nil : "must be ≥ 0" }
    }
    public static var teacherStartEpoch: Self {
        Self(key: "teacher_start_epoch", help: "CIARD: epoch (0-based) from which the robust teacher is updated") { $0 >= 0 ? nil : "must be ≥ 0, got \($0)" }
    }
    public static var teacherEvery: Self {
        Self(key: "teacher_every", help: "CIARD: the robust teacher is updated on every N-th batch of an epoch (its cycle)") { $0 >= 1 ? nil : "must be ≥ 1, got \($0)" }
    }
}

extension MethodParameter where Value == Bool {
    public static var swa: Self {
        Self(key: "swa", help: "PeerAiD: stochastic weight averaging of the student (the authors' `--swa_s`); the average, its BN statistics recomputed, is the run's evaluated and saved model")
    }
}

extension MethodParameter where Value == KLReduction {
    public static var klReduction: Self {
        Self(key: "kl_reduction", help: "`\"mean\"`: the paper's KL averaged over B·K; `\"batchmean\"`: summed over classes, averaged over the batch (K× larger)")
    }
}

extension MethodParameter where Value == AttackBatchNorm {
    /// Every method with a training attack reads it (its registry entry gives the default).
    public static var attackBN: Self {
        Self(key: "attack_bn", help: "BatchNorm mode of the student during the training attack: `\"eval\"` or `\"train\"`")
    }
}

/// A parameter as one method (or modifier) reads it: with that method's default. Type-erased, so that an
/// entry can list parameters of different types.
public struct MethodParameterUse: Sendable {
    public let key: String
    public let help: String
    /// The default as Configs/README shows it: `6`, `"mean"`, `10 on ≥ 100 classes, else 1`.
    public let defaultText: String
    let defaultValue: @Sendable (_ numClasses: Int) -> any MethodParameterValue
    /// Reads the parameter from a method object (nil when absent); a wrong type is a `DecodingError`.
    let decode: @Sendable (KeyedDecodingContainer<AnyCodingKey>) throws -> (any MethodParameterValue)?
    let refusal: @Sendable (any MethodParameterValue) -> String?
    /// The type a config's value is decoded as: every use of one key must agree on it (a test checks).
    let valueType: any MethodParameterValue.Type
    /// The parameter (key) and value without which this one has no effect (`swa_start` needs `swa` true): a
    /// config that gives this one and sets that one otherwise is refused.
    private(set) var requirement: (key: String, value: any MethodParameterValue)?

    /// A parameter whose default is `value`.
    public init<V>(_ parameter: MethodParameter<V>, default value: V) {
        self.init(parameter, default: value.configText) { _ in value }
    }

    /// A parameter whose default depends on the number of classes (described by `text`).
    public init<V>(_ parameter: MethodParameter<V>, default text: String, _ value: @escaping @Sendable (_ numClasses: Int) -> V) {
        key = parameter.key
        help = parameter.help
        defaultText = text
        defaultValue = value
        decode = { try $0.decodeIfPresent(V.self, forKey: AnyCodingKey(stringValue: parameter.key)) }
        refusal = { ($0 as? V).flatMap(parameter.refusal) }
        valueType = V.self
    }

    /// This use, refused in a config that sets `parameter` to anything but `value` (giving it would do nothing).
    public func onlyWith<C>(_ parameter: MethodParameter<C>, _ value: C) -> Self {
        var use = self
        use.requirement = (parameter.key, value)
        return use
    }
}

/// Parameter values by key, as a method object in a config gives them (absent keys take the method's defaults).
public struct MethodParameterValues: Sendable, Equatable {
    var values: [String: any MethodParameterValue] = [:]

    public init() {}

    public subscript<V>(_ parameter: MethodParameter<V>) -> V? {
        get { values[parameter.key] as? V }
        set { values[parameter.key] = newValue }
    }

    public var keys: [String] { values.keys.sorted() }
    public var isEmpty: Bool { values.isEmpty }

    /// Reads the parameters `uses` lists from a method (or modifier) object.
    init(from container: KeyedDecodingContainer<AnyCodingKey>, _ uses: [MethodParameterUse]) throws {
        for use in uses where values[use.key] == nil {
            if let value = try use.decode(container) { values[use.key] = value }
        }
    }

    func encode(to container: inout KeyedEncodingContainer<AnyCodingKey>) throws {
        for key in keys { try container.encode(values[key]!, forKey: AnyCodingKey(stringValue: key)) }
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.values.count == b.values.count && a.values.allSatisfy { key, value in b.values[key].map(value.isEqual) ?? false }
    }
}

/// What a method's constructor reads: its parameters resolved (the config's values over the entry's
/// defaults), and its training attack.
public struct MethodSettings {
    /// The method's (or modifier's) config name.
    public let name: String
    public let numClasses: Int
    let values: [String: any MethodParameterValue]
    let trainingAttack: TrainingAttack?
    let environment: MethodEnvironment?

    /// `given` over the defaults of `uses`; the training attack is `attack` over `defaults` (none without them).
    init(name: String, numClasses: Int, given: MethodParameterValues, uses: [MethodParameterUse], attack: AttackConfig,
         defaults: TrainingAttack.Defaults?, environment: MethodEnvironment? = nil) {
        self.environment = environment
        let values = Dictionary(uniqueKeysWithValues: uses.map { ($0.key, given.values[$0.key] ?? $0.defaultValue(numClasses)) })
        let batchNorm = values[MethodParameter<AttackBatchNorm>.attackBN.key] as? AttackBatchNorm
        self.name = name; self.numClasses = numClasses; self.values = values
        trainingAttack = defaults.map { TrainingAttack(attack, defaults: $0, batchNorm: batchNorm ?? $0.batchNorm) }
    }

    /// The parameter's value. Reading one the entry does not list is a programming error.
    public subscript<V>(_ parameter: MethodParameter<V>) -> V {
        guard let value = values[parameter.key] as? V else {
            preconditionFailure("\(name) reads '\(parameter.key)', which its registry entry does not list")
        }
        return value
    }

    /// The student's architecture, teachers, optimizer and seed, for a method that builds models of its own.
    public func requireEnvironment() throws -> MethodEnvironment {
        guard let environment else {
            throw ConfigError.invalid(field: "method.name", message: "\(name) trains a model besides the student and needs the run's student, teachers and optimizer to build it")
        }
        return environment
    }

    /// The training attack with the method's defaults; only for entries that declare one.
    public var attack: TrainingAttack {
        guard let trainingAttack else { preconditionFailure("\(name) runs an attack, but its registry entry declares none") }
        return trainingAttack
    }
}
