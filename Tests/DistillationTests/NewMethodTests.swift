import Engine
import Foundation
import NN
import Testing
@testable import Distillation

/// IGDM, PeerAiD, DGAD and CIARD: each loss on hand-built logits against a value computed here in Double from
/// the paper's formula, and the behaviour each paper describes.
@Suite struct NewMethods {
    typealias Hand = DistillationLossTests
    static let x = Tensor(shape: [2, 1, 1, 1], scalars: [0.5, 0.5])

    /// Σ_k p_k (log p_k − log q_k) of two logit rows, with temperatures on each side.
    static func kl(_ p: [Double], _ q: [Double], tp: Double = 1, tq: Double = 1, epsInLog: Double = 0) -> Double {
        Hand.klRow(softmaxD(p.map { $0 / tp }), softmaxD(q.map { $0 / tq }), epsInLog: epsInLog)
    }
    static func rows(_ t: Tensor) -> [[Double]] {
        let k = t.shape[1]
        return (0..<t.shape[0]).map { i in (0..<k).map { Double(t.data[i * k + $0]) } }
    }
    static func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-5) -> Bool { abs(a - b) <= tolerance * max(1, abs(b)) }

    // MARK: - IGDM

    /// A base method with a fixed adversarial example and a zero loss: what IGDM adds is all there is.
    final class FixedAdversarial: Method {
        let name = "fixed"
        let xAdv: Tensor
        init(_ xAdv: Tensor) { self.xAdv = xAdv }
        func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
            StepOutput(loss: Tensor(shape: [1], scalars: [0]), logs: [:], adversarial: xAdv)
        }
    }

    static func igdmStep(student: Model, teacher: Model, xAdv: [Float], alpha: Float, epoch: Int, epochs: Int) -> StepOutput {
        let method = IGDMModified(base: FixedAdversarial(Tensor(shape: [2, 1, 1, 1], scalars: xAdv)), alpha: alpha)
        var context = StepContext(epoch: epoch, batchIndex: 0, numClasses: 3, teachers: Teachers(robust: teacher),
                                  rng: SeededGenerator(seed: 1), epochs: epochs)
        return method.step(student: student, x: x, labels: Hand.labels, context: &context)
    }

    @Test func igdmAddsTheHandComputedKLOfOutputDifferencesRampedByTheEpoch() throws {
        let xAdv: [Double] = [0.7, 0.35]
        var expected = 0.0
        for n in 0..<2 {
            let minus = 2 * Hand.x0 - xAdv[n]
            let dT = zip(Hand.logits(Hand.teacher, n, xAdv[n]), Hand.logits(Hand.teacher, n, minus)).map { $0 - $1 }
            let dS = zip(Hand.logits(Hand.student, n, xAdv[n]), Hand.logits(Hand.student, n, minus)).map { $0 - $1 }
            expected += Self.kl(dT, dS) / 2
        }
        #expect(expected > 1e-4, "the hand-built models disagree")
        for (epoch, epochs) in [(0, 4), (3, 4)] {
            let out = Self.igdmStep(student: Hand.HandLogits(Hand.student), teacher: Hand.HandLogits(Hand.teacher),
                                    xAdv: xAdv.map(Float.init), alpha: 2, epoch: epoch, epochs: epochs)
            let weight = 2 * Double(epoch + 1) / Double(epochs)
            #expect(Self.close(Double(try #require(out.logs["loss_igdm"])), expected))
            #expect(Self.close(Double(out.loss.item), weight * expected), "epoch \(epoch + 1) of \(epochs): weight α·e/E = \(weight)")
        }
    }

    @Test func igdmVanishesWhenStudentAndTeacherOutputDifferencesAgree() throws {
        // The same model; a student whose logits differ from the teacher's by a per-example constant
        // (other outputs, the same differences); and δ = 0 (identical outputs on both sides).
        let shifted = (base: Hand.teacher.base.map { $0.map { $0 + 3 } }, slope: Hand.teacher.slope)
        for (student, xAdv) in [(Hand.HandLogits(Hand.teacher), [0.7, 0.35]), (Hand.HandLogits(shifted), [0.7, 0.35]),
                                (Hand.HandLogits(Hand.student), [0.5, 0.5])] as [(Model, [Float])] {
            let out = Self.igdmStep(student: student, teacher: Hand.HandLogits(Hand.teacher), xAdv: xAdv, alpha: 1, epoch: 0, epochs: 1)
            #expect(abs(try #require(out.logs["loss_igdm"])) < 1e-6)
        }
        // …and does not vanish otherwise.
        let out = Self.igdmStep(student: Hand.HandLogits(Hand.student), teacher: Hand.HandLogits(Hand.teacher), xAdv: [0.7, 0.35],
                                alpha: 1, epoch: 0, epochs: 1)
        #expect(try #require(out.logs["loss_igdm"]) > 1e-4)
    }

    @Test func igdmComposesWithItsBaseThroughTheConfigAndIsValidated() throws {
        let registry = MethodRegistry.standard
        let plain = try Registries.config(method: ["name": "adaad"], registry: registry)
        let modified = try Registries.config(method: ["name": "adaad", "igdm": ["alpha": 3]], registry: registry)
        let (x, y) = MethodSteps.batch()
        func step(_ config: RunConfig) throws -> StepOutput {
            let method = try registry.make(config.method, attack: config.attack, numClasses: MethodSteps.classes)
            var context = StepContext(epoch: 1, batchIndex: 0, numClasses: MethodSteps.classes,
                                      teachers: Teachers(robust: MethodSteps.tiny(seed: 3)), rng: SeededGenerator(seed: 9), epochs: 4)
            return method.step(student: MethodSteps.tiny(seed: 1), x: x, labels: y, context: &context)
        }
        let base = try step(plain), wrapped = try step(modified)
        let term = try #require(wrapped.logs["loss_igdm"]), weight = try #require(wrapped.logs["igdm_weight"])
        #expect(weight == 3 * 2 / 4.0)
        #expect(wrapped.logs["loss_kl"] == base.logs["loss_kl"], "the base method's own loss is unchanged")
        #expect(Self.close(Double(wrapped.loss.item), Double(base.loss.item) + weight * term))
        func refusal(_ method: [String: Any]) -> String {
            do { _ = try Registries.config(method: method, registry: registry); return "accepted" } catch { return "\(error)" }
        }
        #expect(refusal(["name": "pgd_at", "igdm": [String: Any]()]).contains("igdm applies to methods with a robust teacher"))
        #expect(refusal(["name": "bmtard", "igdm": ["alpah": 1]]).contains("unknown config key 'method.igdm.alpah' — did you mean 'method.igdm.alpha'?"))
        #expect(refusal(["name": "rslad", "igdm": ["alpha": -1]]) == "config field 'method.igdm.alpha': must be ≥ 0, got -1.0")
    }

    // MARK: - PeerAiD

    @Test func peeraidLossesAreTheHandComputedOnesEachDifferentiatingItsOwnModel() throws {
        let (p, s, sNat): ([[Double]], [[Double]], [[Double]]) = ([[2, 0, -1], [0.5, 1.5, -0.5]], [[1, 0.5, 0], [-1, 1, 0.5]], [[0.2, 0.1, 0], [0, 2, 1]])
        let labels = [0, 2]
        let method = try #require(try MethodSteps.method("peeraid", ["temperature": 2, "peer_temperature": 1.5, "lambda1": 0.3,
                                                                     "lambda2": 0.7, "lambda3": 0.9, "gamma1": 1.2, "gamma2": 0.4]) as? PeerAiDTraining)
        func tensor(_ rows: [[Double]]) -> Tensor {
            let t = Tensor(shape: [rows.count, 3], scalars: rows.flatMap { $0.map(Float.init) })
            t.requiresGrad = true
            return t
        }
        let (tp, ts, tsNat) = (tensor(p), tensor(s), tensor(sNat))
        let (peerLoss, studentLoss) = method.losses(peer: tp, student: ts, studentNatural: tsNat, labels: labels)
        func ce(_ z: [Double], _ y: Int) -> Double { -log(softmaxD(z)[y]) }
        var expectedPeer = 0.0, expectedStudent = 0.0
        for i in 0..<2 {
            // KL terms averaged over B·K = 6 (PyTorch's KLDivLoss() default).
            expectedPeer += 1.2 * ce(p[i], labels[i]) / 2 + 0.4 * 1.5 * 1.5 * Self.kl(s[i], p[i], tp: 1.5, tq: 1.5) / 6
            expectedStudent += 0.3 * ce(s[i], labels[i]) / 2 + 0.7 * 4 * Self.kl(p[i], s[i], tp: 2, tq: 2) / 6
                + 0.9 * 4 * Self.kl(sNat[i], s[i], tp: 2, tq: 2) / 6
        }
        #expect(Self.close(Double(peerLoss.item), expectedPeer) && Self.close(Double(studentLoss.item), expectedStudent))
        // The peer's loss moves only the peer; the student's loss only the student (its clean side included).
        let g = peerLoss.gradients(wrt: [tp, ts])
        #expect(g[0].scalars.contains { $0 != 0 } && g[1].scalars.allSatisfy { $0 == 0 })
        let h = studentLoss.gradients(wrt: [tp, ts, tsNat])
        #expect(h[0].scalars.allSatisfy { $0 == 0 } && h[1].scalars.contains { $0 != 0 } && h[2].scalars.contains { $0 != 0 })
    }

    @Test func peeraidTrainsThePeerOnTheStudentsAdversarialExamples() throws {
        let method = try #require(try MethodSteps.method("peeraid") as? PeerAiDTraining)
        let student = MethodSteps.tiny(seed: 1)
        let (x, y) = MethodSteps.batch()
        var context = StepContext(epoch: 0, batchIndex: 0, numClasses: MethodSteps.classes, teachers: Teachers(),
                                  rng: SeededGenerator(seed: 9), learningRate: 0.03)
        let out = method.step(student: student, x: x, labels: y, context: &context)
        #expect(method.peerOptimizer.learningRate == 0.03, "the peer follows the student's learning rate")
        let xAdv = try #require(out.adversarial)
        let gap = zip(xAdv.scalars, x.scalars).map { abs($0 - $1) }
        #expect(gap.max()! > 0 && gap.max()! <= 0.1 + 1e-6, "x′ is a perturbation in the ε = 0.1 ball")
        let peerLoss = try #require(out.trainableLosses["peer"])
        let peer = method.peer
        // The gradient the trainer gives the peer is that of its loss on x′ (and not on x).
        func peerGradients(_ loss: Tensor) -> [[Float]] { loss.gradients(wrt: peer.parameters).map(\.scalars) }
        let trained = peerGradients(peerLoss)
        #expect(trained.contains { $0.contains { $0 != 0 } }, "the peer receives gradients")
        func lossOn(_ input: Tensor) -> Tensor {
            method.losses(peer: peer.forward(input, training: true), student: withNoGrad { student.forward(input, training: true) },
                          studentNatural: nil, labels: y).peer
        }
        #expect(zip(peerGradients(lossOn(xAdv)), trained).allSatisfy { zip($0, $1).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) } })
        #expect(peerGradients(lossOn(x)) != trained)
        // The student's loss gives the peer nothing.
        #expect(peerGradients(out.loss).allSatisfy { $0.allSatisfy { $0 == 0 } })
    }

    // MARK: - DGAD

    @Test func dgadPartitionsByTheTeachersCleanMistakesAndSwapsWrongTargets() {
        // Example 0 (y = 0): right on x, fooled on x′ (class 1 beats 0). Example 1 (y = 1): wrong on x (class 0),
        // right on x′. Example 2 (y = 2): wrong on both.
        let clean = Tensor(shape: [3, 3], scalars: [3, 1, 0, 2, 1, 0, 4, 0, 1])
        let adversarial = Tensor(shape: [3, 3], scalars: [0.5, 2, 1, 0, 3, 1, 1, 5, 2])
        let g = DGADTraining.guidance(teacherClean: clean, teacherAdversarial: adversarial, labels: [0, 1, 2])
        #expect(g.teacherWrong == [false, true, true])
        #expect(g.clean.scalars == [3, 1, 0, 1, 2, 0, 1, 0, 4], "wrong rows trade the label's logit with the argmax's")
        #expect(g.adversarial.scalars == [2, 0.5, 1, 0, 3, 1, 1, 2, 5], "fooled rows trade the label's logit with the strongest rival's")
    }

    @Test func dgadLossIsTheHandComputedPartitionedKLPlusConsistency() throws {
        let clean: [[Double]] = [[3, 1, 0], [2, 1, 0]], adversarial: [[Double]] = [[0.5, 2, 1], [0, 3, 1]]
        let sNat: [[Double]] = [[1, 0, 0.5], [0.2, 0.3, -1]], sAdv: [[Double]] = [[0, 1, 0.5], [1, 0.5, 0]]
        func tensor(_ rows: [[Double]]) -> Tensor { Tensor(shape: [rows.count, 3], scalars: rows.flatMap { $0.map(Float.init) }) }
        let g = DGADTraining.guidance(teacherClean: tensor(clean), teacherAdversarial: tensor(adversarial), labels: [0, 1])
        let (distill, consistency) = DGADTraining.loss(studentClean: tensor(sNat), studentAdversarial: tensor(sAdv), guidance: g)
        // Example 0 is distilled on x′ against the swapped [2, 0.5, 1]; example 1 on x against the swapped [1, 2, 0].
        let expected = (Self.kl([2, 0.5, 1], sAdv[0]) + Self.kl([1, 2, 0], sNat[1])) / 2
        var mse = 0.0
        for i in 0..<2 { for (a, b) in zip(softmaxD(sAdv[i]), softmaxD(sNat[i])) { mse += (a - b) * (a - b) / 6 } }
        #expect(Self.close(Double(distill.item), expected) && Self.close(Double(consistency.item), mse))
        // A batch the teacher gets all wrong (or all right) has no 0/0.
        let allWrong = DGADTraining.guidance(teacherClean: tensor(clean), teacherAdversarial: tensor(adversarial), labels: [2, 2])
        #expect(DGADTraining.loss(studentClean: tensor(sNat), studentAdversarial: tensor(sAdv), guidance: allWrong).distill.item.isFinite)
    }

    // MARK: - CIARD

    @Test func ciardPushLossAndItsScaleAreHandComputed() throws {
        let method = try #require(try MethodSteps.method("ciard", ["push_temperature": 3]) as? CIARDTraining)
        // The clean teacher is right on example 0, fooled on example 1 (y = 2, argmax 0).
        let t: [[Double]] = [[2, 0, 1], [3, 1, 0]], s: [[Double]] = [[0.5, 0, 1], [1, -1, 2]]
        func tensor(_ rows: [[Double]]) -> Tensor { Tensor(shape: [rows.count, 3], scalars: rows.flatMap { $0.map(Float.init) }) }
        let push = try #require(method.pushLoss(naturalOnAdversarial: tensor(t), studentOnAdversarial: tensor(s), labels: [0, 2]))
        #expect(Self.close(Double(push.item), Self.kl(t[1], s[1], tq: 3, epsInLog: 1e-5) / 3), "mean over the fooled row's K entries")
        #expect(method.pushLoss(naturalOnAdversarial: tensor(t), studentOnAdversarial: tensor(s), labels: [0, 0]) == nil)
        #expect(CIARDTraining.magnitudeScale(0.05, 0.3, 0.0012) == 10)
        #expect(CIARDTraining.magnitudeScale(2.5, 0.04, 0.5) == 0.1)
    }

    @Test func ciardLossIsBothKLTermsMinusTheScaledPush() throws {
        let method = try MethodSteps.method("ciard", ["teacher_start_epoch": 0])
        let (x, y) = MethodSteps.batch()
        // A random clean teacher is fooled on some of the 8 examples, so the push term is there.
        let wrong = MethodSteps.tiny(seed: 2)
        var context = StepContext(epoch: 0, batchIndex: 0, numClasses: MethodSteps.classes,
                                  teachers: Teachers(natural: wrong, robust: MethodSteps.tiny(seed: 3)), rng: SeededGenerator(seed: 9))
        let out = method.step(student: MethodSteps.tiny(seed: 1), x: x, labels: y, context: &context)
        let l = out.logs
        let push = try #require(l["loss_push"]), scale = try #require(l["push_scale"])
        #expect(Self.close(Double(out.loss.item), l["loss_adv"]! + l["loss_nat"]! - scale * push))
    }

    /// The trainer's step, as `Trainer.trainBatch` takes it: one backward pass, then every optimizer.
    static func trainerStep(_ method: any Method, student: Model, optimizer: Optimizer, epoch: Int, batch: Int, epochs: Int,
                            teachers: Teachers) {
        let (x, y) = MethodSteps.batch()
        optimizer.zeroGrad()
        for t in method.trainables { t.optimizer.zeroGrad() }
        var context = StepContext(epoch: epoch, batchIndex: batch, numClasses: MethodSteps.classes, teachers: teachers,
                                  rng: SeededGenerator(seed: UInt64(9 + batch)), epochs: epochs)
        let out = method.step(student: student, x: x, labels: y, context: &context)
        let stepped = method.trainables.filter { out.trainableLosses[$0.name] != nil }
        stepped.reduce(out.loss) { $0 + out.trainableLosses[$1.name]! }.backward()
        optimizer.step()
        for t in stepped { t.optimizer.step() }
    }

    @Test func ciardsRobustTeacherChangesOnlyOnItsCycle() throws {
        let env = MethodSteps.environment
        let method = try #require(try MethodRegistry.standard.make(
            Registries.config(method: ["name": "ciard", "teacher_start_epoch": 1, "teacher_every": 2, "teacher_lr": 0.05],
                              registry: .standard).method,
            attack: Registries.config(method: ["name": "ciard"], registry: .standard).attack, numClasses: MethodSteps.classes,
            environment: env) as? CIARDTraining)
        let student = MethodSteps.tiny(seed: 1)
        let optimizer = SGD(parameters: student.parameters, learningRate: 0.05, momentum: 0.9)
        let loaded = env.teachers.robust!.state.map(\.tensor.scalars)
        func teacherState() -> [[Float]] { method.teacher.state.map(\.tensor.scalars) }
        #expect(teacherState() == loaded, "it starts as the robust checkpoint")
        // (epoch, batch, on its cycle): before its start epoch never; from it, on every 2nd batch.
        for (epoch, batch, onCycle) in [(0, 0, false), (0, 1, false), (1, 0, true), (1, 1, false), (1, 2, true), (1, 3, false)] {
            let before = teacherState()
            Self.trainerStep(method, student: student, optimizer: optimizer, epoch: epoch, batch: batch, epochs: 3, teachers: env.teachers)
            #expect((teacherState() != before) == onCycle, "epoch \(epoch), batch \(batch)")
        }
        #expect(env.teachers.robust!.state.map(\.tensor.scalars) == loaded, "the loaded checkpoint itself stays frozen")
        #expect(method.teacherRate(epoch: 0, epochs: 3) == 0 && method.teacherRate(epoch: 1, epochs: 3) == 0.05)
        #expect(method.teacherRate(epoch: 2, epochs: 3) > 0 && method.teacherRate(epoch: 2, epochs: 3) < 0.05)
    }
}

