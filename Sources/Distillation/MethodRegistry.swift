import Attacks
import Foundation
import NN

/// Config names → training methods, one entry each: the table that parsing, validation, Configs/README's
/// rows and the tests read. Adding a method is one file in Methods/ plus one entry in `standard` (and, for a
/// new hyper-parameter, one declaration in Config/MethodParameter.swift).
public struct MethodRegistry: Sendable {
    public let methods: [MethodEntry]
    /// Modifiers that compose with a base method (`{"name": "adaad", "igdm": {…}}`), applied in this order.
    public let modifiers: [MethodModifier]

    public init(methods: [MethodEntry], modifiers: [MethodModifier] = []) {
        self.methods = methods; self.modifiers = modifiers
    }

    /// Where a `JSONDecoder`'s `userInfo` may hold another registry than `standard` for method objects.
    public static let userInfoKey = CodingUserInfoKey(rawValue: "advdistill.methodRegistry")!

    public var names: [String] { methods.map(\.name) }

    public func method(named name: String) -> MethodEntry? { methods.first { $0.name == name } }

    /// Every parameter key some method reads, once each, in table order.
    var parameterKeys: [String] {
        methods.flatMap(\.parameters).map(\.key).reduce(into: []) { keys, key in if !keys.contains(key) { keys.append(key) } }
    }

    /// Every key a method object may hold: `name`, the parameters, the modifiers.
    var methodObjectKeys: [String] { ["name"] + parameterKeys + modifiers.map(\.key) }

    /// Builds the method a (validated) config describes: the base method with its parameters over its defaults,
    /// then each modifier the config applies, wrapped around it. `numClasses` sets defaults that depend on the
    /// data (the loss scale is 10 on ≥ 100 classes, as the paper does on CIFAR-100). `environment`: the student's
    /// architecture, teachers, optimizer and seed, for methods that build models of their own (PeerAiD, CIARD);
    /// building one of those without it is an error.
    public func make(_ config: MethodConfig, attack: AttackConfig, numClasses: Int,
                     environment: MethodEnvironment? = nil) throws -> any Method {
        guard let entry = method(named: config.name) else {
            throw ConfigError.invalid(field: "method.name", message: "unknown method '\(config.name)'")
        }
        let settings = MethodSettings(name: entry.name, numClasses: numClasses, given: config.parameters, uses: entry.parameters,
                                      attack: attack, defaults: entry.attack, environment: environment)
        var method = try entry.make(settings)
        for modifier in modifiers {
            guard let given = config.modifiers[modifier.key] else { continue }
            method = try modifier.wrap(method, MethodSettings(name: modifier.key, numClasses: numClasses, given: given,
                                                              uses: modifier.parameters, attack: attack, defaults: entry.attack,
                                                              environment: environment))
        }
        return method
    }
}

/// The teachers a method distils from.
public enum TeacherRole: String, CaseIterable, Sendable {
    case natural, robust

    /// How messages call it.
    var adjective: String { self == .natural ? "clean" : "robust" }
}

/// One training method: its config name, what it is, the teachers it needs, its training attack's defaults,
/// the parameters it reads with their defaults, and its constructor.
public struct MethodEntry: Sendable {
    public let name: String
    /// One line for Configs/README: the method and its paper.
    public let summary: String
    public let teachers: Set<TeacherRole>
    /// The training attack's defaults; nil for a method without one.
    public let attack: TrainingAttack.Defaults?
    /// The parameters it reads, with its defaults. A method with a training attack also reads `attack_bn`.
    public let parameters: [MethodParameterUse]
    let make: @Sendable (MethodSettings) throws -> any Method

    public init(_ name: String, _ summary: String, teachers: Set<TeacherRole> = [], attack: TrainingAttack.Defaults? = nil,
                parameters: [MethodParameterUse] = [], make: @escaping @Sendable (MethodSettings) throws -> any Method) {
        self.name = name; self.summary = summary; self.teachers = teachers; self.attack = attack; self.make = make
        self.parameters = parameters + (attack.map { [MethodParameterUse(.attackBN, default: $0.batchNorm)] } ?? [])
    }
}

