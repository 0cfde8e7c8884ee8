import Datasets
import Engine
import Foundation
import NN

/// Options of one evaluation (the flags of `advdistill eval`).
public struct EvaluationOptions: Sendable {
    public var eps: Float
    /// Comma-separated attack names and suites (see `AttackRegistry`).
    public var attacks: String = "paper"
    /// Attacks run on the first `attackLimit` examples (all when nil); clean accuracy uses every example.
    public var attackLimit: Int?
    public var batchSize: Int = 200
    public var seed: UInt64 = 0
    /// ε values for the robust-accuracy curve (PGD-20 at each, steps scaled with ε); empty = no sweep.
    public var epsSweep: [Float] = []
    /// How many (clean, adversarial) example pairs to keep for the report.
    public var exampleCount: Int = 8

    public init(eps: Float) { self.eps = eps }
}

/// Thrown by `Evaluator.evaluate` when its `shouldStop` asked it to stop (the result is incomplete).
public struct EvaluationInterrupted: Error, CustomStringConvertible {
    public var description: String { "the evaluation was interrupted" }
}

/// Attack-evaluates a model the AutoAttack way: robustness is tracked per example. Each example starts
/// robust if its clean prediction is right; an independent attack (the paper's columns) runs on every such
/// example; a cumulative one (AutoAttack's suite) only on those no earlier cumulative attack fooled. The
/// worst case counts an example as robust only if every attack failed on it.
public struct Evaluator {
    public let model: Model
    public let options: EvaluationOptions

    public init(model: Model, options: EvaluationOptions) {
        self.model = model; self.options = options
    }

