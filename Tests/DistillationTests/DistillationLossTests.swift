import Engine
import Foundation
import NN
import Testing
@testable import Distillation

/// RSLAD, IAD and AdaAD on hand-built logits: every expected loss is computed here in Double from the
/// methods' formulas (DESIGN.md "Methods"), never from the code under test.
///
/// Each model sees one pixel per example, x: [N, 1, 1, 1], and gives logits `base[n] + (x − 0.5)·slope`:
/// at the clean input 0.5 the hand-chosen `base`, and along `slope` elsewhere. The training attack is one
/// signed step of ε = 0.25 from the clean input (no random start), so x′ = 0.5 ± 0.25 per example, on the
/// side where the attack's objective grows: found here by a central difference of that objective in Double.
@Suite struct DistillationLossTests {
    static let x0 = 0.5, eps = 0.25
    static let labels = [0, 1]
    /// The robust teacher and the student (2 examples, 3 classes).
    static let teacher = (base: [[2.0, 0, -1], [0.5, 1.5, -0.5]], slope: [0.3, -0.2, 0.1])
    static let student = (base: [[1.0, 0.5, 0], [-1, 1, 0.5]], slope: [1.0, -1, 0.5])
    static var attack: [String: Any] { ["eps": eps, "step_size": eps, "steps": 1, "start": "none"] }

    /// logits = base[n] + (x[n] − x0)·slope; `slope` is the model's one parameter (the student's gradient).
    final class HandLogits: Model {
        let spec = ModelSpec(arch: "hand-logits", numClasses: 3, inChannels: 1, inputSize: 1)
        let base: [[Double]]
        let slope: Tensor
        init(_ m: (base: [[Double]], slope: [Double])) {
            base = m.base
            slope = Tensor(shape: [m.slope.count, 1], scalars: m.slope.map(Float.init))
            slope.requiresGrad = true
        }
        func forward(_ x: Tensor, training: Bool) -> Tensor {
            let k = slope.count
            let offset = (0..<x.shape[0]).flatMap { n in (0..<k).map { Float(base[n][$0] - DistillationLossTests.x0 * Double(slope.data[$0])) } }
            return linear(x.flattened(), weight: slope, bias: nil) + Tensor(shape: [x.shape[0], k], scalars: offset)
        }
        var state: [StateEntry] { [StateEntry(key: "slope", tensor: slope, isParameter: true)] }
    }

    // MARK: - The same models in Double

    static func logits(_ m: (base: [[Double]], slope: [Double]), _ n: Int, _ x: Double, temperature: Double = 1) -> [Double] {
        zip(m.base[n], m.slope).map { ($0 + (x - x0) * $1) / temperature }
    }
    /// Σ_k p_k (log(p_k + ε) − log q_k): one row of KL(p ‖ q), with the methods' ε inside the log (or none).
    static func klRow(_ p: [Double], _ q: [Double], epsInLog: Double = 1e-5) -> Double {
        zip(p, q).reduce(0) { $0 + $1.0 * (log($1.0 + epsInLog) - log($1.1)) }
    }
    /// x′ of example n: one step of ε up the objective's slope at the clean input.
    static func adversarial(_ objective: (Double) -> Double) -> Double {
        let slope = objective(x0 + 1e-4) - objective(x0 - 1e-4)
        #expect(abs(slope) > 1e-7, "the hand-built objective must have a direction")
        return x0 + (slope > 0 ? eps : -eps)
    }

    static func step(_ method: any Method, epoch: Int = 0) -> (StepOutput, HandLogits) {
        let student = HandLogits(Self.student)
        var context = StepContext(epoch: epoch, batchIndex: 0, numClasses: 3,
                                  teachers: Teachers(robust: HandLogits(Self.teacher)), rng: SeededGenerator(seed: 1))
        let x = Tensor(shape: [2, 1, 1, 1], scalars: [Float(x0), Float(x0)])
        return (method.step(student: student, x: x, labels: labels, context: &context), student)
    }

    @Test func rsladWeighsTheAdversarialTermFiveSixthsWithTheTeacherOnCleanInputs() throws {
        // x′ maximises KL(T(x) ‖ S(x′)); loss (5/6)·KLc(T(x), S(x′)) + (1/6)·KLc(T(x), S(x)), KLc the mean over B·K.
        var adv = 0.0, nat = 0.0
        for n in 0..<2 {
            let p = softmaxD(Self.logits(Self.teacher, n, Self.x0))
            let xAdv = Self.adversarial { x in Self.klRow(p, softmaxD(Self.logits(Self.student, n, x)), epsInLog: 0) }
            adv += Self.klRow(p, softmaxD(Self.logits(Self.student, n, xAdv))) / 6
            nat += Self.klRow(p, softmaxD(Self.logits(Self.student, n, Self.x0))) / 6
        }
        let (out, student) = Self.step(try MethodSteps.method("rslad", attack: Self.attack))
        #expect(abs(out.logs["loss_adv"]! - adv) < 1e-6 && abs(out.logs["loss_nat"]! - nat) < 1e-6, "\(out.logs) vs \(adv), \(nat)")
        #expect(abs(Double(out.loss.item) - (5 * adv + nat) / 6) < 1e-6)
        out.loss.backward()
        #expect(student.slope.grad != nil, "the loss reaches the student")
    }

