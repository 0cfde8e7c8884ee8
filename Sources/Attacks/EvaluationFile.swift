import Foundation
import NN

/// Reading and writing `eval.json` (snake_case keys, atomic write).
public enum EvaluationFile {
    public static func write(_ r: EvaluationResult, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(r)
        do throws(AtomicFileError) { try AtomicFile.write(data, to: path) }
        catch { throw AttackError.invalidOption(error.description) }
    }

    public static func read(_ path: String) throws -> EvaluationResult {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AttackError.invalidOption("\(path): no such file or not readable")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { return try decoder.decode(EvaluationResult.self, from: data) }
        catch { throw AttackError.invalidOption("\(path) is not a valid eval.json: \(error)") }
    }
}

/// The text table `eval` prints.
public enum EvaluationTable {
    public static func render(_ r: EvaluationResult) -> String {
        var lines: [String] = []
        lines.append("model: \(r.model.arch), \(r.model.numClasses) classes, \(r.model.inChannels)×\(r.model.inputSize)×\(r.model.inputSize) — \(r.checkpoint)")
        if let m = r.measured { lines.append("checkpoint: \(m.description)") }
        let subset = r.attackCount.map { $0 < r.count ? ", attacks on the first \($0)" : "" } ?? ""
        lines.append(String(format: "data: %@ (%d images%@); L∞ ε = %.4g", r.data, r.count, subset, r.eps))
        lines.append("")
        // String(format:) does not pad %@ arguments, so columns are padded by hand.
        func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - s.count))
            return right ? fill + s : s + fill
        }
        lines.append("  " + pad("attack", 28) + pad("accuracy", 10, right: true) + pad("seconds", 10, right: true)
                     + pad("images/s", 10, right: true))
        func row(_ name: String, _ acc: Double, _ s: Double?, _ rate: Double?) -> String {
            "  " + pad(name, 28) + pad(String(format: "%.2f%%", 100 * acc), 10, right: true)
                + pad(s.map { String(format: "%.1f", $0) } ?? "", 10, right: true)
                + pad(rate.map { String(format: "%.0f", $0) } ?? "", 10, right: true)
        }
        lines.append(row("clean", r.clean.accuracy, nil, nil))
        for a in r.attacks {
            lines.append(row(a.name + (a.mode == "cumulative" ? " (cumulative)" : ""), a.accuracy, a.seconds,
                             a.imagesPerSecond > 0 ? a.imagesPerSecond : nil))
        }
        lines.append(row("worst case", r.worstCase.accuracy, nil, nil))
        lines.append(row("W-Robust", r.wRobust, nil, nil) + "  " + r.wRobustBasis)
        if !r.epsSweep.isEmpty {
            lines.append("")
            lines.append("  ε sweep (\(r.sweepAttack ?? "PGD-20")): " + r.epsSweep.map { String(format: "%.4g→%.1f%%", $0.eps, 100 * $0.accuracy) }.joined(separator: "  "))
        }
        for w in r.warnings { lines.append("warning: " + w) }
        return lines.joined(separator: "\n")
    }
}