extension TrainerRuns {
    /// PeerAiD's peer and CIARD's robust teacher are trained state: checkpointed with their optimizers,
    /// resumed bit for bit, and checked for NaN like the student.
    @Suite struct TrainedCompanions {
        func trainer(_ dir: TempDir, method: [String: Any], epochs: Int, output: String) throws -> Trainer {
            var object = try configObject(dir, method: method["name"] as! String, epochs: epochs, output: output)
            set(&object, "method", method)
            return try Trainer(config: try loadConfig(object, in: dir))
        }

        @Test(arguments: ["peeraid", "ciard"])
        func trainingStraightEqualsHalfThenResume(name: String) throws {
            // CIARD's teacher is trained from the first epoch, on every 2nd batch. PeerAiD averages the student from
            // the first epoch, so that the 1-epoch run starts its average where the 2-epoch run does (⌊f·E⌋ = 0).
            let (method, trainable): ([String: Any], String) = name == "peeraid" ? (["name": name, "swa_start": 0], "peer")
                : (["name": name, "teacher_start_epoch": 0, "teacher_every": 2, "teacher_lr": 0.01], "robust_teacher")
            let dir = TempDir()
            let straight = try trainer(dir, method: method, epochs: 2, output: "a")
            #expect(try straight.run() == .finished)
            #expect(try trainer(dir, method: method, epochs: 1, output: "b").run() == .finished)
            let resumed = try trainer(dir, method: method, epochs: 2, output: "b")
            #expect(try resumed.run(resume: true) == .finished)
            let a = try SafeTensorsFile.read(path: straight.checkpointPath), b = try SafeTensorsFile.read(path: resumed.checkpointPath)
            let prefix = Trainer.trainablePrefix(trainable)
            #expect(a.entries.contains { $0.name.hasPrefix(prefix + "model.") } && a.entries.contains { $0.name.hasPrefix(prefix + "optimizer.") })
            #expect(a.entries.map(\.name).sorted() == b.entries.map(\.name).sorted())
            for e in a.entries { #expect(try #require(b[e.name]).values.map(\.bitPattern) == e.values.map(\.bitPattern), "\(e.name)") }
            // It was trained: its weights are not where they started.
            let start = try trainer(dir, method: method, epochs: 2, output: "c").method.trainables[0].model
            let key = start.state.first { $0.isParameter }!.key
            #expect(try #require(a[prefix + "model." + key]).values != start.state.first { $0.key == key }!.tensor.scalars)
        }

        @Test func aNaNInThePeerStopsTheRunNamingIt() throws {
            let dir = TempDir()
            let t = try trainer(dir, method: ["name": "peeraid"], epochs: 1, output: "a")
            let peer = t.method.trainables[0].model
            t.beforeStep = { _, b, _ in if b == 1 { peer.parameters[0].data[0] = .nan } }
            let error = try #require(throws: TrainerError.self) { try t.run() }
            guard case let .nonFinite(what, epoch, batch) = error else { Issue.record("\(error)"); return }
            #expect(what.hasSuffix("of the peer") && epoch == 1 && batch == 2, "\(error)")
        }
    }
}
