import Engine
import Foundation
import NN
import Testing
@testable import Distillation

/// The B-MTARD balancers driven by teachers of known confidence (each method's step: `RegistryTests`).
@Suite struct MethodSteps {
    static let classes = 10

    static func tiny(seed: UInt64) -> Model {
        var rng = SeededGenerator(seed: seed)
        return try! ModelZoo.make(ModelSpec(arch: "tinycnn", numClasses: classes, inChannels: 1, inputSize: side), rng: &rng)
    }

    /// A batch of 8 random images in [0, 1] with labels 0…7.
    static func batch() -> (Tensor, [Int]) {
        var rng = SeededGenerator(seed: 5)
        return (Tensor.uniform([8, 1, side, side], 0, 1, using: &rng), Array(0..<8))
    }

    /// The method as the registry builds it from a config with these method and training-attack parameters.
    static func method(_ name: String, _ parameters: [String: Any] = [:],
                       attack: [String: Any] = ["eps": 0.1, "step_size": 0.05, "steps": 2]) throws -> any Method {
        var m: [String: Any] = ["name": name]
        m.merge(parameters) { $1 }
        let object: [String: Any] = [
            "name": "t", "data": ["train": ["path": "-"], "test": ["path": "-"]], "model": ["arch": "tinycnn"],
            "teachers": ["natural": ["checkpoint": "-"], "robust": ["checkpoint": "-"]], "method": m,
            "attack": attack, "epochs": 1,
        ]
        let config = try JSONDecoder().decode(RunConfig.self, from: JSONSerialization.data(withJSONObject: object))
        return try MethodRegistry.standard.make(config.method, attack: config.attack, numClasses: classes, environment: environment)
    }

    /// The tiny student's architecture and the tiny teachers (seeds 2 and 3), for methods that build models.
    static var environment: MethodEnvironment {
        MethodEnvironment(student: tiny(seed: 1).spec, teachers: Teachers(natural: tiny(seed: 2), robust: tiny(seed: 3)), seed: 4)
    }

    /// The balancer state of MTARD or B-MTARD.
    static func balancer(_ method: any Method) -> BalancerState { method.state.balancer! }

    /// Mean entropy (nats) of softmax(logits/τ) rows, in Double.
    static func meanEntropy(_ logits: Tensor, tau: Double) -> Double {
        let k = logits.shape[1], n = logits.shape[0]
        var total = 0.0
        for i in 0..<n {
            let z = (0..<k).map { Double(logits.data[i * k + $0]) / tau }
            let m = z.max()!
            let e = z.map { exp($0 - m) }, s = e.reduce(0, +)
            total -= e.map { $0 / s }.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
        }
        return total / Double(n)
    }

    @Test func bmtardSoftensTheConfidentTeacherAndWeighsTheLaggingLoss() throws {
        // The clean teacher is confident (logits ×8), the robust one nearly uniform (logits ×0.05):
        // H_nat < H_adv, so each step τ_nat ← τ_nat + η and τ_adv stays clipped at 1.
        let eta = 0.05, rate = 0.2
        let natural = ScaledLogits(Self.tiny(seed: 2), scale: 8), robust = ScaledLogits(Self.tiny(seed: 3), scale: 0.05)
        let method = try Self.method("bmtard", ["eta": eta, "weight_rate": rate])
        let student = Self.tiny(seed: 1)
        let (x, y) = Self.batch()
        let naturalLogits = withNoGrad { natural.forward(x, training: false) }
        var context = StepContext(epoch: 0, batchIndex: 0, numClasses: Self.classes,
                                  teachers: Teachers(natural: natural, robust: robust), rng: SeededGenerator(seed: 9))
        var wAdv = 0.5
        var first: (adv: Double, nat: Double)?
        for step in 0..<4 {
            let out = method.step(student: student, x: x, labels: y, context: &context)
            let logs = out.logs
            // The temperature used is the one set by the previous steps; the update applies next batch.
            let tauUsed = 1 + Double(step) * eta
            #expect(abs(logs["tau_nat_used"]! - tauUsed) < 1e-5 && logs["tau_adv_used"] == 1)
            #expect(abs(logs["entropy_nat"]! - Self.meanEntropy(naturalLogits, tau: tauUsed)) < 1e-4)
            #expect(logs["entropy_nat"]! < logs["entropy_adv"]!)
            #expect(abs(Double(Self.balancer(method).tauNat) - (1 + Double(step + 1) * eta)) < 1e-5 && Double(Self.balancer(method).tauAdv) == 1)
            // Normalization Loss Balance from this batch's losses relative to the first batch's.
            let (la, ln) = (logs["loss_adv"]!, logs["loss_nat"]!)
            if first == nil { first = (la, ln) }
            let ra = la / first!.adv, rn = ln / first!.nat
            wAdv = rate * ra / (ra + rn) + (1 - rate) * wAdv
            #expect(abs(Double(Self.balancer(method).wAdv) - wAdv) < 1e-5 && abs(Double(Self.balancer(method).wNat) - (1 - wAdv)) < 1e-5)
            #expect(abs(Double(out.loss.item) - (wAdv * la + (1 - wAdv) * ln)) < 1e-5 * max(1, la + ln))
            out.loss.backward()
            SGD(parameters: student.parameters, learningRate: 0.1).step()
            for p in student.parameters { p.grad = nil }
        }
        #expect(Double(Self.balancer(method).wAdv) != 0.5, "the weights moved once the losses did")
    }

    @Test func mtardKeepsBothTemperaturesAtOne() throws {
        let method = try Self.method("mtard", ["weight_rate": 0.2])
        let student = Self.tiny(seed: 1)
        let (x, y) = Self.batch()
        var context = StepContext(epoch: 0, batchIndex: 0, numClasses: Self.classes,
                                  teachers: Teachers(natural: ScaledLogits(Self.tiny(seed: 2), scale: 8), robust: Self.tiny(seed: 3)),
                                  rng: SeededGenerator(seed: 9))
        for _ in 0..<3 { _ = method.step(student: student, x: x, labels: y, context: &context) }
        #expect(Double(Self.balancer(method).tauNat) == 1 && Double(Self.balancer(method).tauAdv) == 1)
    }

    @Test func etaAndWeightRateDecayTenfoldPerLearningRateDecay() throws {
        let method = try Self.method("bmtard", ["eta": 0.1, "weight_rate": 0.5])
        method.epochStarted(0, lrDecays: 0)
        #expect(abs(Double(Self.balancer(method).eta) - 0.1) < 1e-7 && abs(Double(Self.balancer(method).weightRate) - 0.5) < 1e-7)
        method.epochStarted(7, lrDecays: 2)
        #expect(abs(Double(Self.balancer(method).eta) - 0.001) < 1e-9 && abs(Double(Self.balancer(method).weightRate) - 0.005) < 1e-9)
        // The decayed η is the step the temperature then takes.
        let (x, y) = Self.batch()
        var context = StepContext(epoch: 7, batchIndex: 0, numClasses: Self.classes,
                                  teachers: Teachers(natural: ScaledLogits(Self.tiny(seed: 2), scale: 8),
                                                     robust: ScaledLogits(Self.tiny(seed: 3), scale: 0.05)),
                                  rng: SeededGenerator(seed: 9))
        _ = method.step(student: Self.tiny(seed: 1), x: x, labels: y, context: &context)
        #expect(abs(Double(Self.balancer(method).tauNat) - 1.001) < 1e-6)
    }
}
