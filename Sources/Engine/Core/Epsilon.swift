import Foundation

/// An ε as the user wrote it, with its value: a decimal (`0.1`, `"0.031"`, `"2e-3"`) or a fraction (`"8/255"`), so
/// that files say `"8/255"` as papers do rather than `0.0313725509`. Configs accept a JSON number or such a
/// string; a fraction is written back as its string, a decimal as its number.
///
/// Two ε are equal when their values are: `"0.10"` and `0.1` train and attack the same way.
public struct Epsilon: Codable, Sendable, Equatable, CustomStringConvertible {
    public let value: Float
    /// As given (trimmed); for a value made in code, its shortest decimal.
    public let text: String

    /// What an ε string must look like, for error messages.
    public static let expected = "a number ≥ 0 such as 0.1, or a fraction such as \"8/255\""

    public init(_ value: Float) {
        self.value = value
        let shortest = "\(value)"   // Float's shortest decimal: 0.1, 0.03137255
        text = shortest.hasSuffix(".0") ? String(shortest.dropLast(2)) : shortest
    }

    /// `a/b` with decimal `a` and `b` (b ≠ 0) or a decimal; nil for anything else (the value may still be
    /// negative: ranges are the caller's to check, naming its field).
    public init?(parsing raw: String) {
        let s = raw.trimmingCharacters(in: .whitespaces)
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        func decimal(_ t: String) -> Double? {
            // Double("inf"), Double("nan") and hexadecimal floats parse too; an ε is written in decimal digits.
            guard !t.isEmpty, t.allSatisfy({ "0123456789.eE+-".contains($0) }), let v = Double(t), v.isFinite else { return nil }
            return v
        }
        let value: Double
        switch parts.count {
        case 1:
            guard let v = decimal(parts[0]) else { return nil }
            value = v
        case 2:
            guard let a = decimal(parts[0]), let b = decimal(parts[1]), b != 0 else { return nil }
            value = a / b
        default: return nil
        }
        guard Float(value).isFinite else { return nil }
        self.value = Float(value)
        text = s
    }

    public var description: String { text }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let number = try? c.decode(Double.self) {
            guard let e = Epsilon(exactly: number) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected \(Self.expected), found \(number)"))
            }
            self = e
            return
        }
        guard let s = try? c.decode(String.self) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected \(Self.expected)"))
        }
        guard let e = Epsilon(parsing: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected \(Self.expected), found \"\(s)\""))
        }
        self = e
    }

    /// A JSON number: its value, and its shortest decimal as the text (0.1, not 0.10000000149011612).
    private init?(exactly number: Double) {
        guard number.isFinite, Float(number).isFinite else { return nil }
        value = Float(number)
        text = number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
    }

    /// A fraction as its string; a decimal as a JSON number (from its text, so 0.1 stays 0.1).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if text.contains("/") { try c.encode(text) } else { try c.encode(Double(text) ?? Double(value)) }
    }

    public static func == (a: Epsilon, b: Epsilon) -> Bool { a.value == b.value }
}
