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

extension EvaluationFile {
    /// Where `advdistill eval` writes an evaluation of `checkpoint` without `--json`: beside it, `eval.json` for
    /// a run's best.safetensors (the evaluation `advdistill report` shows first) and `eval-<stem>.json` for any
    /// other checkpoint (checkpoint.safetensors → eval-checkpoint.json), so that a run's best and last
    /// checkpoints never share an evaluation file.
    public static func defaultPath(forCheckpoint checkpoint: String) -> String {
        let name = (checkpoint as NSString).lastPathComponent
        let stem = (name as NSString).deletingPathExtension
        let directory = (checkpoint as NSString).deletingLastPathComponent
        return (directory as NSString).appendingPathComponent(name == "best.safetensors" ? "eval.json" : "eval-\(stem).json")
    }

    /// Which bytes an evaluation measures: the checkpoint file's SHA-256 and size (nil when unreadable).
    /// Read right after the model was loaded from it.
    public static func identify(checkpoint path: String) -> (sha256: String?, bytes: Int?) {
        (SHA256.hex(ofFile: path), (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int)
    }

    /// Throws `AttackError.evaluationExists` when `path` exists: an evaluation is a result, and a new one
    /// replaces it only when the user says so (`--overwrite`). The error describes what the file holds.
    public static func checkVacant(_ path: String, for requested: EvaluationSettings) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        throw AttackError.evaluationExists(path: path, existing: (try? read(path)).map(EvaluationSettings.init), requested: requested)
    }
}

/// What an evaluation measured: which checkpoint, under which threat model (ε and the images attacked: what
/// makes two evaluations comparable in one report), and with which attacks.
public struct EvaluationSettings: Sendable, Equatable, CustomStringConvertible {
    public var checkpoint: String
    public var checkpointSha256: String?
    public var eps: Double
    /// Registry keys, in the order the attacks ran ("fgsm", "pgd20", …).
    public var attacks: [String]
    /// Images the attacks ran on, of `count` (clean accuracy uses all `count`).
    public var attackCount: Int
    public var count: Int
    /// When the evaluation was made (ISO 8601); nil for one not yet made.
    public var created: String?

    public init(checkpoint: String, checkpointSha256: String?, eps: Double, attacks: [String], attackCount: Int, count: Int,
                created: String? = nil) {
        self.checkpoint = checkpoint; self.checkpointSha256 = checkpointSha256; self.eps = eps
        self.attacks = attacks; self.attackCount = attackCount; self.count = count; self.created = created
    }

    public init(_ r: EvaluationResult) {
        self.init(checkpoint: r.checkpoint, checkpointSha256: r.checkpointSha256, eps: r.eps, attacks: r.attacks.map(\.key),
                  attackCount: r.attackCount ?? r.count, count: r.count, created: r.created)
    }

    /// Same ε, on the same images: the numbers measure the same thing (the attacks may differ, as columns do).
    public func sameThreatModel(as other: EvaluationSettings) -> Bool {
        abs(eps - other.eps) < 1e-9 && attackCount == other.attackCount && count == other.count
    }

    /// The same bytes when both digests are known, else the same path.
    public func sameCheckpoint(as other: EvaluationSettings) -> Bool {
        if let a = checkpointSha256, let b = other.checkpointSha256 { return a == b }
        return checkpoint == other.checkpoint
    }

    /// The same checkpoint, threat model and attacks: running it again would measure the same thing.
    public func sameEvaluation(as other: EvaluationSettings) -> Bool {
        sameCheckpoint(as: other) && sameThreatModel(as: other) && attacks == other.attacks
    }

    /// "L∞ ε = 0.1, attacks on the first 1000 of 10000 images".
    public var threatModel: String { "L∞ ε = " + String(format: "%.4g", eps) + ", attacks " + images }

    /// "on the first 1000 of 10000 images", or "on all 16 images".
    var images: String { attackCount < count ? "on the first \(attackCount) of \(count) images" : "on all \(count) images" }

    /// "of runs/x/best.safetensors (sha256 0180273a5293…), L∞ ε = 0.1, attacks fgsm, pgd20 on the first 1000 of
    /// 10000 images, made 2026-12-06T10:08:23Z".
    public var description: String {
        "of \(checkpoint)" + (checkpointSha256.map { " (sha256 \($0.prefix(12))…)" } ?? "")
            + ", L∞ ε = " + String(format: "%.4g", eps) + ", attacks " + (attacks.isEmpty ? "none" : attacks.joined(separator: ", "))
            + " " + images + (created.map { ", made \($0)" } ?? "")
    }
}