    /// `shouldStop` is asked before every batch; when it says yes, the evaluation throws
    /// `EvaluationInterrupted`, so a signal during a long evaluation is honoured within one batch.
    public func evaluate(_ data: Dataset, checkpoint: String, progress: ProgressSink = SilentProgress(),
                         shouldStop: () -> Bool = { false }) throws -> EvaluationResult {
        func checkStop() throws(EvaluationInterrupted) { if shouldStop() { throw EvaluationInterrupted() } }
        let started = Date()
        guard options.batchSize > 0 else { throw AttackError.invalidOption("batch size must be > 0, got \(options.batchSize)") }
        guard data.count > 0 else { throw AttackError.invalidOption("the data set \(data.source) is empty") }
        if let limit = options.attackLimit, limit <= 0 { throw AttackError.invalidOption("--limit must be > 0, got \(limit)") }
        guard data.channels == model.spec.inChannels, data.height == model.spec.inputSize, data.width == model.spec.inputSize else {
            throw AttackError.invalidOption("\(model.spec.arch) expects \(model.spec.inChannels)×\(model.spec.inputSize)×\(model.spec.inputSize) images, the data set has \(data.channels)×\(data.height)×\(data.width)")
        }
        if let maxLabel = data.labels.max(), maxLabel >= model.spec.numClasses {
            throw AttackError.invalidOption("the data set has label \(maxLabel) but the model has \(model.spec.numClasses) classes")
        }
        let entries = try AttackRegistry.parse(options.attacks, eps: options.eps)
        let k = model.spec.numClasses
        let n = data.count, m = min(options.attackLimit ?? n, n)

        // Clean accuracy on every example.
        progress.begin("clean", total: n)
        var correct = [Bool](repeating: false, count: n)
        for lo in stride(from: 0, to: n, by: options.batchSize) {
            try checkStop()
            let idx = Array(lo..<min(lo + options.batchSize, n))
            let (x, y) = data.tensor(idx)
            for (j, p) in predictions(model, x).enumerated() { correct[idx[j]] = p == y[j] }
            progress.update(done: idx.last! + 1, info: "")
        }
        let clean = accuracy(correct, labels: data.labels, k: k)
        progress.end("clean \(percent(clean.accuracy))")

        var rng = SeededGenerator(seed: options.seed)
        var worst = Array(correct.prefix(m))
        var cumulative = worst
        var outcomes: [EvaluationResult.AttackOutcome] = []
        var examples: [EvaluationResult.Example] = []
        let exampleKey = entries.first(where: { $0.key == "pgd20" })?.key ?? entries.first!.key
        let subsetLabels = Array(data.labels.prefix(m))

        for entry in entries {
            let t0 = Date()
            progress.begin(entry.attack.name, total: m)
            var robust = entry.mode == .cumulative ? cumulative : Array(correct.prefix(m))
            var attacked = 0
            for lo in stride(from: 0, to: m, by: options.batchSize) {
                try checkStop()
                let candidates = (lo..<min(lo + options.batchSize, m)).filter { robust[$0] }
                attacked += candidates.count
                if !candidates.isEmpty {
                    let (x, y) = data.tensor(candidates)
                    var attackRNG = rng.fork(label: UInt64(lo))
                    let adv = entry.attack.perturb(model, x, labels: y, rng: &attackRNG)
                    try checkAdmissible(adv, x, attack: entry.attack.name)
                    let preds = predictions(model, adv)
                    for (j, i) in candidates.enumerated() where preds[j] != y[j] { robust[i] = false }
                    if entry.key == exampleKey {
                        examples += makeExamples(candidates, x, adv, y, preds, attack: entry.attack.name,
                                                 room: options.exampleCount - examples.count)
                    }
                }
                let done = min(lo + options.batchSize, m)
                let rate = Double(done) / max(Date().timeIntervalSince(t0), 1e-9)
                progress.update(done: done, info: String(format: "robust %.1f%%, %.0f img/s",
                                                         100 * Double(robust.prefix(done).filter { $0 }.count) / Double(done), rate))
            }
            if entry.mode == .cumulative { cumulative = robust }
            for i in 0..<m where !robust[i] { worst[i] = false }
            let seconds = Date().timeIntervalSince(t0)
            let acc = accuracy(robust, labels: subsetLabels, k: k)
            outcomes.append(.init(key: entry.key, name: entry.attack.name, mode: entry.mode.rawValue,
                                  accuracy: acc.accuracy, perClass: acc.perClass, seconds: seconds,
                                  imagesPerSecond: attacked == 0 ? 0 : Double(attacked) / max(seconds, 1e-9),
                                  steps: entry.attack.gradientSteps))
            progress.end("\(entry.attack.name): \(percent(acc.accuracy)) (\(String(format: "%.1f", seconds)) s)")
        }

        // ε sweep: PGD-20 (steps scaled with ε) on the attack subset; ε = 0 is the clean accuracy there.
        var sweep: [EvaluationResult.SweepPoint] = []
        if !options.epsSweep.isEmpty { progress.begin("ε sweep", total: options.epsSweep.count) }
        for (s, eps) in options.epsSweep.enumerated() {
            guard eps >= 0, eps.isFinite else { throw AttackError.invalidEps(eps) }
            var robust = Array(correct.prefix(m))
            if eps > 0 {
                let pgd = AttackRegistry.pgdSAT(eps: eps, steps: 20, scale: eps / AttackRegistry.referenceEps)
                for lo in stride(from: 0, to: m, by: options.batchSize) {
                    try checkStop()
                    let candidates = (lo..<min(lo + options.batchSize, m)).filter { robust[$0] }
                    if candidates.isEmpty { continue }
                    let (x, y) = data.tensor(candidates)
                    var attackRNG = rng.fork(label: UInt64(lo) &+ 1_000_003 &* UInt64(s + 1))
                    let adv = pgd.perturb(model, x, labels: y, rng: &attackRNG)
                    try checkAdmissible(adv, x, attack: pgd.name, eps: eps)
                    for (j, p) in predictions(model, adv).enumerated() where p != y[j] { robust[candidates[j]] = false }
                }
            }
            sweep.append(.init(eps: Double(eps), accuracy: Double(robust.filter { $0 }.count) / Double(m)))
            progress.update(done: s + 1, info: String(format: "ε %.4g: %.1f%%", eps, 100 * sweep.last!.accuracy))
        }
        if !options.epsSweep.isEmpty { progress.end("ε sweep done") }

        let worstAcc = accuracy(worst, labels: subsetLabels, k: k)
        let pgd20 = outcomes.first { $0.key == "pgd20" }
        var result = EvaluationResult(
            model: model.spec, checkpoint: checkpoint, data: data.source, classNames: data.classNames, count: n,
            eps: Double(options.eps), norm: "linf", clean: clean, attacks: outcomes, worstCase: worstAcc,
            wRobust: (clean.accuracy + (pgd20?.accuracy ?? worstAcc.accuracy)) / 2,
            wRobustBasis: pgd20 == nil ? "(clean + worst case)/2" : "(clean + PGD-20)/2",
            sweepAttack: options.epsSweep.isEmpty ? nil : "PGD-20",
            epsSweep: sweep, examples: examples, warnings: [], seconds: 0, seed: options.seed,
            created: ISO8601DateFormatter().string(from: started), machine: MachineInfo.summary)
        result.attackCount = m
        result.warnings = GradientMaskingChecks.warnings(for: result, attackCount: m)
        for w in result.warnings { progress.note("warning: " + w) }
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    /// Every adversarial example must lie in the ε-ball (+1e-6) and in [0, 1] — checked, not assumed.
    func checkAdmissible(_ adv: Tensor, _ x: Tensor, attack: String, eps: Float? = nil) throws {
        let e = (eps ?? options.eps) + 1e-6
        for i in 0..<adv.count {
            let v = adv.data[i]
            guard v >= 0, v <= 1, abs(v - x.data[i]) <= e, v.isFinite else {
                throw AttackError.invalidOption("\(attack) produced an inadmissible example: element \(i) is \(v), clean \(x.data[i]), ε \(e - 1e-6)")
            }
        }
    }

    func makeExamples(_ indices: [Int], _ x: Tensor, _ adv: Tensor, _ y: [Int], _ preds: [Int], attack: String,
                      room: Int) -> [EvaluationResult.Example] {
        guard room > 0 else { return [] }
        let per = x.count / max(indices.count, 1)
        let clean = withNoGrad { argmaxRows(model.forward(x, training: false)) }
        return indices.prefix(room).enumerated().map { j, i in
            func bytes(_ t: Tensor) -> [UInt8] { (0..<per).map { UInt8((min(max(t.data[j * per + $0], 0), 1) * 255).rounded()) } }
            var linf: Float = 0
            for q in 0..<per { linf = max(linf, abs(adv.data[j * per + q] - x.data[j * per + q])) }
            return .init(index: i, label: y[j], cleanPrediction: clean[j], adversarialPrediction: preds[j], attack: attack,
                         shape: Array(x.shape.dropFirst()), clean: bytes(x), adversarial: bytes(adv), linf: Double(linf))
        }
    }
}

func accuracy(_ ok: [Bool], labels: [Int], k: Int) -> EvaluationResult.Accuracy {
    var hit = [Int](repeating: 0, count: k), total = [Int](repeating: 0, count: k)
    for (i, good) in ok.enumerated() { total[labels[i]] += 1; if good { hit[labels[i]] += 1 } }
    let perClass = (0..<k).map { total[$0] == 0 ? 0 : Double(hit[$0]) / Double(total[$0]) }
    return .init(accuracy: ok.isEmpty ? 0 : Double(ok.filter { $0 }.count) / Double(ok.count), perClass: perClass)
}

func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }

/// A one-line description of the machine for provenance (CPU, cores, BLAS kernel).
public enum MachineInfo {
    public static var summary: String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, OpenBLAS \(Compute.blasCore)"
    }
}
