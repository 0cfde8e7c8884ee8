import Attacks
import Engine
import Foundation

/// A study, as written in `Configs/study-*.json`: a base run config and a grid of values to run it with.
/// Every point of the grid (one value per axis) is an ordinary run; the points that differ only in their
/// seed form a cell, whose numbers the study reports as mean ± sd. Unknown keys are errors, as in run configs.
///
/// ```json
/// {"base": "demo/bmtard.json",
///  "grid": {"seeds": [1, 2, 3], "epochs": [2, 5],
///           "methods": [{"name": "pgd_at"}, {"name": "bmtard", "kl_reduction": "batchmean", "label": "bmtard-batchmean"}]},
///  "evaluation": {"attacks": "fgsm,pgd20", "limit": 1000},
///  "output": "runs/study-fmnist"}
/// ```
public struct StudyConfig: Sendable, Equatable {
    /// The base run config: every point is this config with the grid's values put in.
    public var base: RunConfig
    /// Where `base` was read from (resolved against the study file's directory); nil when inline.
    public var baseFile: String?
    public var grid: StudyGrid
    public var evaluation: StudyEvaluation
    /// The study directory: study.json and `runs/<point>/`.
    public var output: String

    enum CodingKeys: String, CodingKey, CaseIterable { case base, grid, evaluation, output }

    /// Reads and validates a study file. `base` as a path is relative to the study file's directory; paths
    /// inside run configs (data, teachers) and `output` are relative to the working directory, as for `train`.
    public static func load(path: String) throws -> StudyConfig {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw ConfigError.unreadable(file: path, reason: "no such file or not readable")
        }
        let raw: RawStudy
        do { raw = try JSONDecoder().decode(RawStudy.self, from: bytes) }
        catch let e as ConfigError { throw e }
        catch let e as UnknownKeyError { throw ConfigError(e) }
        catch let e as DecodingError { throw ConfigError.unreadable(file: path, reason: describe(e, in: bytes)) }
        catch { throw ConfigError.unreadable(file: path, reason: "\(error)") }

        let base: RunConfig, baseFile: String?
        switch raw.base {
        case .inline(let config):
            do { try config.validate() } catch let ConfigError.invalid(field, message) {
                throw ConfigError.invalid(field: "base.\(field)", message: message)
            }
            (base, baseFile) = (config, nil)
        case .file(let relative):
            let file = relative.hasPrefix("/") ? relative
                : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(relative)
            do { (base, baseFile) = (try RunConfig.load(path: file), file) }
            catch { throw ConfigError.invalid(field: "base", message: "\(file): \(error)") }
        }
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let config = StudyConfig(base: base, baseFile: baseFile, grid: raw.grid, evaluation: raw.evaluation ?? StudyEvaluation(),
                                 output: raw.output ?? "runs/\(name)")
        try config.validate()
        return config
    }

    /// Checks the grid and builds every point's run config, so that any problem shows before the first
    /// point trains. Errors name the field: "grid.methods[1].kl_reduction", "grid.teachers[0].natural.checkpoint".
    public func validate() throws {
        func fail(_ field: String, _ message: String) -> ConfigError { .invalid(field: field, message: message) }
        func distinct<T: Hashable>(_ values: [T]?, _ field: String) throws {
            guard let values else { return }
            guard !values.isEmpty else { throw fail(field, "is empty; list at least one value, or leave the axis out to use the base config's") }
            if let i = values.indices.first(where: { values[..<$0].contains(values[$0]) }) {
                throw fail("\(field)[\(i)]", "\(values[i]) is listed twice")
            }
        }
        try distinct(grid.seeds, "grid.seeds")
        try distinct(grid.epochs, "grid.epochs")
        try distinct(grid.trainLimit, "grid.train_limit")
        try distinct(grid.eps, "grid.eps")
        for (axis, count) in [("grid.methods", grid.methods?.count), ("grid.teachers", grid.teachers?.count)] where count == 0 {
            throw fail(axis, "is empty; list at least one entry, or leave the axis out to use the base config's")
        }
        for (i, e) in (grid.epochs ?? []).enumerated() where e < 1 { throw fail("grid.epochs[\(i)]", "must be ≥ 1, got \(e)") }
        for (i, n) in (grid.trainLimit ?? []).enumerated() where n < 1 { throw fail("grid.train_limit[\(i)]", "must be ≥ 1, got \(n)") }
        for (i, e) in (grid.eps ?? []).enumerated() where !(e >= 0 && e.isFinite) { throw fail("grid.eps[\(i)]", "must be ≥ 0, got \(e)") }
        for (i, m) in (grid.methods ?? []).enumerated() {
            guard StudyGrid.isFileNameSafe(m.label) else {
                throw fail("grid.methods[\(i)].label", "'\(m.label)' must be letters, digits, '.', '_' or '-' (it names run directories)")
            }
            if let j = grid.methods![..<i].firstIndex(where: { $0.label == m.label }) {
                throw fail("grid.methods[\(i)].label", "entries \(j) and \(i) are both labelled '\(m.label)'; give each a distinct \"label\"")
            }
        }
        for (i, t) in (grid.teachers ?? []).enumerated() {
            guard StudyGrid.isFileNameSafe(t.label) else {
                throw fail("grid.teachers[\(i)].label", "'\(t.label)' must be letters, digits, '.', '_' or '-' (it names run directories)")
            }
            if let j = grid.teachers![..<i].firstIndex(where: { $0.label == t.label }) {
                throw fail("grid.teachers[\(i)].label", "entries \(j) and \(i) are both labelled '\(t.label)'")
            }
        }
        try evaluation.validate(runEps: grid.eps ?? [base.attack.eps ?? 8 / 255])
        // Teacher files the points use must exist now, not hours into the study.
        for usage in teacherFiles() where !FileManager.default.fileExists(atPath: usage.path) {
            throw fail(usage.field, "no such file: \(usage.path)")
        }
        _ = try points()
    }

    /// Every teacher checkpoint some point uses, with the field that names it.
    func teacherFiles() -> [(field: String, path: String)] {
        let roles = (grid.methods?.map(\.method) ?? [base.method]).compactMap { MethodRegistry.standard.method(named: $0.name)?.teachers }
        let natural = roles.contains { $0.contains(.natural) }, robust = roles.contains { $0.contains(.robust) }
        var out: [(String, String)] = []
        if let pairs = grid.teachers {
            for (i, t) in pairs.enumerated() {
                if natural, let n = t.natural { out.append(("grid.teachers[\(i)].natural.checkpoint", n.checkpoint)) }
                if robust, let r = t.robust { out.append(("grid.teachers[\(i)].robust.checkpoint", r.checkpoint)) }
            }
        } else {
            if natural, let n = base.teachers?.natural { out.append(("base.teachers.natural.checkpoint", n.checkpoint)) }
            if robust, let r = base.teachers?.robust { out.append(("base.teachers.robust.checkpoint", r.checkpoint)) }
        }
        return out
    }
}

