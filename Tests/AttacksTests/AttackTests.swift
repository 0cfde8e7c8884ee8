import Datasets
import Engine
import Foundation
import NN
import Testing
@testable import Attacks

/// logits = W·flatten(x) + b: attacks have closed forms on it.
final class LinearModel: Model {
    let spec: ModelSpec
    let weight: Tensor, bias: Tensor
    init(classes: Int, side: Int, seed: UInt64) {
        spec = ModelSpec(arch: "linear", numClasses: classes, inChannels: 1, inputSize: side)
        var rng = SeededGenerator(seed: seed)
        weight = Tensor.uniform([classes, side * side], -1, 1, using: &rng)
        bias = Tensor.uniform([classes], -0.1, 0.1, using: &rng)
    }
    func forward(_ x: Tensor, training: Bool) -> Tensor { linear(x.flattened(), weight: weight, bias: bias) }
    var state: [StateEntry] { [] }
}

@Test func fgsmStepMatchesTheClosedFormOnALinearModel() {
    let model = LinearModel(classes: 3, side: 4, seed: 1)
    var rng = SeededGenerator(seed: 2)
    let x = Tensor.uniform([2, 1, 4, 4], 0.2, 0.8, using: &rng)
    let y = [0, 2]
    let eps: Float = 0.05
    let adv = FGSM(eps: eps).perturb(model, x, labels: y, rng: &rng)
    // ∇ₓ CE = Wᵀ(softmax(Wx + b) − e_y), computed independently in Double.
    for n in 0..<2 {
        let z = (0..<3).map { k in Double(model.bias.data[k]) + (0..<16).reduce(0.0) { $0 + Double(model.weight.data[k * 16 + $1]) * Double(x.data[n * 16 + $1]) } }
        let e = z.map { exp($0 - z.max()!) }, s = e.reduce(0, +)
        let p = e.map { $0 / s }
        for i in 0..<16 {
            let g = (0..<3).reduce(0.0) { $0 + Double(model.weight.data[$1 * 16 + i]) * (p[$1] - ($1 == y[n] ? 1 : 0)) }
            let expected = min(max(x.data[n * 16 + i] + eps * Float(g > 0 ? 1 : -1), 0), 1)
            #expect(adv.data[n * 16 + i] == expected)
        }
    }
}

@Test func pgdReachesTheOptimalLinfPerturbationOfATwoClassLinearModel() {
    // For two classes the margin z_y − z_o = (w_y − w_o)·x + c is minimised over the ε-ball ∩ [0,1] by the
    // corner x*_i = clip(x_i − ε·sign(w_y − w_o)_i). PGD's signed steps must walk exactly there.
    let model = LinearModel(classes: 2, side: 3, seed: 5)
    var rng = SeededGenerator(seed: 6)
    let x = Tensor.uniform([3, 1, 3, 3], 0, 1, using: &rng)
    let y = [0, 1, 0]
    let eps: Float = 0.1
    for attack in [PGD(eps: eps, stepSize: eps / 4, steps: 20, start: .uniform) as Attack,
                   CWLinf(eps: eps, stepSize: eps / 4, steps: 20)] {
        var r = rng
        let adv = attack.perturb(model, x, labels: y, rng: &r)
        for n in 0..<3 {
            let o = 1 - y[n]
            for i in 0..<9 {
                let d = model.weight.data[y[n] * 9 + i] - model.weight.data[o * 9 + i]
                let optimal = min(max(x.data[n * 9 + i] - eps * (d > 0 ? 1 : -1), 0), 1)
                #expect(abs(adv.data[n * 9 + i] - optimal) < 1e-6, "\(attack.name) example \(n) pixel \(i)")
            }
        }
    }
}

/// Four classes: a bright 3×3 blob in one quadrant of an 8×8 grey image, plus noise.
func blobs(_ n: Int, seed: UInt64) -> Dataset {
    var rng = SeededGenerator(seed: seed)
    var images = [UInt8](), labels = [Int]()
    for i in 0..<n {
        let k = i % 4
        let (r0, c0) = ([1, 1, 4, 4][k], [1, 4, 1, 4][k])
        for r in 0..<8 { for c in 0..<8 {
            let inBlob = (r0..<(r0 + 3)).contains(r) && (c0..<(c0 + 3)).contains(c)
            let v = (inBlob ? 0.75 : 0.2) + 0.1 * rng.normal()
            images.append(UInt8(min(max(v, 0), 1) * 255))
        } }
        labels.append(k)
    }
    return Dataset(images: images, labels: labels, channels: 1, height: 8, width: 8,
                   classNames: ["a", "b", "c", "d"], source: "blobs")
}

