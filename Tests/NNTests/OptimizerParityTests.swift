import Engine
import Foundation
import Testing
@testable import NN

/// The optimizer and schedule cases of Fixtures/optimizer.json, written by Fixtures/make_optimizer_fixture.py
/// with torch.optim (its docstring has the inputs). Every number here is PyTorch's.
struct OptimizerFixture: Decodable, Sendable {
    struct OptimizerCase: Decodable, Sendable, CustomTestStringConvertible {
        let name: String, optimizer: String, lr: Float
        let momentum: Float?, dampening: Float?, nesterov: Bool?, weight_decay: Float?
        let beta1: Float?, beta2: Float?, eps: Float?
        /// Per step: a's gradient, b's gradient (nil: b has none that step).
        let gradients: [[[Float]?]]
        /// [a0, a1, b0, b1] after each step.
        let after_step: [[Double]]
        var testDescription: String { name }
    }

    struct ScheduleCase: Decodable, Sendable, CustomTestStringConvertible {
        /// Our schedule, spelt as in a run config's `schedule` (plus `start_factor` for the warm-up).
        struct Ours: Decodable, Sendable {
            let name: String
            let milestones: [Int]?, gamma: Float?, min_lr: Float?
            let warmup_epochs: Int?, start_factor: Float?
            let schedule: Box?
        }
        final class Box: Decodable, Sendable {
            let value: Ours
            init(from decoder: Decoder) throws { value = try Ours(from: decoder) }
        }
        let name: String, base: Float, epochs: Int, batches_per_epoch: Int
        let ours: Ours
        /// The rate before each batch, batch t = epoch·batches_per_epoch + batch.
        let rates: [Double]
        var testDescription: String { name }
    }

    let optimizers: [OptimizerCase]
    let schedules: [ScheduleCase]

    static let shared: OptimizerFixture = {
        let path = fixturesDirectory + "/optimizer.json"
        do { return try JSONDecoder().decode(OptimizerFixture.self, from: Data(contentsOf: URL(fileURLWithPath: path))) }
        catch { fatalError("cannot read \(path): \(error)") }
    }()
}

@Suite struct OptimizerParityTests {
    /// The optimizer the case describes, over parameters `a` and `b`.
    static func make(_ c: OptimizerFixture.OptimizerCase, _ parameters: [Tensor]) -> Optimizer {
        switch c.optimizer {
        case "sgd":
            return SGD(parameters: parameters, learningRate: c.lr, momentum: c.momentum ?? 0,
                       dampening: c.dampening ?? 0, weightDecay: c.weight_decay ?? 0, nesterov: c.nesterov ?? false)
        case "adam":
            return Adam(parameters: parameters, learningRate: c.lr, beta1: c.beta1 ?? 0.9, beta2: c.beta2 ?? 0.999,
                        eps: c.eps ?? 1e-8, weightDecay: c.weight_decay ?? 0)
        default:
            fatalError("unknown optimizer \(c.optimizer) in the fixture")
        }
    }

    /// Three steps with PyTorch's gradients (b has none at the second step, so its state must not move)
    /// land on PyTorch's parameters after every step.
    @Test(arguments: OptimizerFixture.shared.optimizers)
    func threeStepsMatchTorchOptim(_ c: OptimizerFixture.OptimizerCase) {
        let a = Tensor(shape: [2], scalars: [1, -2]), b = Tensor(shape: [2], scalars: [0.5, 3])
        let optimizer = Self.make(c, [a, b])
        for (k, (grads, expected)) in zip(c.gradients, c.after_step).enumerated() {
            optimizer.zeroGrad()
            a.grad = Tensor(shape: [2], scalars: grads[0]!)
            b.grad = grads[1].map { Tensor(shape: [2], scalars: $0) }
            optimizer.step()
            for (value, torch) in zip(a.scalars + b.scalars, expected) {
                #expect(value.isClose(to: torch, rtol: 1e-6, atol: 1e-7), "step \(k + 1): \(value) vs PyTorch \(torch)")
            }
        }
        #expect(optimizer.stepCount == 3)
    }

    /// Resuming from `stateTensors` after the second step gives PyTorch's third step: the state holds
    /// everything the update needs (momentum buffers; Adam's moments and per-parameter step counts).
    @Test(arguments: OptimizerFixture.shared.optimizers)
    func stateSavedMidwayContinuesTheSameTrajectory(_ c: OptimizerFixture.OptimizerCase) throws {
        let a = Tensor(shape: [2], scalars: [1, -2]), b = Tensor(shape: [2], scalars: [0.5, 3])
        let first = Self.make(c, [a, b])
        for grads in c.gradients.prefix(2) {
            a.grad = Tensor(shape: [2], scalars: grads[0]!)
            b.grad = grads[1].map { Tensor(shape: [2], scalars: $0) }
            first.step()
            first.zeroGrad()
        }
        let saved = Dictionary(uniqueKeysWithValues: first.stateTensors().map { ($0.0, $0.1.detachedCopy()) })
        let second = Self.make(c, [a, b])
        try second.loadState(saved)
        a.grad = Tensor(shape: [2], scalars: c.gradients[2][0]!)
        b.grad = c.gradients[2][1].map { Tensor(shape: [2], scalars: $0) }
        second.step()
        for (value, torch) in zip(a.scalars + b.scalars, c.after_step[2]) {
            #expect(value.isClose(to: torch, rtol: 1e-6, atol: 1e-7), "resumed step 3: \(value) vs PyTorch \(torch)")
        }
    }
}
