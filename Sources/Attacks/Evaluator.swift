import Datasets
import Engine
import Foundation
import NN

/// Options of one evaluation (the flags of `advdistill eval`).
public struct EvaluationOptions: Sendable {
    public var eps: Float
    /// ε as the user wrote it ("8/255"), recorded beside its value as `eps_text`; nil: the value's shortest decimal.
    public var epsText: String?
    /// Comma-separated attack names and suites (see `AttackRegistry`).
    public var attacks: String = "paper"
    /// Attacks run on the first `attackLimit` examples (all when nil); clean accuracy uses every example.
    public var attackLimit: Int?
    public var batchSize: Int = 200
    public var seed: UInt64 = 0
    /// ε values for the robust-accuracy curve (PGD-20 at each, steps scaled with ε); empty = no sweep.
    public var epsSweep: [Float] = []
    /// The sweep's ε as written, one per `epsSweep` value (recorded as each point's `eps_text`); empty: none given.
    public var epsSweepText: [String] = []
    /// How many (clean, adversarial) example pairs to keep for the report.
    public var exampleCount: Int = 8

    public init(eps: Float) { self.eps = eps }

    /// ε as written (its text kept for the evaluation file).
    public init(eps: Epsilon) { self.eps = eps.value; epsText = eps.text }

    /// Sets the sweep from ε as written.
    public mutating func sweep(_ values: [Epsilon]) {
        epsSweep = values.map(\.value); epsSweepText = values.map(\.text)
    }
}

/// Thrown by `Evaluator.evaluate` when its `shouldStop` asked it to stop (the result is incomplete).
public struct EvaluationInterrupted: Error, CustomStringConvertible {
    public var description: String { "the evaluation was interrupted" }
}

/// Attack-evaluates a model the AutoAttack way: robustness is tracked per example. Each example starts
/// robust if its clean prediction is right; an independent attack (the paper's columns) runs on every such
/// example; a cumulative one (AutoAttack's suite) only on those no earlier cumulative attack fooled. The
/// worst case counts an example as robust only if every attack failed on it.
///
/// Under `mpirun -np N` the batches (of `batchSize` consecutive examples) are shared round-robin: rank r runs
/// batch k when k mod N = r, each batch's noise forked from the same stream as in one process, and after
/// each attack the marks are summed over ranks, so every rank goes on with the same mask (a cumulative
/// suite attacks only what is still robust across all shards) and the result — eval.json, per-example masks
/// included — is the one process's, whatever N (timings and the machine record aside).
public struct Evaluator {
    public let model: Model
    public let options: EvaluationOptions
    public let communicator: any Communicator

    public init(model: Model, options: EvaluationOptions, communicator: any Communicator = SingleProcess()) {
        self.model = model; self.options = options; self.communicator = communicator
    }

    /// Whether this rank runs the batch starting at example `lo`.
    func owns(batchAt lo: Int) -> Bool { (lo / options.batchSize) % communicator.size == communicator.rank }

