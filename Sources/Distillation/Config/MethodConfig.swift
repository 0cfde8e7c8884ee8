import Engine

/// The method and its parameters. Absent parameters take the method's defaults (DESIGN.md "Methods");
/// a parameter the method does not use is an error, so a misplaced `beta` cannot silently do nothing.
public struct MethodConfig: Codable, Sendable, Equatable {
    public var name: String
    /// TRADES: weight of the robust KL (6). MTARD/B-MTARD: exponent β of the loss balance (1).
    public var beta: Float?
    /// ARD/IAD distillation temperature T (30).
    public var temperature: Float?
    /// ARD/IAD weight α of the distillation term (1).
    public var alpha: Float?
    /// "mean": KL averaged over B·K (the paper's KLc, default); "batchmean": summed over classes and
    /// averaged over the batch (K times larger).
    public var klReduction: String?
    /// B-MTARD temperature step η (0.001).
    public var eta: Float?
    /// MTARD/B-MTARD weight update rate r_w (0.025).
    public var weightRate: Float?
    /// Multiplier of the distillation loss (default 10 on data with ≥ 100 classes, else 1).
    public var lossScale: Float?
    /// IAD: epoch from which the introspection term is added (60).
    public var iadStartEpoch: Int?
    /// BatchNorm mode of the student during the training attack: "eval" or "train" (method default).
    public var attackBN: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, beta, temperature, alpha, klReduction = "kl_reduction", eta, weightRate = "weight_rate"
        case lossScale = "loss_scale", iadStartEpoch = "iad_start_epoch", attackBN = "attack_bn"
    }

    public init(name: String) { self.name = name }

    public init(from decoder: Decoder) throws { try self.init(from: decoder, alsoAllowing: []) }

    /// Decodes a method object that may also hold the keys `extra` (which the caller reads).
    init(from decoder: Decoder, alsoAllowing extra: [String]) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, also: extra)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        beta = try c.decodeIfPresent(Float.self, forKey: .beta)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature)
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha)
        klReduction = try c.decodeIfPresent(String.self, forKey: .klReduction)
        eta = try c.decodeIfPresent(Float.self, forKey: .eta)
        weightRate = try c.decodeIfPresent(Float.self, forKey: .weightRate)
        lossScale = try c.decodeIfPresent(Float.self, forKey: .lossScale)
        iadStartEpoch = try c.decodeIfPresent(Int.self, forKey: .iadStartEpoch)
        attackBN = try c.decodeIfPresent(String.self, forKey: .attackBN)
    }

    /// Parameters each method reads, and the teachers it needs.
    static let methods: [String: (parameters: Set<CodingKeys>, natural: Bool, robust: Bool)] = [
        "natural": ([], false, false),
        "pgd_at": ([.attackBN], false, false),
        "trades": ([.beta, .attackBN], false, false),
        "ard": ([.temperature, .alpha, .attackBN], false, true),
        "rslad": ([.klReduction, .attackBN], false, true),
        "iad": ([.temperature, .alpha, .iadStartEpoch, .attackBN], false, true),
        "adaad": ([.klReduction, .attackBN], false, true),
        "mtard": ([.klReduction, .weightRate, .beta, .lossScale, .attackBN], true, true),
        "bmtard": ([.klReduction, .eta, .weightRate, .beta, .lossScale, .attackBN], true, true),
    ]

    func validate(hasTeachers teachers: TeachersConfig?) throws {
        guard let spec = Self.methods[name] else {
            let known = Self.methods.keys.sorted()
            let hint = nearest(name, in: known).map { " — did you mean '\($0)'?" } ?? ""
            throw ConfigError.invalid(field: "method.name", message: "unknown method '\(name)'\(hint) (known: \(known.joined(separator: ", ")))")
        }
        let given: [(CodingKeys, Bool)] = [(.beta, beta != nil), (.temperature, temperature != nil), (.alpha, alpha != nil),
                                           (.klReduction, klReduction != nil), (.eta, eta != nil), (.weightRate, weightRate != nil),
                                           (.lossScale, lossScale != nil), (.iadStartEpoch, iadStartEpoch != nil),
                                           (.attackBN, attackBN != nil)]
        for (key, present) in given where present && !spec.parameters.contains(key) {
            throw ConfigError.invalid(field: "method.\(key.rawValue)", message: "method '\(name)' does not use this parameter")
        }
        func positive(_ v: Float?, _ key: CodingKeys) throws {
            if let v, !(v > 0 && v.isFinite) { throw ConfigError.invalid(field: "method.\(key.rawValue)", message: "must be > 0, got \(v)") }
        }
        try positive(beta, .beta); try positive(temperature, .temperature); try positive(eta, .eta); try positive(lossScale, .lossScale)
        if let alpha, !(0...1).contains(alpha) { throw ConfigError.invalid(field: "method.alpha", message: "must be in [0, 1], got \(alpha)") }
        if let weightRate, !(weightRate > 0 && weightRate <= 1) {
            throw ConfigError.invalid(field: "method.weight_rate", message: "must be in (0, 1], got \(weightRate)")
        }
        if let klReduction, !["mean", "batchmean"].contains(klReduction) {
            throw ConfigError.invalid(field: "method.kl_reduction", message: "must be \"mean\" or \"batchmean\", got \"\(klReduction)\"")
        }
        if let attackBN, !["eval", "train"].contains(attackBN) {
            throw ConfigError.invalid(field: "method.attack_bn", message: "must be \"eval\" or \"train\", got \"\(attackBN)\"")
        }
        if let iadStartEpoch, iadStartEpoch < 0 { throw ConfigError.invalid(field: "method.iad_start_epoch", message: "must be ≥ 0") }
        if spec.natural && teachers?.natural == nil {
            throw ConfigError.invalid(field: "teachers.natural", message: "method '\(name)' needs a clean teacher checkpoint")
        }
        if spec.robust && teachers?.robust == nil {
            throw ConfigError.invalid(field: "teachers.robust", message: "method '\(name)' needs a robust teacher checkpoint")
        }
        if !spec.natural, teachers?.natural != nil {
            throw ConfigError.invalid(field: "teachers.natural", message: "method '\(name)' does not use a clean teacher; remove it")
        }
        if !spec.robust, teachers?.robust != nil {
            throw ConfigError.invalid(field: "teachers.robust", message: "method '\(name)' does not use a robust teacher; remove it")
        }
    }
}
