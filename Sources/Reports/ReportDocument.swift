import Attacks
import Datasets
import Distillation
import Foundation

/// Everything a report shows, as numbers: the content of report.json, and what the HTML and Markdown
/// renderings draw. Accuracies are fractions in [0, 1]; times are seconds.
public struct ReportDocument: Codable, Sendable {
    public struct ThreatModel: Codable, Sendable, Equatable {
        public var norm: String
        /// The ε of every run's evaluation (one value unless runs were evaluated differently).
        public var eps: [Double]
        /// One sentence: the norm, ε, the input scale and how many images were attacked.
        public var statement: String
    }

    public struct SweepLine: Codable, Sendable, Equatable {
        public var run: String
        public struct Point: Codable, Sendable, Equatable {
            public var eps: Double
            public var accuracy: Double
        }
        public var attack: String
        public var points: [Point]
    }

    public struct EpochPoint: Codable, Sendable, Equatable {
        public var epoch: Int
        public var lr: Double
        public var trainLoss: Double
        /// The method's loss terms (metrics' logs whose key starts with "loss_"), e.g. loss_adv, loss_nat.
        public var lossTerms: [String: Double]
        public var cleanAccuracy: Double?
        public var robustAccuracy: Double?
        public var robustAttack: String?
        public var wRobust: Double?
        /// What the accuracies were measured on: "validation" or "test" (nil in older metrics files).
        public var evalSplit: String?
        public var tauNat: Double?
        public var tauAdv: Double?
        public var wNat: Double?
        public var wAdv: Double?
        public var seconds: Double
    }

    public struct PerClass: Codable, Sendable, Equatable {
        public var classNames: [String]
        public var clean: [Double]
        /// Worst case over every attack, per class (on the attacked images); nil when no attack ran.
        public var robust: [Double]?
    }

    public struct AttackSummary: Codable, Sendable, Equatable {
        public var key: String
        public var name: String
        public var mode: String
        public var accuracy: Double
        public var steps: Int
        public var seconds: Double
    }

    public struct Example: Codable, Sendable, Equatable {
        public var index: Int
        public var attack: String
        public var label: String
        public var cleanPrediction: String
        public var adversarialPrediction: String
        public var linf: Double
    }

    public struct Provenance: Codable, Sendable, Equatable {
        public var name: String
        public var directory: String
        public var method: String
        public var arch: String
        public var seed: UInt64
        public var trainData: String
        public var testData: String
        public var naturalTeacher: String?
        public var robustTeacher: String?
        public var epochsConfigured: Int
        public var epochsRecorded: Int
        public var batchSize: Int
        public var optimizer: String
        /// The training attack's ε (the method's default, 8/255, when the config leaves it out).
        public var trainingEps: Double
        public var checkpoint: String
        /// The evaluation file the run's numbers come from (eval.json, or the run's eval-*.json that matches
        /// the report's threat model).
        public var evaluationFile: String
        /// The teachers as `train` measured them on load (teachers.json), one line each, warnings included.
        public var teacherChecks: [String] = []
        /// Which checkpoint was measured ("best by W-Robust on the validation split (epoch 3)", "last (epoch 5)");
        /// nil for eval.json files written before it was recorded.
        public var measured: String?
        public var evaluatedData: String
        public var evaluatedImages: Int
        public var attackedImages: Int?
        public var evaluationSeed: UInt64
        public var evaluated: String
        public var machine: String
        /// Sum of the epochs' wall times (training and per-epoch validation).
        public var trainingSeconds: Double
        public var evaluationSeconds: Double
    }

    public struct Run: Codable, Sendable, Equatable {
        /// The run's label in the report: its config name, with the directory added when two runs share a name.
        public var run: String
        public var provenance: Provenance
        public var attacks: [AttackSummary]
        public var epochs: [EpochPoint]
        /// Whether metrics carry τ and w (MTARD, B-MTARD): only those runs get a balancer chart.
        public var hasBalancer: Bool
        public var perClass: PerClass
        /// The perturbation in the gallery is amplified this many times about mid-grey (±ε fills the range).
        public var perturbationGain: Double
        public var examples: [Example]
        /// Gradient-masking warnings from eval.json.
        public var warnings: [String]
    }

    public var title: String
    public var created: String
    /// The commit of the code that made the report (`git rev-parse HEAD`), or "unknown".
    public var gitCommit: String
    public var threatModel: ThreatModel
    public var comparison: ComparisonTable
    public var epsSweep: [SweepLine]
    public var runs: [Run]
    public var failures: [RunFailure]
    public var notes: [String]
}

extension ReportDocument {
    init(records: [RunRecord], labels: [String], failures: [RunFailure], notes: [String], gitCommit: String, created: Date) {
        title = "AdvDistill robustness report"
        self.created = ISO8601DateFormatter().string(from: created)
        self.gitCommit = gitCommit
        comparison = ComparisonTable(runs: Array(zip(labels, records)))
        threatModel = Self.threatModel(records)
        epsSweep = zip(labels, records).compactMap { label, r in
            r.evaluation.epsSweep.isEmpty ? nil
                : SweepLine(run: label, attack: r.evaluation.sweepAttack ?? "PGD-20", points: r.evaluation.epsSweep.sorted { $0.eps < $1.eps }.map { .init(eps: $0.eps, accuracy: $0.accuracy) })
        }
        runs = zip(labels, records).map { Self.run($0, $1) }
        self.failures = failures
        self.notes = notes
    }