    /// `shouldStop` is asked before every batch; when it says yes, the evaluation throws
    /// `EvaluationInterrupted`, so a signal during a long evaluation is honoured within one batch.
    /// The steps: a clean pass over every example, each attack on the first `attackLimit`, the ε sweep.
    /// With a `journal` (one process), each finished attack is kept in its file, and attacks an earlier, interrupted
    /// run of the same evaluation finished are taken from there instead of run again (`EvaluationJournal`).
    public func evaluate(_ data: Dataset, checkpoint: String, progress: ProgressSink = SilentProgress(),
                         journal: EvaluationJournal? = nil, shouldStop: () -> Bool = { false }) throws -> EvaluationResult {
        let started = Date()
        try checkCompatible(data)
        let selected = try AttackRegistry.parse(options.attacks, eps: options.eps)
        let progress = communicator.isRoot ? progress : SilentProgress()
        // With several ranks the stop is agreed (every rank asks before every batch), so all stop together.
        func stop() throws(EvaluationInterrupted) {
            let asked = shouldStop()
            if communicator.size > 1 ? communicator.any(asked) : asked { throw EvaluationInterrupted() }
        }
        let (correct, clean) = try cleanPass(data, progress: progress, stop: stop)

        let m = min(options.attackLimit ?? data.count, data.count)
        var rng = SeededGenerator(seed: options.seed)
        var worst = Array(correct.prefix(m)), cumulative = worst
        var outcomes: [EvaluationResult.AttackOutcome] = []
        var examples: [EvaluationResult.Example] = []
        let exampleKey = (selected.first { $0.key == AttackRegistry.wRobustAttack } ?? selected[0]).key
        let journal = communicator.size == 1 ? journal : nil
        let identity = journal?.identity(options, data: data) ?? ""
        var kept = journal?.load(identity: identity) ?? []
        for (index, entry) in selected.enumerated() {
            let start = entry.mode == .cumulative ? cumulative : Array(correct.prefix(m))
            let robust: [Bool], outcome: EvaluationResult.AttackOutcome, collected: [EvaluationResult.Example]
            if index < kept.count, kept[index].key == entry.key, let mask = ExampleMask.decode(kept[index].robust, count: m) {
                (robust, outcome, collected, rng) = (mask, kept[index].outcome, kept[index].examples, kept[index].rng)
                progress.note("\(entry.attack.name): \(percent(outcome.accuracy)), kept from the interrupted evaluation (\(journal!.path))")
            } else {
                (robust, outcome, collected) = try run(entry, on: data, robust: start, rng: &rng, progress: progress, stop: stop,
                                                       exampleRoom: entry.key == exampleKey ? options.exampleCount : 0)
                if let journal {
                    kept = Array(kept.prefix(index)) + [EvaluationJournal.Entry(key: entry.key, outcome: outcome,
                                                                                robust: ExampleMask.encode(robust), examples: collected, rng: rng)]
                    try journal.save(kept, identity: identity)
                }
            }
            if entry.mode == .cumulative { cumulative = robust }
            for i in 0..<m where !robust[i] { worst[i] = false }
            outcomes.append(outcome)
            examples += collected
        }
        examples = gatherExamples(examples, room: options.exampleCount)
        let sweep = try epsSweep(on: data, correct: Array(correct.prefix(m)), rng: &rng, progress: progress, stop: stop)

        let worstAcc = accuracy(worst, labels: Array(data.labels.prefix(m)), k: model.spec.numClasses)
        var result = EvaluationResult(
            model: model.spec, checkpoint: checkpoint, data: data.source, classNames: data.classNames, count: data.count,
            eps: Double(options.eps), norm: "linf", clean: clean, attacks: outcomes, worstCase: worstAcc,
            wRobust: 0, wRobustBasis: "", sweepAttack: options.epsSweep.isEmpty ? nil : "PGD-20",
            epsSweep: sweep, examples: examples, warnings: [], seconds: 0, seed: options.seed,
            created: ISO8601DateFormatter().string(from: started), machine: MachineInfo.summary(ranks: communicator.size))
        let robust = result.wRobustAttack
        result.wRobust = (clean.accuracy + (robust?.accuracy ?? worstAcc.accuracy)) / 2
        result.wRobustBasis = robust == nil ? "(clean + worst case)/2" : "(clean + PGD-20)/2"
        result.attackCount = m
        result.epsText = options.epsText ?? Epsilon(options.eps).text
        result.cleanCorrect = ExampleMask.encode(correct)
        result.worstCaseRobust = ExampleMask.encode(worst)
        result.warnings = GradientMaskingChecks.warnings(for: result, attackCount: m)
        for w in result.warnings { progress.note("warning: " + w) }
        result.seconds = Date().timeIntervalSince(started)
        journal?.remove()
        return result
    }

    /// The options and the data must suit the model before anything runs.
    func checkCompatible(_ data: Dataset) throws {
        guard options.batchSize > 0 else { throw AttackError.invalidOption("batch size must be > 0, got \(options.batchSize)") }
        guard data.count > 0 else { throw AttackError.invalidOption("the data set \(data.source) is empty") }
        if let limit = options.attackLimit, limit <= 0 { throw AttackError.invalidOption("--limit must be > 0, got \(limit)") }
        guard data.channels == model.spec.inChannels, data.height == model.spec.inputSize, data.width == model.spec.inputSize else {
            throw AttackError.invalidOption("\(model.spec.arch) expects \(model.spec.inChannels)×\(model.spec.inputSize)×\(model.spec.inputSize) images, the data set has \(data.channels)×\(data.height)×\(data.width)")
        }
        if let maxLabel = data.labels.max(), maxLabel >= model.spec.numClasses {
            throw AttackError.invalidOption("the data set has label \(maxLabel) but the model has \(model.spec.numClasses) classes")
        }
    }

    /// Whether the model gets each example right, and the clean accuracy (on every example).
    /// Clean accuracy alone, with no attack (a quick check, such as a teacher's when a run loads it).
    public func cleanAccuracy(_ data: Dataset) throws -> Double {
        try checkCompatible(data)
        return try cleanPass(data, progress: SilentProgress(), stop: {}).1.accuracy
    }

