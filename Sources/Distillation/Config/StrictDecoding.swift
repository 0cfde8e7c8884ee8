import Engine
import Foundation

/// Configs reject unknown keys (Engine's strict decoding): a typo ("learning_rat") must not silently fall back
/// to a default.
extension Decoder {
    /// Throws `ConfigError.unknownKey` naming the first key of this object that `K` does not list, with a
    /// suggestion: the nearest valid key of this object, else the nearest key anywhere in the config or a
    /// name other tools use for one ("learning_rate" → "optimizer.lr").
    /// `extra`: keys allowed besides `K`'s (a study's method entry is a method config plus a `label`);
    /// `elsewhere`: where else in the file a key of that name lives (the run config's keys by default).
    func rejectUnknownKeys<K: CodingKey & CaseIterable>(_: K.Type, also extra: [String] = [],
                                                        elsewhere: (String) -> String? = ConfigKeys.elsewhere) throws {
        try rejectUnknownKeys(allowing: K.allCases.map(\.stringValue) + extra, elsewhere: elsewhere)
    }

    /// The same for an object whose keys are listed at run time (a method object's come from the registry).
    func rejectUnknownKeys(allowing allowed: [String], elsewhere: (String) -> String? = ConfigKeys.elsewhere) throws {
        do { try rejectUnknownKeys(allowed: allowed, elsewhere: elsewhere) }
        catch let e as UnknownKeyError { throw ConfigError(e) }
    }
}

/// Every config key by its full path, and the names other tools give some of them.
enum ConfigKeys {
    static let paths: [(name: String, path: String)] = {
        func keys<K: CodingKey & CaseIterable>(_: K.Type, under prefix: String) -> [(String, String)] {
            K.allCases.map { ($0.stringValue, prefix + $0.stringValue) }
        }
        var all = keys(RunConfig.CodingKeys.self, under: "")
        all += keys(DataConfig.CodingKeys.self, under: "data.")
        all += keys(ModelConfig.CodingKeys.self, under: "model.")
        all += keys(TeachersConfig.CodingKeys.self, under: "teachers.")
        all += MethodRegistry.standard.methodObjectKeys.map { ($0, "method." + $0) }
        all += keys(AttackConfig.CodingKeys.self, under: "attack.")
        all += keys(OptimizerConfig.CodingKeys.self, under: "optimizer.")
        all += keys(ScheduleConfig.CodingKeys.self, under: "schedule.")
        all += keys(EvalConfig.CodingKeys.self, under: "eval.")
        // A name that is also a top-level key ("name", "batch_size") suggests the top-level one.
        let topLevel = Set(all.filter { !$0.1.contains(".") }.map(\.0))
        all.removeAll { name, path in path.contains(".") && topLevel.contains(name) }
        return all + [
            ("learning_rate", "optimizer.lr"), ("wd", "optimizer.weight_decay"), ("epsilon", "attack.eps"),
            ("num_epochs", "epochs"), ("n_epochs", "epochs"), ("architecture", "model.arch"), ("dataset", "data"),
            ("scheduler", "schedule"), ("lr_schedule", "schedule"), ("teacher", "teachers"), ("num_steps", "attack.steps"),
            ("lr_milestones", "schedule.milestones"), ("augment", "data.augmentation"),
        ]
    }()

    /// The path of the key nearest to `word` anywhere in the config, if one is close enough.
    static func elsewhere(_ word: String) -> String? {
        guard let name = nearest(word, in: paths.map(\.name)) else { return nil }
        return paths.first { $0.name == name }?.path
    }
}

public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unknownKey(path: String, suggestion: String?, allowed: [String])
    case invalid(field: String, message: String)
    case unreadable(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownKey(path, suggestion, allowed):
            return "unknown config key '\(path)'" + UnknownKeyError(path: path, suggestion: suggestion, allowed: allowed).hint
        case let .invalid(field, message): return "config field '\(field)': \(message)"
        case let .unreadable(file, reason): return "cannot read config \(file): \(reason)"
        }
    }
}

extension ConfigError {
    /// A key a config's part refused (a data spec's, an augmentation's), as the config's own error.
    init(_ e: UnknownKeyError) { self = .unknownKey(path: e.path, suggestion: e.suggestion, allowed: e.allowed) }
}
