import Engine
/// A config value spelt as one of a few words (`"nan_policy": "stop" | "skip"`), decoded once into an enum:
/// the words live in the enum's cases, and code switches over the cases instead of comparing strings.
/// An unknown word is refused where it is read, naming the field, the words it accepts and the nearest one.
public protocol ConfigChoice: RawRepresentable<String>, CaseIterable, Codable, Sendable {}

extension ConfigChoice {
    /// The accepted words as a sentence: `"uniform", "gaussian" or "none"`.
    static var spellings: String {
        let quoted = allCases.map { "\"\($0.rawValue)\"" }
        return quoted.count < 2 ? quoted.joined() : quoted.dropLast().joined(separator: ", ") + " or " + quoted.last!
    }

    public init(from decoder: Decoder) throws {
        let word = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: word) else {
            let hint = nearest(word, in: Self.allCases.map(\.rawValue)).map { " — did you mean \"\($0)\"?" } ?? ""
            throw ConfigError.invalid(field: keyPath(decoder.codingPath), message: "must be \(Self.spellings), got \"\(word)\"\(hint)")
        }
        self = value
    }
}