    func cleanPass(_ data: Dataset, progress: ProgressSink, stop: () throws -> Void) throws -> ([Bool], EvaluationResult.Accuracy) {
        let n = data.count
        progress.begin("clean", total: n)
        var correct = [Bool](repeating: false, count: n)
        for lo in stride(from: 0, to: n, by: options.batchSize) {
            try stop()
            let idx = Array(lo..<min(lo + options.batchSize, n))
            guard owns(batchAt: lo) else { continue }
            let (x, y) = data.tensor(idx)
            for (j, p) in predictions(model, x).enumerated() { correct[idx[j]] = p == y[j] }
            progress.update(done: idx.last! + 1, info: "")
        }
        if communicator.size > 1 {
            var hits = correct.map { $0 ? 1.0 : 0.0 }
            communicator.allreduceSum(&hits)
            correct = hits.map { $0 > 0 }
        }
        let clean = accuracy(correct, labels: data.labels, k: model.spec.numClasses)
        progress.end("clean \(percent(clean.accuracy))")
        return (correct, clean)
    }

    /// One attack of the suite on the examples `start` marks (those it may still fool: every clean-correct
    /// one, or for a cumulative attack those no earlier one fooled). Returns who is robust after it, its
    /// outcome, and up to `exampleRoom` (clean, adversarial) pairs for the report.
    func run(_ entry: AttackRegistry.Selected, on data: Dataset, robust start: [Bool], rng: inout SeededGenerator,
             progress: ProgressSink, stop: () throws -> Void, exampleRoom: Int)
        throws -> (robust: [Bool], outcome: EvaluationResult.AttackOutcome, examples: [EvaluationResult.Example]) {
        let t0 = Date()
        progress.begin(entry.attack.name, total: start.count)
        var robust = start, attacked = 0
        var examples: [EvaluationResult.Example] = []
        try attackStillRobust(entry.attack, eps: options.eps, on: data, robust: &robust, rng: &rng, label: { UInt64($0) }, stop: stop,
                              attacked: &attacked) { done, batch, now in
            if let batch {
                examples += makeExamples(batch, attack: entry.attack.name, room: exampleRoom - examples.count)
            }
            let rate = Double(done) / max(Date().timeIntervalSince(t0), 1e-9)
            progress.update(done: done, info: String(format: "robust %.1f%%, %.0f img/s",
                                                     100 * Double(now.prefix(done).filter { $0 }.count) / Double(done), rate))
        }
        let seconds = Date().timeIntervalSince(t0)
        let acc = accuracy(robust, labels: Array(data.labels.prefix(robust.count)), k: model.spec.numClasses)
        progress.end("\(entry.attack.name): \(percent(acc.accuracy)) (\(String(format: "%.1f", seconds)) s)")
        let outcome = EvaluationResult.AttackOutcome(
            key: entry.key, name: entry.attack.name, mode: entry.mode.rawValue, accuracy: acc.accuracy, perClass: acc.perClass,
            seconds: seconds, imagesPerSecond: attacked == 0 ? 0 : Double(attacked) / max(seconds, 1e-9), steps: entry.attack.gradientSteps,
            robust: ExampleMask.encode(robust))
        return (robust, outcome, examples)
    }

    /// Robust accuracy under PGD-20 (steps scaled with ε) at each ε of `options.epsSweep`, on the examples
    /// `correct` marks (the attack subset); ε = 0 is the clean accuracy there.
    func epsSweep(on data: Dataset, correct: [Bool], rng: inout SeededGenerator, progress: ProgressSink,
                  stop: () throws -> Void) throws -> [EvaluationResult.SweepPoint] {
        guard !options.epsSweep.isEmpty else { return [] }
        progress.begin("ε sweep", total: options.epsSweep.count)
        var sweep: [EvaluationResult.SweepPoint] = []
        for (s, eps) in options.epsSweep.enumerated() {
            guard eps >= 0, eps.isFinite else { throw AttackError.invalidEps(eps) }
            var robust = correct
            if eps > 0 {
                let pgd = AttackRegistry.pgdSAT(eps: eps, steps: 20, scale: eps / AttackRegistry.referenceEps)
                var attacked = 0
                try attackStillRobust(pgd, eps: eps, on: data, robust: &robust, rng: &rng,
                                      label: { UInt64($0) &+ 1_000_003 &* UInt64(s + 1) }, stop: stop, attacked: &attacked) { _, _, _ in }
            }
            let text = options.epsSweepText.count == options.epsSweep.count ? options.epsSweepText[s] : Epsilon(eps).text
            sweep.append(.init(eps: Double(eps), epsText: text, accuracy: Double(robust.filter { $0 }.count) / Double(correct.count)))
            progress.update(done: s + 1, info: String(format: "ε %.4g: %.1f%%", eps, 100 * sweep.last!.accuracy))
        }
        progress.end("ε sweep done")
        return sweep
    }

    /// The examples of one batch an attack ran on: their indices, clean and adversarial images, labels and
    /// the predictions on the adversarial images.
    struct AttackedBatch {
        let indices: [Int]
        let x: Tensor, adversarial: Tensor
        let labels: [Int], predictions: [Int]
    }

