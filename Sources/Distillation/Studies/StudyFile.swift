import Attacks
import Foundation
import NN

/// `study.json`: the study config, every point's numbers and the aggregate per cell. Rebuilt from the
/// point directories (their eval-best.json, eval-last.json and metrics.jsonl) each time it is written, so
/// that two processes working on one study write the same file. Apart from `updated` and the `timing`
/// objects, its content depends only on the study and the results (keys sorted, points in grid order).
public struct StudyFile: Codable, Sendable {
    public static let fileName = "study.json"
    public static let formatName = "advdistill-study/1"
    /// The evaluation files of a point, one per protocol.
    public static func evaluationFile(_ p: StudyProtocol) -> String { "eval-\(p.rawValue).json" }

    /// The study as configured (base run config inline, resolved).
    public struct Settings: Codable, Sendable {
        /// The study file and the base config file it names (nil: inline).
        public var studyFile: String
        public var baseFile: String?
        public var base: RunConfig
        public var grid: StudyGrid
        public var evaluation: StudyEvaluation
        public var output: String

        enum CodingKeys: String, CodingKey { case studyFile = "study_file", baseFile = "base_file", base, grid, evaluation, output }
    }

    /// One protocol's measurement of a point: which checkpoint and its numbers.
    public struct Measurement: Codable, Sendable, Equatable {
        /// Relative to the study directory.
        public var checkpoint: String
        /// "best by W-Robust on the validation split (epoch 4)", "last (epoch 5)".
        public var measured: String
        public var epoch: Int?
        /// Where best was selected ("validation" or "test"); nil for last.
        public var selectedOn: String?
        /// Accuracies (fractions): clean, each attack by key, aa (when the AA suite ran), worst_case, w_robust.
        public var metrics: [String: Double]

        enum CodingKeys: String, CodingKey { case checkpoint, measured, epoch, selectedOn = "selected_on", metrics }
    }

    /// Wall times, which differ between machines and runs (everything else in the file does not).
    public struct Timing: Codable, Sendable, Equatable {
        /// Training time summed over epochs (without the per-epoch evaluation).
        public var trainSeconds: Double
        public var secondsPerEpoch: Double
        /// The per-epoch evaluations during training.
        public var validationSeconds: Double
        /// The final evaluations of both checkpoints.
        public var evaluationSeconds: Double

        enum CodingKeys: String, CodingKey {
            case trainSeconds = "train_seconds", secondsPerEpoch = "seconds_per_epoch"
            case validationSeconds = "validation_seconds", evaluationSeconds = "evaluation_seconds"
        }
    }

    public struct Point: Codable, Sendable {
        public var run: String
        public var cell: String
        public var seed: UInt64
        public var method: String
        public var methodLabel: String
        public var epochs: Int
        public var trainLimit: Int?
        public var eps: Double
        public var teachers: String?
        /// The run directory, relative to the study directory.
        public var directory: String
        /// "done" (trained and both checkpoints evaluated), "running" (another process holds its lock) or "pending".
        public var status: String
        public var best: Measurement?
        public var last: Measurement?
        public var timing: Timing?

        enum CodingKeys: String, CodingKey {
            case run, cell, seed, method, methodLabel = "method_label", epochs, trainLimit = "train_limit", eps, teachers
            case directory, status, best, last, timing
        }
    }

    public struct Cell: Codable, Sendable {
        public var cell: String
        public var method: String
        public var methodLabel: String
        public var epochs: Int
        public var trainLimit: Int?
        public var eps: Double
        public var teachers: String?
        /// The finished runs aggregated (n of them) and the seeds they used.
        public var runs: [String]
        public var seeds: [UInt64]
        public var n: Int
        /// Per metric, over the finished runs: mean, sample sd, min, max, n; one dictionary per protocol.
        public var best: [String: Summary]
        public var last: [String: Summary]
        public var timing: CellTiming?

        enum CodingKeys: String, CodingKey {
            case cell, method, methodLabel = "method_label", epochs, trainLimit = "train_limit", eps, teachers
            case runs, seeds, n, best, last, timing
        }
    }