    static func threatModel(_ records: [RunRecord]) -> ThreatModel {
        let eps = records.map(\.evaluation.eps).reduce(into: [Double]()) { acc, e in
            if !acc.contains(where: { abs($0 - e) < 1e-9 }) { acc.append(e) }
        }
        let epsText = eps.count == 1 ? "ε = \(Numbers.eps(eps[0]))"
            : "ε differs between runs (\(eps.map(Numbers.eps).joined(separator: ", "))): rows are not directly comparable"
        let images = Set(records.map { r in
            let attacked = r.evaluation.attackCount.map { "the first \($0) of " } ?? ""
            return "\(attacked)\(r.evaluation.count) test images"
        })
        let imageText = images.count == 1 ? "attacks on \(images.first!)" : "attacks on " + images.sorted().joined(separator: " / ")
        return ThreatModel(norm: "L∞", eps: eps,
                           statement: "White-box L∞ threat model on inputs scaled to [0, 1], \(epsText); \(imageText); clean accuracy on every test image.")
    }

    static func run(_ label: String, _ r: RunRecord) -> Run {
        let e = r.evaluation, c = r.config
        let names = (0..<max(e.clean.perClass.count, e.classNames.count)).map { i in
            i < e.classNames.count && !e.classNames[i].isEmpty ? e.classNames[i] : "class \(i)"
        }
        func name(_ k: Int) -> String { k >= 0 && k < names.count ? names[k] : "class \(k)" }
        let epochs = r.metrics.map { m in
            EpochPoint(epoch: m.epoch, lr: m.lr, trainLoss: m.trainLoss,
                       lossTerms: m.logs.filter { $0.key.hasPrefix("loss_") },
                       cleanAccuracy: m.cleanAccuracy, robustAccuracy: m.robustAccuracy, robustAttack: m.robustAttack,
                       wRobust: m.wRobust, evalSplit: m.evalSplit, tauNat: m.tauNat, tauAdv: m.tauAdv, wNat: m.wNat, wAdv: m.wAdv, seconds: m.seconds)
        }
        let o = c.optimizer
        var provenance = Provenance(
            name: c.name, directory: r.directory, method: c.method.name, arch: c.model.arch, seed: c.seed,
            trainData: describe(c.data.train), testData: describe(c.data.test),
            naturalTeacher: c.teachers?.natural?.checkpoint, robustTeacher: c.teachers?.robust?.checkpoint,
            epochsConfigured: c.epochs, epochsRecorded: r.metrics.count, batchSize: c.batchSize,
            optimizer: o.name == .adam ? "Adam, lr \(Numbers.short(Double(o.lr))), weight decay \(Numbers.short(Double(o.weightDecay)))"
                : "SGD, lr \(Numbers.short(Double(o.lr))), momentum \(Numbers.short(Double(o.momentum))), weight decay \(Numbers.short(Double(o.weightDecay)))\(o.nesterov ? ", Nesterov" : "")",
            trainingEps: Double(c.attack.eps ?? 8 / 255),
            checkpoint: e.checkpoint + (e.checkpointSha256.map { " (sha256 \($0))" } ?? ""),
            evaluationFile: r.evaluationPath, measured: e.measured?.description, evaluatedData: e.data, evaluatedImages: e.count, attackedImages: e.attackCount,
            evaluationSeed: e.seed, evaluated: e.created, machine: e.machine,
            trainingSeconds: r.metrics.reduce(0) { $0 + $1.seconds }, evaluationSeconds: e.seconds)
        provenance.teacherChecks = r.teacherChecks.map(Self.describe)
        return Run(
            run: label, provenance: provenance,
            attacks: e.attacks.map { .init(key: $0.key, name: $0.name, mode: $0.mode, accuracy: $0.accuracy, steps: $0.steps, seconds: $0.seconds) },
            epochs: epochs,
            hasBalancer: r.metrics.contains { $0.tauNat != nil || $0.tauAdv != nil || $0.wNat != nil || $0.wAdv != nil },
            perClass: PerClass(classNames: names, clean: e.clean.perClass, robust: e.attacks.isEmpty ? nil : e.worstCase.perClass),
            perturbationGain: Gallery.amplification(eps: e.eps),
            examples: e.examples.map { .init(index: $0.index, attack: $0.attack, label: name($0.label), cleanPrediction: name($0.cleanPrediction),
                                             adversarialPrediction: name($0.adversarialPrediction), linf: $0.linf) },
            warnings: e.warnings)
    }

    /// "path (train, first 2000)".
    static func describe(_ s: DataSpec) -> String {
        var parts = [s.split.rawValue]
        if let f = s.format { parts.insert(f.rawValue, at: 0) }
        if let l = s.limit { parts.append("first \(l)") }
        return "\(s.path) (\(parts.joined(separator: ", ")))"
    }
}

extension ReportDocument {
    /// "robust teacher: clean 78.6 % on 500 test images, PGD-10 67.0 % on 200 at ε = 0.1" and its warnings.
    static func describe(_ t: TeacherCheck) -> String {
        var text = "\(t.role) teacher: clean \(Numbers.percent(t.cleanAccuracy)) % on \(t.cleanImages) test images"
        if let robust = t.robustAccuracy {
            text += ", \(t.robustAttack ?? "PGD") \(Numbers.percent(robust)) % on \(t.robustImages ?? 0) at ε = \(t.epsText ?? Numbers.eps(t.eps ?? 0))"
        }
        if let expect = t.expectClean { text += " (expected \(Numbers.percent(expect)) %)" }
        return text + t.warnings.map { " — WARNING: " + $0 }.joined()
    }
}
