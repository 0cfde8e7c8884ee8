import Foundation

/// Why a run could not be read or the report not written. Every case names the file.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    /// A run file that is required and absent (`what` says what the file is for and how to make it).
    case missingFile(path: String, what: String)
    /// A run file that exists but cannot be used; `line` is 1-based for metrics.jsonl.
    case malformed(path: String, line: Int?, reason: String)
    case notADirectory(path: String)
    /// Every run given was unreadable; `failures` holds each one's message.
    case noUsableRuns(failures: [String])
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missingFile(path, what): "\(path): no such file (\(what))"
        case let .malformed(path, line?, reason): "\(path), line \(line): \(reason)"
        case let .malformed(path, nil, reason): "\(path): \(reason)"
        case let .notADirectory(path): "\(path): not a run directory (expected a directory holding config.json, metrics.jsonl and eval.json)"
        case let .noUsableRuns(failures):
            "no run could be read:\n" + failures.map { "  " + $0 }.joined(separator: "\n")
        case let .cannotWrite(path, reason): "cannot write \(path): \(reason)"
        }
    }
}

/// A human-readable account of a decoding error: the path of the offending key and what was wrong.
func explain(_ error: Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ keys: [CodingKey]) -> String {
        let p = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return p.isEmpty ? "the top level" : "'\(p.replacingOccurrences(of: ".[", with: "["))'"
    }
    switch e {
    case let .keyNotFound(key, ctx): return "missing key \(path(ctx.codingPath + [key]))"
    case let .typeMismatch(type, ctx): return "\(path(ctx.codingPath)) should be \(type)"
    case let .valueNotFound(type, ctx): return "\(path(ctx.codingPath)) is null, expected \(type)"
    case let .dataCorrupted(ctx):
        if ctx.codingPath.isEmpty { return "not valid JSON" }
        return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
    @unknown default: return "\(e)"
    }
}