    public struct CellTiming: Codable, Sendable, Equatable {
        public var trainSeconds: Summary
        public var secondsPerEpoch: Summary

        enum CodingKeys: String, CodingKey { case trainSeconds = "train_seconds", secondsPerEpoch = "seconds_per_epoch" }
    }

    public var format: String
    /// When this file was written (ISO 8601).
    public var updated: String
    public var settings: Settings
    /// Metric keys in display order.
    public var metrics: [String]
    public var points: [Point]
    public var cells: [Cell]
    /// Points done out of all.
    public var done: Int
    public var total: Int

    /// Reads a study.json (snake_case keys).
    public static func read(_ path: String) throws -> StudyFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StudyError.io(path: path, why: "no such file or not readable")
        }
        // Keys are spelled out (CodingKeys): the embedded run config decodes strictly, as a config file does.
        do { return try JSONDecoder().decode(StudyFile.self, from: data) }
        catch { throw StudyError.io(path: path, why: "not a valid study.json: \(error)") }
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do throws(AtomicFileError) { try AtomicFile.write(try! encoder.encode(self), to: path) }
        catch { throw StudyError.io(path: path, why: error.reason) }
    }
}

/// The two ways a point is measured: the checkpoint selected during training, and the last one.
public enum StudyProtocol: String, CaseIterable, Codable, Sendable {
    /// best.safetensors: the epoch with the highest W-Robust on the validation split.
    case best
    /// checkpoint.safetensors: the end of training (the protocol of papers that report the last epoch).
    case last

    var checkpointFile: String { self == .best ? "best.safetensors" : "checkpoint.safetensors" }
}

extension StudyFile {
    /// study.json as the point directories now stand.
    static func collect(_ config: StudyConfig, studyFile: String, points: [StudyPoint]) -> StudyFile {
        var records: [Point] = []
        for p in points {
            let result = PointResult.read(p, evaluation: config.evaluation)
            var record = Point(run: p.run, cell: p.cell, seed: p.seed, method: p.config.method.name, methodLabel: p.methodLabel,
                               epochs: p.epochs, trainLimit: p.trainLimit, eps: Double("\(p.eps)") ?? Double(p.eps), teachers: p.teachers,
                               directory: "runs/\(p.run)", status: "pending")
            if let result {
                record.status = "done"
                record.best = result.best; record.last = result.last; record.timing = result.timing
            } else if RunLock.isHeld(directory: p.directory) {
                record.status = "running"
            }
            records.append(record)
        }
        let settings = Settings(studyFile: studyFile, baseFile: config.baseFile, base: config.base, grid: config.grid,
                                evaluation: config.evaluation, output: config.output)
        return StudyFile(settings: settings, metrics: metricKeys(config.evaluation), points: records)
    }

    /// A study.json of these points, aggregated per cell in the order the cells first appear.
    init(settings: Settings, metrics metricOrder: [String], points records: [Point], updated: Date = Date()) {
        var cells: [Cell] = []
        for r in records where !cells.contains(where: { $0.cell == r.cell }) {
            let done = records.filter { $0.cell == r.cell && $0.status == "done" }
            func summaries(_ path: KeyPath<Point, Measurement?>) -> [String: Summary] {
                var out: [String: Summary] = [:]
                for key in metricOrder {
                    let values = done.compactMap { $0[keyPath: path]?.metrics[key] }
                    // A metric counts only when every finished run has it (an evaluation that changed midway would not).
                    if values.count == done.count, let s = Summary(values) { out[key] = s }
                }
                return out
            }
            let timings = done.compactMap(\.timing)
            cells.append(Cell(cell: r.cell, method: r.method, methodLabel: r.methodLabel, epochs: r.epochs, trainLimit: r.trainLimit,
                              eps: r.eps, teachers: r.teachers, runs: done.map(\.run), seeds: done.map(\.seed), n: done.count,
                              best: summaries(\.best), last: summaries(\.last),
                              timing: timings.isEmpty ? nil : CellTiming(trainSeconds: Summary(timings.map(\.trainSeconds))!,
                                                                          secondsPerEpoch: Summary(timings.map(\.secondsPerEpoch))!)))
        }
        self.init(format: Self.formatName, updated: ISO8601DateFormatter().string(from: updated), settings: settings,
                  metrics: metricOrder, points: records, cells: cells,
                  done: records.filter { $0.status == "done" }.count, total: records.count)
    }

