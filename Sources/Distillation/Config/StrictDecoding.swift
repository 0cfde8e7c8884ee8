import Foundation

/// Configs reject unknown keys: a typo ("learning_rat") must not silently fall back to a default.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Throws `ConfigError.unknownKey` naming the first key of this object that `K` does not list,
    /// with the nearest valid key as a suggestion.
    func rejectUnknownKeys<K: CodingKey & CaseIterable>(_: K.Type) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        let allowed = K.allCases.map(\.stringValue)
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            let path = (codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            throw ConfigError.unknownKey(path: path, suggestion: nearest(key.stringValue, in: allowed), allowed: allowed)
        }
    }
}

/// The candidate with the smallest edit distance, if it is close enough to be a plausible typo.
func nearest(_ word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var prev = row[0]; row[0] = i + 1
            for (j, cb) in b.enumerated() {
                let cur = row[j + 1]
                row[j + 1] = min(row[j + 1] + 1, row[j] + 1, prev + (ca == cb ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
    let w = Array(word.lowercased())
    let scored = candidates.map { ($0, distance(w, Array($0.lowercased()))) }.min { $0.1 < $1.1 }
    guard let (best, d) = scored, d <= max(2, w.count / 3) else { return nil }
    return best
}

public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unknownKey(path: String, suggestion: String?, allowed: [String])
    case invalid(field: String, message: String)
    case unreadable(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownKey(path, suggestion, allowed):
            let hint = suggestion.map { " — did you mean '\($0)'?" } ?? " (valid here: \(allowed.joined(separator: ", ")))"
            return "unknown config key '\(path)'\(hint)"
        case let .invalid(field, message): return "config field '\(field)': \(message)"
        case let .unreadable(file, reason): return "cannot read config \(file): \(reason)"
        }
    }
}