/// The axes of a study. An absent axis takes the base config's value and does not appear in run names.
public struct StudyGrid: Codable, Sendable, Equatable {
    public var seeds: [UInt64]?
    /// Methods with their parameters; `label` tells two entries of the same method apart.
    public var methods: [StudyMethod]?
    /// Student budgets (epochs).
    public var epochs: [Int]?
    /// Training-set sizes: `data.train.limit`, applied before the validation split is held out.
    public var trainLimit: [Int]?
    /// Training ε (`attack.eps`), as written (`0.1` or `"8/255"`); an explicit `attack.step_size` of the base scales with it.
    public var epsilons: [Epsilon]?
    /// Their values.
    public var eps: [Float]? { epsilons?.map(\.value) }
    /// Alternative teacher pairs, labelled. Methods without teachers run once, whatever this lists.
    public var teachers: [StudyTeachers]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case seeds, methods, epochs, trainLimit = "train_limit", epsilons = "eps", teachers
    }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, elsewhere: StudyKeys.elsewhere)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seeds = try c.decodeIfPresent([UInt64].self, forKey: .seeds)
        methods = try c.decodeIfPresent([StudyMethod].self, forKey: .methods)
        epochs = try c.decodeIfPresent([Int].self, forKey: .epochs)
        trainLimit = try c.decodeIfPresent([Int].self, forKey: .trainLimit)
        epsilons = try c.decodeIfPresent([Epsilon].self, forKey: .epsilons)
        teachers = try c.decodeIfPresent([StudyTeachers].self, forKey: .teachers)
    }

    static func isFileNameSafe(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) } && !s.hasPrefix(".")
    }
}

/// A method of the grid: a run config's `method` object plus an optional `label` (default: the method's
/// name), which names its runs and cells.
public struct StudyMethod: Codable, Sendable, Equatable {
    public var method: MethodConfig
    public var label: String

    enum LabelKey: String, CodingKey { case label }

    public init(from decoder: Decoder) throws {
        method = try MethodConfig(from: decoder, alsoAllowing: [LabelKey.label.rawValue])
        label = try decoder.container(keyedBy: LabelKey.self).decodeIfPresent(String.self, forKey: .label) ?? method.name
    }