    /// The metrics of the study's evaluation in display order: clean, the attacks in the order they run,
    /// aa (when the whole AA suite runs), worst_case, w_robust.
    static func metricKeys(_ e: StudyEvaluation) -> [String] {
        let keys = (try? AttackRegistry.parse(e.attacks, eps: e.eps ?? 0.1).map(\.key)) ?? []
        return ["clean"] + keys + (Set(keys).isSuperset(of: PointResult.autoAttack) ? ["aa"] : []) + ["worst_case", "w_robust"]
    }
}

/// A finished point's measurements, read back from its directory; nil until the point is done.
struct PointResult {
    var best: StudyFile.Measurement
    var last: StudyFile.Measurement
    var timing: StudyFile.Timing

    /// The point is done when its run config is the point's (same trajectory and epochs), its last
    /// checkpoint has every epoch, and both evaluation files were made the way the study evaluates.
    static func read(_ p: StudyPoint, evaluation: StudyEvaluation) -> PointResult? {
        let dir = p.directory
        guard let saved = try? RunConfig.load(path: dir + "/config.json"),
              saved.epochs == p.config.epochs, Trainer.trajectoryDifferences(saved, p.config).isEmpty else { return nil }
        var measured: [StudyProtocol: (StudyFile.Measurement, Double)] = [:]
        for proto in StudyProtocol.allCases {
            guard let r = try? EvaluationFile.read(dir + "/" + StudyFile.evaluationFile(proto)),
                  let m = r.measured, matches(r, p, evaluation) else { return nil }
            if proto == .last && m.epoch != p.config.epochs { return nil }
            // Relative to the study directory, which can then move.
            measured[proto] = (StudyFile.Measurement(checkpoint: "runs/\(p.run)/\(proto.checkpointFile)", measured: m.description, epoch: m.epoch,
                                                     selectedOn: m.selectedOn, metrics: metrics(of: r)), r.seconds)
        }
        guard let best = measured[.best], let last = measured[.last],
              let lines = try? String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8) else { return nil }
        let epochs = lines.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }
        let train = epochs.reduce(0) { $0 + $1.trainSeconds }
        return PointResult(best: best.0, last: last.0,
                           timing: .init(trainSeconds: train, secondsPerEpoch: train / Double(max(epochs.count, 1)),
                                         validationSeconds: epochs.reduce(0) { $0 + $1.evalSeconds },
                                         evaluationSeconds: best.1 + last.1))
    }

    /// Whether an eval file was made with the study's evaluation: its ε, attacks, attacked images and seed.
    static func matches(_ r: EvaluationResult, _ p: StudyPoint, _ e: StudyEvaluation) -> Bool {
        let eps = e.eps ?? p.eps
        guard abs(r.eps - Double(eps)) <= 1e-7 * max(1, Double(eps)), r.seed == p.seed,
              let keys = try? AttackRegistry.parse(e.attacks, eps: eps).map(\.key) else { return false }
        return r.attacks.map(\.key) == keys && r.attackCount == min(e.limit ?? r.count, r.count)
    }

    /// The numbers of one evaluation: clean, every attack, AA (the last of the cumulative suite, when it
    /// ran whole), the worst case over all attacks and W-Robust.
    static let autoAttack: Set<String> = ["apgd-ce", "apgd-t", "square"]

    static func metrics(of r: EvaluationResult) -> [String: Double] {
        var out = ["clean": r.clean.accuracy, "worst_case": r.worstCase.accuracy, "w_robust": r.wRobust]
        for a in r.attacks { out[a.key] = a.accuracy }
        if Set(r.attacks.map(\.key)).isSuperset(of: autoAttack), let last = r.attacks.last(where: { $0.mode == "cumulative" }) {
            out["aa"] = last.accuracy
        }
        return out
    }
}