/// A tinycnn trained naturally on the blobs (near 100 % clean), shared by the tests below.
/// Only read (eval-mode forwards, input gradients) by the tests, so sharing it across parallel tests is safe.
nonisolated(unsafe) let trainedBlobModel: Model = {
    var rng = SeededGenerator(seed: 11)
    let model = try! ModelZoo.make(ModelSpec(arch: "tinycnn", numClasses: 4, inChannels: 1, inputSize: 8), rng: &rng)
    let data = blobs(512, seed: 12)
    let sgd = SGD(parameters: model.parameters, learningRate: 0.05, momentum: 0.9)
    for step in 0..<60 {
        let idx = (0..<64).map { (step * 64 + $0) % data.count }
        let (x, y) = data.tensor(idx)
        sgd.zeroGrad()
        crossEntropy(model.forward(x, training: true), labels: y).backward()
        sgd.step()
    }
    return model
}()

func evaluate(_ attacks: String, eps: Float, sweep: [Float] = [], count: Int = 128) throws -> EvaluationResult {
    var options = EvaluationOptions(eps: eps)
    options.attacks = attacks
    options.epsSweep = sweep
    options.batchSize = 64
    return try Evaluator(model: trainedBlobModel, options: options).evaluate(blobs(count, seed: 99), checkpoint: "test")
}

@Test func naturalModelIsAccurateAndCollapsesUnderPGDAtALargeEps() throws {
    let r = try evaluate("pgd20", eps: 0.3)
    #expect(r.clean.accuracy > 0.95)
    #expect(r.attacks[0].accuracy < 0.1)
    #expect(r.worstCase.accuracy <= r.attacks[0].accuracy)
}

@Test func accuracyNeverRisesAlongAnEpsSweep() throws {
    let r = try evaluate("fgsm", eps: 0.1, sweep: [0, 0.02, 0.05, 0.1, 0.2, 0.3])
    #expect(r.epsSweep.first?.accuracy == r.clean.accuracy)
    for (a, b) in zip(r.epsSweep, r.epsSweep.dropFirst()) { #expect(b.accuracy <= a.accuracy) }
    #expect(r.warnings.isEmpty, "\(r.warnings)")
}

@Test func apgdIsAtLeastAsStrongAsPGDWithTheSameBudget() throws {
    let apgd = APGD(eps: 0.2, steps: 20, loss: .crossEntropy)
    let data = blobs(128, seed: 99)
    let (x, y) = data.tensor(Array(0..<128))
    var rng = SeededGenerator(seed: 3)
    let pgdAcc = accuracyUnder(AttackRegistry.pgdSAT(eps: 0.2, steps: 20, scale: 0.2 / AttackRegistry.referenceEps), x, y, &rng)
    let apgdAcc = accuracyUnder(apgd, x, y, &rng)
    #expect(pgdAcc < 0.9, "the budget must bite for the comparison to mean something")
    #expect(apgdAcc <= pgdAcc + 0.02, "APGD \(apgdAcc) vs PGD \(pgdAcc)")
}

func accuracyUnder(_ attack: Attack, _ x: Tensor, _ y: [Int], _ rng: inout SeededGenerator) -> Double {
    let adv = attack.perturb(trainedBlobModel, x, labels: y, rng: &rng)
    let p = predictions(trainedBlobModel, adv)
    return Double(zip(p, y).filter { $0 == $1 }.count) / Double(y.count)
}

@Test func squareLowersTheAccuracyOfANaturalModel() throws {
    let r = try evaluate("square", eps: 0.3, count: 64)
    #expect(r.attacks[0].accuracy < r.clean.accuracy - 0.3, "square \(r.attacks[0].accuracy), clean \(r.clean.accuracy)")
}

@Test func restartsNeverRaiseAccuracy() {
    let data = blobs(128, seed: 99)
    let (x, y) = data.tensor(Array(0..<128))
    let one = PGD(eps: 0.08, stepSize: 0.02, steps: 5)
    var three = one
    three.restarts = 3
    var r1 = SeededGenerator(seed: 4), r3 = SeededGenerator(seed: 4)
    let a1 = accuracyUnder(one, x, y, &r1), a3 = accuracyUnder(three, x, y, &r3)
    #expect(a3 <= a1)
}

@Test func everyAttackStaysInTheEpsBallAndTheUnitBox() throws {
    let data = blobs(16, seed: 7)
    let (x, y) = data.tensor(Array(0..<16))
    let eps: Float = 0.1
    // Every registered attack; an L2 attack's ε-ball lies inside the L∞ one.
    for entry in try AttackRegistry.parse(AttackRegistry.entries.map(\.example).joined(separator: ","), eps: eps) {
        var rng = SeededGenerator(seed: 8)
        let adv = entry.attack.perturb(trainedBlobModel, x, labels: y, rng: &rng)
        var worst: Float = 0
        for i in 0..<adv.count {
            #expect(adv.data[i] >= 0 && adv.data[i] <= 1, "\(entry.attack.name) left [0,1]")
            worst = max(worst, abs(adv.data[i] - x.data[i]))
        }
        #expect(worst <= eps + 1e-6, "\(entry.attack.name): ‖δ‖∞ = \(worst)")
    }
    // L2: per-example norm within ε.
    var rng = SeededGenerator(seed: 9)
    let adv = PGDL2(eps: 0.5, stepSize: 0.2, steps: 5).perturb(trainedBlobModel, x, labels: y, rng: &rng)
    for n in 0..<16 {
        let norm = (0..<64).reduce(Float(0)) { let d = adv.data[n * 64 + $1] - x.data[n * 64 + $1]; return $0 + d * d }.squareRoot()
        #expect(norm <= 0.5 + 1e-5)
    }
}

@Test func dlrGradientMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 10)
    let z = Tensor.uniform([3, 5], -2, 2, using: &rng)
    for targets in [nil, [3, 0, 4]] as [[Int]?] {
        let labels = [1, 2, 0]
        z.requiresGrad = true
        let g = dlrRows(z, labels: labels, targets: targets).sum().gradients(wrt: [z])[0]
        z.requiresGrad = false
        for i in 0..<z.count {
            let saved = z.data[i]
            z.data[i] = saved + 1e-3
            let plus = dlrRows(z, labels: labels, targets: targets).sumDouble()
            z.data[i] = saved - 1e-3
            let minus = dlrRows(z, labels: labels, targets: targets).sumDouble()
            z.data[i] = saved
            #expect(abs(Double(g.data[i]) - (plus - minus) / 2e-3) < 2e-3, "element \(i), targeted \(targets != nil)")
        }
    }
}