/// A modifier: an object under its own key in a method object, with its own parameters, that wraps the base
/// method it applies to (`{"name": "adaad", "igdm": {"alpha": 0.5}}` builds AdaAD, then wraps it).
public struct MethodModifier: Sendable {
    public let key: String
    public let summary: String
    public let parameters: [MethodParameterUse]
    public let appliesTo: Applicability
    /// Builds the modified method around the base one; the settings are the modifier's parameters (and the
    /// base's training attack).
    let wrap: @Sendable (_ base: any Method, MethodSettings) throws -> any Method

    public init(_ key: String, _ summary: String, parameters: [MethodParameterUse] = [], appliesTo: Applicability,
                wrap: @escaping @Sendable (_ base: any Method, MethodSettings) throws -> any Method) {
        self.key = key; self.summary = summary; self.parameters = parameters; self.appliesTo = appliesTo; self.wrap = wrap
    }

    /// The base methods a modifier composes with, and how an error describes them.
    public struct Applicability: Sendable {
        /// "methods with a robust teacher": completes "igdm applies to …".
        public let description: String
        let accepts: @Sendable (MethodEntry) -> Bool

        public init(_ description: String, accepts: @escaping @Sendable (MethodEntry) -> Bool) {
            self.description = description; self.accepts = accepts
        }

        /// Methods that distil from the teacher in `role`.
        public static func methods(distillingFrom role: TeacherRole) -> Self {
            Self("methods with a \(role.adjective) teacher") { $0.teachers.contains(role) }
        }
    }
}