    /// Attacks, batch by batch, the examples that `robust` still marks, and clears the mark of each one the
    /// attack fools. Each batch's noise comes from `rng.fork(label: label(lo))`, lo its first index (forked on
    /// every rank for every batch, run by the rank that `owns` it). `batchDone` is told each batch's end, what
    /// was attacked in it (nil when nothing was left to attack or another rank ran it), and the marks so far;
    /// `attacked` counts the examples attacked (over every rank). With several ranks the marks are summed
    /// over ranks at the end, so every rank returns the same `robust`.
    func attackStillRobust(_ attack: Attack, eps: Float, on data: Dataset, robust: inout [Bool], rng: inout SeededGenerator,
                           label: (Int) -> UInt64, stop: () throws -> Void, attacked count: inout Int,
                           batchDone: (_ end: Int, _ attacked: AttackedBatch?, _ robust: [Bool]) -> Void) throws {
        let start = robust
        for lo in stride(from: 0, to: robust.count, by: options.batchSize) {
            try stop()
            let end = min(lo + options.batchSize, robust.count)
            let candidates = (lo..<end).filter { robust[$0] }
            var attacked: AttackedBatch?
            if !candidates.isEmpty {
                var attackRNG = rng.fork(label: label(lo))
                if owns(batchAt: lo) {
                    let (x, y) = data.tensor(candidates)
                    let adv = attack.perturb(model, x, labels: y, rng: &attackRNG)
                    try checkAdmissible(adv, x, attack: attack.name, eps: eps)
                    let preds = predictions(model, adv)
                    for (j, i) in candidates.enumerated() where preds[j] != y[j] { robust[i] = false }
                    attacked = AttackedBatch(indices: candidates, x: x, adversarial: adv, labels: y, predictions: preds)
                    count += candidates.count
                }
            }
            batchDone(end, attacked, robust)
        }
        guard communicator.size > 1 else { return }
        // fooled[i]: how many ranks cleared example i (at most one); the last slot sums the attacked counts.
        var fooled = zip(start, robust).map { $0 && !$1 ? 1.0 : 0.0 } + [Double(count)]
        communicator.allreduceSum(&fooled)
        robust = start.indices.map { start[$0] && fooled[$0] == 0 }
        count = Int(fooled[start.count])
    }

    /// The report's gallery: rank 0 gets every rank's pairs and keeps the first `room` by example index, as
    /// one process collects them; the other ranks keep none (only rank 0 writes).
    func gatherExamples(_ mine: [EvaluationResult.Example], room: Int) -> [EvaluationResult.Example] {
        guard communicator.size > 1 else { return mine }
        let bytes = (try? JSONEncoder().encode(mine)) ?? Data("[]".utf8)
        guard let all = communicator.gather(Array(bytes), root: 0) else { return [] }
        let union = all.flatMap { (try? JSONDecoder().decode([EvaluationResult.Example].self, from: Data($0))) ?? [] }
        return Array(union.sorted { $0.index < $1.index }.prefix(room))
    }

    /// Every adversarial example must lie in the ε-ball (+1e-6) and in [0, 1] — checked, not assumed.
    func checkAdmissible(_ adv: Tensor, _ x: Tensor, attack: String, eps: Float) throws {
        let e = eps + 1e-6
        for i in 0..<adv.count {
            let v = adv.data[i]
            guard v >= 0, v <= 1, abs(v - x.data[i]) <= e, v.isFinite else {
                throw AttackError.invalidOption("\(attack) produced an inadmissible example: element \(i) is \(v), clean \(x.data[i]), ε \(e - 1e-6)")
            }
        }
    }

    /// Up to `room` (clean, adversarial) pairs of an attacked batch, for the report's gallery.
    func makeExamples(_ b: AttackedBatch, attack: String, room: Int) -> [EvaluationResult.Example] {
        guard room > 0 else { return [] }
        let per = b.x.count / max(b.indices.count, 1)
        let clean = withNoGrad { argmaxRows(model.forward(b.x, training: false)) }
        return b.indices.prefix(room).enumerated().map { j, i in
            func bytes(_ t: Tensor) -> [UInt8] { (0..<per).map { UInt8((min(max(t.data[j * per + $0], 0), 1) * 255).rounded()) } }
            var linf: Float = 0
            for q in 0..<per { linf = max(linf, abs(b.adversarial.data[j * per + q] - b.x.data[j * per + q])) }
            return .init(index: i, label: b.labels[j], cleanPrediction: clean[j], adversarialPrediction: b.predictions[j], attack: attack,
                         shape: Array(b.x.shape.dropFirst()), clean: bytes(b.x), adversarial: bytes(b.adversarial), linf: Double(linf))
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

    /// The machine record of a data-parallel evaluation: the summary and the rank count.
    public static func summary(ranks: Int) -> String {
        ranks > 1 ? summary + ", \(ranks) MPI ranks" : summary
    }
}