@Test func badInputGivesClearErrors() throws {
    #expect(throws: AttackError.unknownAttack("pgx20")) { _ = try AttackRegistry.parse("fgsm,pgx20", eps: 0.1) }
    #expect(throws: AttackError.invalidEps(-0.1)) { _ = try AttackRegistry.parse("fgsm", eps: -0.1) }
    var options = EvaluationOptions(eps: 0.1)
    options.attackLimit = 0
    #expect(throws: AttackError.self) { _ = try Evaluator(model: trainedBlobModel, options: options).evaluate(blobs(8, seed: 1), checkpoint: "t") }
    // Wrong image shape (RGB 8×8 for a grey model) and labels beyond the model's classes.
    let rgb = Dataset(images: [UInt8](repeating: 0, count: 2 * 3 * 64), labels: [0, 1], channels: 3, height: 8, width: 8,
                      classNames: ["a", "b"], source: "rgb")
    do {
        _ = try Evaluator(model: trainedBlobModel, options: EvaluationOptions(eps: 0.1)).evaluate(rgb, checkpoint: "t")
        Issue.record("must fail")
    } catch let e as AttackError { #expect(e.description.contains("1×8×8") && e.description.contains("3×8×8"), "\(e)") }
    let many = Dataset(images: [UInt8](repeating: 0, count: 2 * 64), labels: [0, 7], channels: 1, height: 8, width: 8,
                       classNames: (0..<8).map(String.init), source: "many")
    do {
        _ = try Evaluator(model: trainedBlobModel, options: EvaluationOptions(eps: 0.1)).evaluate(many, checkpoint: "t")
        Issue.record("must fail")
    } catch let e as AttackError { #expect(e.description.contains("label 7") && e.description.contains("4 classes"), "\(e)") }
}

@Test func restrictedObjectiveFollowsTheSelectedExamples() {
    let logits = Tensor(shape: [3, 4], scalars: [3, 1, 0, -1,  0, 2, 1, 0,  1, 0, 0, 4])
    let labels = [0, 1, 3], targets = [2, 3, 0]
    let full = AttackObjective.targetedDLR(targets: targets).rows(logits, labels: labels).scalars
    let sub = AttackObjective.targetedDLR(targets: targets).restricted(to: [2, 0])
        .rows(logits.gatherBatch([2, 0]), labels: [3, 0]).scalars
    #expect(sub == [full[2], full[0]])
}

/// An evaluation of the trained blob model at ε 0.1 on 64 blobs in batches of 32: two batches per step, so that
/// a test can count `shouldStop`'s calls per attack.
private func twoBatchEvaluation(attacks: String, sweep: [Float]) -> (Evaluator, Dataset) {
    var options = EvaluationOptions(eps: 0.1)
    options.attacks = attacks
    options.epsSweep = sweep
    options.batchSize = 32
    return (Evaluator(model: trainedBlobModel, options: options), blobs(64, seed: 99))
}

/// `shouldStop` is asked before every batch: the clean pass, each attack and each ε of the sweep; a yes
/// ends the evaluation at once (a trainer's SIGTERM during a long per-epoch evaluation).
@Test func anEvaluationAsksBeforeEveryBatchAndStopsWhenTold() throws {
    let (evaluator, data) = twoBatchEvaluation(attacks: "fgsm,pgd20", sweep: [0.1])
    var asked = 0
    _ = try evaluator.evaluate(data, checkpoint: "t", shouldStop: { asked += 1; return false })
    #expect(asked == 8, "2 batches × (clean, FGSM, PGD-20, one ε)")
    for stopAt in [1, 4, 8] {
        var calls = 0
        #expect(throws: EvaluationInterrupted.self) {
            try evaluator.evaluate(data, checkpoint: "t", shouldStop: { calls += 1; return calls == stopAt })
        }
        #expect(calls == stopAt, "nothing runs after the stop")
    }
}

/// An evaluation cut short resumes from its journal: with the batches of each attack counted, a stop in the third
/// attack's batches leaves the first two in the journal; run again, they are taken from it (no batch of theirs
/// runs: `shouldStop` is asked only for the clean pass, the third and fourth attacks and the sweep), and the result —
/// outcomes, per-example masks, example pairs, the sweep — is the uninterrupted evaluation's. The attacks draw
/// random numbers (PGD's start, Square's squares), so the journal's generator state is what makes them equal. The
/// journal is gone once the evaluation is complete, and one written for another seed is not used.
@Test func anInterruptedEvaluationResumesAfterItsFinishedAttacksWithTheSameResult() throws {
    let (evaluator, data) = twoBatchEvaluation(attacks: "fgsm,pgd5,pgd20,square", sweep: [0.05])
    let whole = try evaluator.evaluate(data, checkpoint: "t")
    let dir = NSTemporaryDirectory() + "journal-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let journal = EvaluationJournal(path: dir + "/eval.json.partial", checkpointIdentity: "sha-of-t")
    var calls = 0
    // 2 batches each: clean (1–2), FGSM (3–4), PGD-5 (5–6), PGD-20 (7–8): stop in PGD-20's second batch.
    #expect(throws: EvaluationInterrupted.self) {
        try evaluator.evaluate(data, checkpoint: "t", journal: journal, shouldStop: { calls += 1; return calls == 8 })
    }
    #expect(FileManager.default.fileExists(atPath: journal.path))
    calls = 0
    let resumed = try evaluator.evaluate(data, checkpoint: "t", journal: journal, shouldStop: { calls += 1; return false })
    #expect(calls == 2 + 2 + 2 + 2, "clean, PGD-20, Square and the sweep ran; FGSM and PGD-5 did not")
    func numbers(_ r: EvaluationResult) throws -> Data {
        var r = r
        r.seconds = 0; r.created = ""
        for i in r.attacks.indices { r.attacks[i].seconds = 0; r.attacks[i].imagesPerSecond = 0 }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try encoder.encode(r)
    }
    #expect(try numbers(resumed) == numbers(whole))
    #expect(!FileManager.default.fileExists(atPath: journal.path), "removed once complete")

    // A journal of another evaluation (another seed) is ignored: everything runs again.
    calls = 0
    #expect(throws: EvaluationInterrupted.self) {
        try evaluator.evaluate(data, checkpoint: "t", journal: journal, shouldStop: { calls += 1; return calls == 8 })
    }
    var other = evaluator.options
    other.seed = 5
    calls = 0
    _ = try Evaluator(model: trainedBlobModel, options: other).evaluate(data, checkpoint: "t", journal: journal,
                                                                      shouldStop: { calls += 1; return false })
    #expect(calls == 12, "every batch ran: 2 × (clean, four attacks, one ε)")
}