extension MethodRegistry {
    /// The methods of DESIGN.md "Methods"; each file in Methods/ has the equations.
    public static let standard = MethodRegistry(methods: [
        MethodEntry("natural", "CE on clean data") { _ in NaturalTraining() },
        MethodEntry("pgd_at", "PGD-AT (Madry et al. 2018): CE on PGD examples", attack: .init(start: .uniform)) {
            PGDAdversarialTraining(attack: $0.attack)
        },
        MethodEntry("trades", "TRADES (Zhang et al. 2019): CE + β·KL(f(x) ‖ f(x′))",
                    attack: .init(start: .gaussian, step: 0.007, stepEps: 0.031), parameters: [.init(.beta, default: 6)]) {
            TRADESTraining(attack: $0.attack, beta: $0[.beta])
        },
        MethodEntry("ard", "ARD (Goldblum et al. 2020): the robust teacher's soft labels on the student's PGD examples",
                    teachers: [.robust], attack: .init(start: .uniform, batchNorm: .train),
                    parameters: [.init(.temperature, default: 30), .init(.alpha, default: 1)]) {
            ARDTraining(attack: $0.attack, temperature: $0[.temperature], alpha: $0[.alpha])
        },
        MethodEntry("iad", "IAD-I (Zhu et al. 2022): ARD, then introspection where the teacher is unreliable",
                    teachers: [.robust], attack: .init(start: .uniform, batchNorm: .train),
                    parameters: [.init(.temperature, default: 30), .init(.alpha, default: 1), .init(.iadStartEpoch, default: 60)]) {
            IADTraining(attack: $0.attack, temperature: $0[.temperature], alpha: $0[.alpha], startEpoch: $0[.iadStartEpoch])
        },
        MethodEntry("rslad", "RSLAD (Zi et al. 2021): the robust teacher's clean soft labels on clean and PGD examples",
                    teachers: [.robust], attack: .init(start: .gaussian), parameters: [.init(.klReduction, default: .mean)]) {
            RSLADTraining(attack: $0.attack, reduction: $0[.klReduction])
        },
        MethodEntry("adaad", "AdaAD (Huang et al. 2023): KL(T(x′) ‖ S(x′)) where teacher and student disagree most",
                    teachers: [.robust], attack: .init(start: .gaussian), parameters: [.init(.klReduction, default: .batchmean)]) {
            AdaADTraining(attack: $0.attack, reduction: $0[.klReduction])
        },
        MethodEntry("mtard", "MTARD (Zhao et al. 2022): both teachers, normalised loss weights",
                    teachers: [.natural, .robust], attack: .init(start: .gaussian), parameters: multiTeacherParameters) {
            MultiTeacherDistillation(name: $0.name, attack: $0.attack, reduction: $0[.klReduction], lossScale: $0[.lossScale],
                                     eta: nil, rate: $0[.weightRate], beta: $0[.beta])
        },
        MethodEntry("bmtard", "B-MTARD: MTARD with entropy-balanced teacher temperatures",
                    teachers: [.natural, .robust], attack: .init(start: .gaussian),
                    parameters: multiTeacherParameters + [.init(.eta, default: EntropyBalance.paperEta)]) {
            MultiTeacherDistillation(name: $0.name, attack: $0.attack, reduction: $0[.klReduction], lossScale: $0[.lossScale],
                                     eta: $0[.eta], rate: $0[.weightRate], beta: $0[.beta])
        },
        MethodEntry("peeraid", "PeerAiD (Jung et al. 2024): no pretrained teacher; a peer trained beside the student on its PGD examples teaches it",
                    attack: .init(start: .gaussian),
                    parameters: [.init(.temperature, default: 5), .init(.peerTemperature, default: 1), .init(.lambda1, default: 0),
                                 .init(.lambda2, default: 1), .init(.lambda3, default: 1), .init(.gamma1, default: 1),
                                 .init(.gamma2, default: 0.1), .init(.swa, default: true),
                                 MethodParameterUse(.swaStart, default: 0.715).onlyWith(.swa, true)]) {
            try PeerAiDTraining($0)
        },
        MethodEntry("dgad", "DGAD (Park et al. 2024): clean or adversarial distillation by whether the teacher is right, its mistakes swapped, plus consistency",
                    teachers: [.robust], attack: .init(start: .gaussian), parameters: [.init(.alpBeta, default: 1)]) {
            DGADTraining(attack: $0.attack, alpBeta: $0[.alpBeta])
        },
        MethodEntry("ciard", "CIARD (Lu et al. 2025): both teachers, a push loss away from the fooled clean teacher, the robust teacher retrained on a cycle",
                    teachers: [.natural, .robust], attack: .init(start: .gaussian),
                    parameters: [.init(.klReduction, default: .mean), .init(.eta, default: EntropyBalance.paperEta),
                                 .init(.pushTemperature, default: 5), .init(.pushWeight, default: 1), .init(.teacherLR, default: 1e-4),
                                 .init(.teacherMomentum, default: 0.1), .init(.teacherWeightDecay, default: 2e-4),
                                 .init(.teacherStartEpoch, default: 50), .init(.teacherEvery, default: 1)]) {
            try CIARDTraining($0)
        },
    ], modifiers: [
        MethodModifier("igdm", "IGDM (Lee et al. 2025): + α·(e/E)·KL(softmax(T(x+δ) − T(x−δ)) ‖ softmax(S(x+δ) − S(x−δ))), δ = x′ − x",
                       parameters: [.init(.igdmAlpha, default: 1)], appliesTo: .methods(distillingFrom: .robust)) { base, settings in
            igdm(base, alpha: settings[.igdmAlpha])
        },
    ])

    private static let multiTeacherParameters: [MethodParameterUse] = [
        .init(.klReduction, default: .mean), .init(.weightRate, default: 0.025), .init(.beta, default: 1),
        .init(.lossScale, default: "10 on ≥ 100 classes (else 1)") { $0 >= 100 ? 10 : 1 },
    ]

    /// A method with its defaults and the given training attack, for benchmarks (no config file).
    public static func bench(name: String, eps: Float, stepSize: Float, steps: Int) throws -> any Method {
        var attack = AttackConfig()
        attack.eps = eps; attack.stepSize = stepSize; attack.steps = steps
        return try standard.make(MethodConfig(name: name), attack: attack, numClasses: 10)
    }
}