    @Test func rsladBatchmeanIsKTimesTheMean() throws {
        let (mean, _) = Self.step(try MethodSteps.method("rslad", attack: Self.attack))
        let (batchmean, _) = Self.step(try MethodSteps.method("rslad", ["kl_reduction": "batchmean"], attack: Self.attack))
        #expect(abs(Double(batchmean.loss.item) - 3 * Double(mean.loss.item)) < 1e-6)
    }

    @Test func iadAddsTheIntrospectionTermFromItsStartEpoch() throws {
        // ARD with T = 4, α = 0.5: α·T²·KLc(T(x)/T ‖ S(x′)/T) + (1 − α)·CE(S(x), y), x′ up the student's CE;
        // from epoch `iad_start_epoch` also mean_b (1 − p_T(x′)[y]^0.1)·KL(S(x) ‖ S(x′)) (no ε in that log).
        let (t, alpha) = (4.0, 0.5)
        var distill = 0.0, ce = 0.0, introspection = 0.0
        for n in 0..<2 {
            let y = Self.labels[n]
            let xAdv = Self.adversarial { x in -log(softmaxD(Self.logits(Self.student, n, x))[y]) }
            let pT = softmaxD(Self.logits(Self.teacher, n, Self.x0, temperature: t))
            distill += t * t * Self.klRow(pT, softmaxD(Self.logits(Self.student, n, xAdv, temperature: t))) / 6
            let sNat = softmaxD(Self.logits(Self.student, n, Self.x0)), sAdv = softmaxD(Self.logits(Self.student, n, xAdv))
            ce -= log(sNat[y]) / 2
            let trust = 1 - pow(softmaxD(Self.logits(Self.teacher, n, xAdv))[y], 0.1)
            introspection += trust * Self.klRow(sNat, sAdv, epsInLog: 0) / 2
        }
        let parameters: [String: Any] = ["temperature": t, "alpha": alpha, "iad_start_epoch": 3]
        let ard = alpha * distill + (1 - alpha) * ce
        let (before, _) = Self.step(try MethodSteps.method("iad", parameters, attack: Self.attack), epoch: 2)
        #expect(abs(Double(before.loss.item) - ard) < 1e-5, "epoch 2: the ARD loss alone, \(before.loss.item) vs \(ard)")
        #expect(before.logs["loss_introspection"] == nil)
        let (from, _) = Self.step(try MethodSteps.method("iad", parameters, attack: Self.attack), epoch: 3)
        #expect(abs(from.logs["loss_introspection"]! - introspection) < 1e-6)
        #expect(abs(from.logs["loss_kd"]! - distill) < 1e-5 && abs(from.logs["loss_ce"]! - ce) < 1e-6)
        #expect(abs(Double(from.loss.item) - (ard + introspection)) < 1e-5, "epoch 3: \(from.loss.item) vs \(ard + introspection)")
    }

    @Test func adaadMovesBothModelsToWhereTheyDisagreeMost() throws {
        // x′ maximises KL(T(x′) ‖ S(x′)), the teacher moving with the student; loss KL(T(x′) ‖ S(x′)),
        // by default summed over classes and averaged over the batch ("batchmean").
        var expected = 0.0
        for n in 0..<2 {
            func disagreement(_ x: Double) -> Double {
                Self.klRow(softmaxD(Self.logits(Self.teacher, n, x)), softmaxD(Self.logits(Self.student, n, x)), epsInLog: 0)
            }
            let xAdv = Self.adversarial(disagreement)
            expected += Self.klRow(softmaxD(Self.logits(Self.teacher, n, xAdv)), softmaxD(Self.logits(Self.student, n, xAdv))) / 2
        }
        let (out, _) = Self.step(try MethodSteps.method("adaad", attack: Self.attack))
        #expect(abs(Double(out.loss.item) - expected) < 1e-6, "\(out.loss.item) vs \(expected)")
        #expect(abs(out.logs["loss_kl"]! - expected) < 1e-6)
    }
}
