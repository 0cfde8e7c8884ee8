import Attacks
import Distillation
import Foundation

/// One run directory as the report sees it: the resolved config, the per-epoch metrics and one attack
/// evaluation (`runs/<name>/config.json`, `metrics.jsonl`, and `eval.json` or another `eval-*.json`).
public struct RunRecord: Sendable {
    public let directory: String
    public let config: RunConfig
    /// In epoch order; empty when training stopped before the first epoch ended.
    public let metrics: [EpochMetrics]
    public let evaluation: EvaluationResult
    /// The file `evaluation` was read from.
    public let evaluationPath: String
    /// What `train` measured of its teachers when it loaded them (teachers.json); empty without one.
    public var teacherChecks: [TeacherCheck] = []

    public static let configFile = "config.json"
    public static let metricsFile = "metrics.jsonl"
    /// The evaluation of the run's best.safetensors (`EvaluationFile.defaultPath`), the one shown by default.
    public static let evaluationFile = "eval.json"

    public init(directory: String, config: RunConfig, metrics: [EpochMetrics], evaluation: EvaluationResult,
                evaluationPath: String? = nil) {
        self.directory = directory; self.config = config; self.metrics = metrics; self.evaluation = evaluation
        self.evaluationPath = evaluationPath ?? Self.path(directory, Self.evaluationFile)
    }

    /// The same run shown with another of its evaluations.
    func with(evaluation: EvaluationResult, from path: String) -> RunRecord {
        var r = RunRecord(directory: directory, config: config, metrics: metrics, evaluation: evaluation, evaluationPath: path)
        r.teacherChecks = teacherChecks
        return r
    }

    /// Reads and checks the files of `directory`, with its first evaluation file (eval.json when there is one).
    /// Errors name the file (and the line of metrics.jsonl).
    public static func load(directory: String) throws(ReportError) -> RunRecord {
        let config = try loadConfig(directory: directory)
        let metrics = try loadMetrics(path: path(directory, metricsFile))
        let file = evaluationFiles(in: directory).first ?? path(directory, evaluationFile)
        let evaluation = try loadEvaluation(path: file)
        var record = RunRecord(directory: directory, config: config, metrics: metrics, evaluation: evaluation, evaluationPath: file)
        record.teacherChecks = TeacherChecks.read(directory: directory)?.teachers ?? []
        return record
    }

    /// The evaluation files of a run directory: eval.json (its best checkpoint's) first, then every
    /// eval-*.json (other checkpoints', or written there with `--json`) by name.
    public static func evaluationFiles(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let others = names.filter { $0.hasPrefix("eval-") && $0.hasSuffix(".json") }.sorted()
        return (names.contains(evaluationFile) ? [evaluationFile] : []).map { path(directory, $0) } + others.map { path(directory, $0) }
    }

    /// The run's config.json (also what `advdistill report` needs to evaluate a run that has no eval.json).
    public static func loadConfig(directory: String) throws(ReportError) -> RunConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .notADirectory(path: directory)
        }
        let file = path(directory, configFile)
        guard FileManager.default.fileExists(atPath: file) else {
            throw .missingFile(path: file, what: "the run's resolved config, written by `advdistill train`")
        }
        do { return try RunConfig.load(path: file) }
        catch let e as ConfigError {
            // `unreadable` already names the file; keep only its reason so the path is said once.
            if case let .unreadable(_, reason) = e { throw .malformed(path: file, line: nil, reason: "not a valid run config: \(reason)") }
            throw .malformed(path: file, line: nil, reason: "not a valid run config: \(e)")
        } catch { throw .malformed(path: file, line: nil, reason: "not a valid run config: \(error)") }
    }

    /// metrics.jsonl: one `EpochMetrics` object per line, epochs strictly increasing.
    static func loadMetrics(path file: String) throws(ReportError) -> [EpochMetrics] {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw .missingFile(path: file, what: "the per-epoch metrics, written by `advdistill train`")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .malformed(path: file, line: nil, reason: "not UTF-8 text")
        }
        var out: [EpochMetrics] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let m: EpochMetrics
            do { m = try JSONDecoder().decode(EpochMetrics.self, from: Data(line.utf8)) }
            catch { throw .malformed(path: file, line: i + 1, reason: "not an epoch record: \(explain(error))") }
            if let last = out.last, m.epoch <= last.epoch {
                throw .malformed(path: file, line: i + 1, reason: "epoch \(m.epoch) follows epoch \(last.epoch); epochs must increase")
            }
            out.append(m)
        }
        return out
    }

    /// eval.json as `advdistill eval` writes it (snake_case keys), checked for values a report cannot draw.
    static func loadEvaluation(path file: String) throws(ReportError) -> EvaluationResult {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw .missingFile(path: file, what: "the attack evaluation, written by `advdistill eval` (or by `advdistill report` when the checkpoint is present)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let r: EvaluationResult
        do { r = try decoder.decode(EvaluationResult.self, from: data) }
        catch { throw .malformed(path: file, line: nil, reason: "not a valid eval.json: \(explain(error))") }
        func fail(_ why: String) -> ReportError { .malformed(path: file, line: nil, reason: why) }

        var accuracies: [(String, Double)] = [("clean.accuracy", r.clean.accuracy), ("worst_case.accuracy", r.worstCase.accuracy),
                                              ("w_robust", r.wRobust)]
        accuracies += r.attacks.map { ("attacks[\($0.key)].accuracy", $0.accuracy) }
        accuracies += r.epsSweep.enumerated().map { ("eps_sweep[\($0.offset)].accuracy", $0.element.accuracy) }
        for (key, value) in accuracies where !(0...1).contains(value) {
            throw fail("\(key) is \(value); accuracies are fractions in [0, 1]")
        }
        guard r.eps >= 0 else { throw fail("eps is \(r.eps); it must be ≥ 0") }
        for (i, e) in r.examples.enumerated() {
            guard e.shape.count == 3, [1, 3].contains(e.shape[0]), e.shape[1] > 0, e.shape[2] > 0 else {
                throw fail("examples[\(i)].shape is \(e.shape); expected [C, H, W] with C = 1 or 3")
            }
            let n = e.shape.reduce(1, *)
            guard e.clean.count == n, e.adversarial.count == n else {
                throw fail("examples[\(i)] holds \(e.clean.count) clean and \(e.adversarial.count) adversarial bytes; its shape \(e.shape) needs \(n)")
            }
        }
        return r
    }

    static func path(_ directory: String, _ file: String) -> String {
        (directory as NSString).appendingPathComponent(file)
    }
}

/// A run that could not be read: the report notes it and renders the others.
public struct RunFailure: Codable, Sendable, Equatable {
    public var directory: String
    public var message: String

    public init(directory: String, message: String) { self.directory = directory; self.message = message }
}