    public func encode(to encoder: Encoder) throws {
        try method.encode(to: encoder)
        var c = encoder.container(keyedBy: LabelKey.self)
        try c.encode(label, forKey: .label)
    }
}

/// A labelled pair of teachers; a method gets the ones it uses.
public struct StudyTeachers: Codable, Sendable, Equatable {
    public var label: String
    public var natural: TeacherConfig?
    public var robust: TeacherConfig?

    enum CodingKeys: String, CodingKey, CaseIterable { case label, natural, robust }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, elsewhere: StudyKeys.elsewhere)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        label = try c.decode(String.self, forKey: .label)
        natural = try c.decodeIfPresent(TeacherConfig.self, forKey: .natural)
        robust = try c.decodeIfPresent(TeacherConfig.self, forKey: .robust)
    }

    var pair: TeachersConfig { TeachersConfig(natural: natural, robust: robust) }
}

/// How every point is evaluated after training, on the test split of its config: clean accuracy on every
/// test image, the attacks on the first `limit`.
public struct StudyEvaluation: Codable, Sendable, Equatable {
    /// Attack names and suites, as for `advdistill eval --attacks`.
    public var attacks: String = Self.defaultAttacks
    /// Images attacked (the first of the test split); nil = all.
    public var limit: Int? = 1000
    /// ε of the attacks, as written (`0.1` or `"8/255"`); nil = each point's training ε.
    public var epsilon: Epsilon?
    /// Its value.
    public var eps: Float? { epsilon?.value }
    public var batchSize: Int = 200

    enum CodingKeys: String, CodingKey, CaseIterable { case attacks, limit, epsilon = "eps", batchSize = "batch_size" }

    /// FGSM and W-Robust's PGD-20: the quick columns of the paper's table.
    public static let defaultAttacks = "fgsm," + AttackRegistry.wRobustAttack

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, elsewhere: StudyKeys.elsewhere)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        attacks = try c.decodeIfPresent(String.self, forKey: .attacks) ?? Self.defaultAttacks
        limit = try c.decodeIfPresent(Int.self, forKey: .limit) ?? 1000
        epsilon = try c.decodeIfPresent(Epsilon.self, forKey: .epsilon)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? 200
    }

    func validate(runEps: [Float]) throws {
        if let limit, limit < 1 { throw ConfigError.invalid(field: "evaluation.limit", message: "must be ≥ 1, got \(limit)") }
        if let eps, !(eps >= 0 && eps.isFinite) { throw ConfigError.invalid(field: "evaluation.eps", message: "must be ≥ 0, got \(eps)") }
        guard batchSize >= 1 else { throw ConfigError.invalid(field: "evaluation.batch_size", message: "must be ≥ 1, got \(batchSize)") }
        do { _ = try AttackRegistry.parse(attacks, eps: eps ?? runEps[0]) }
        catch { throw ConfigError.invalid(field: "evaluation.attacks", message: "\(error)") }
    }
}

/// The study file as written, before the base config is read.
private struct RawStudy: Decodable {
    enum Base { case file(String), inline(RunConfig) }
    var base: Base
    var grid: StudyGrid
    var evaluation: StudyEvaluation?
    var output: String?

    init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(StudyConfig.CodingKeys.self, elsewhere: StudyKeys.elsewhere)
        let c = try decoder.container(keyedBy: StudyConfig.CodingKeys.self)
        if let path = try? c.decode(String.self, forKey: .base) { base = .file(path) }
        else { base = .inline(try c.decode(RunConfig.self, forKey: .base)) }
        grid = try c.decode(StudyGrid.self, forKey: .grid)
        evaluation = try c.decodeIfPresent(StudyEvaluation.self, forKey: .evaluation)
        output = try c.decodeIfPresent(String.self, forKey: .output)
    }
}

/// A study's keys by full path, for "did you mean" across objects ("seed" → "grid.seeds").
enum StudyKeys {
    static let paths: [(name: String, path: String)] = {
        var all = StudyConfig.CodingKeys.allCases.map { ($0.stringValue, $0.stringValue) }
        all += StudyGrid.CodingKeys.allCases.map { ($0.stringValue, "grid." + $0.stringValue) }
        all += StudyEvaluation.CodingKeys.allCases.map { ($0.stringValue, "evaluation." + $0.stringValue) }
        return all + [("seed", "grid.seeds"), ("method", "grid.methods"), ("budgets", "grid.epochs"),
                      ("attack", "evaluation.attacks"), ("eval", "evaluation"), ("teacher", "grid.teachers")]
    }()

    static func elsewhere(_ word: String) -> String? {
        guard let name = nearest(word, in: paths.map(\.name)) else { return nil }
        return paths.first { $0.name == name }?.path
    }
}
