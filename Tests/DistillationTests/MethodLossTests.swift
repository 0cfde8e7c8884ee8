import Engine
import Foundation
import NN
import Testing
@testable import Distillation

/// logits = W·flatten(x): a model whose loss is easy to compute by hand.
final class LinearProbe: Model {
    let spec: ModelSpec
    let weight: Tensor
    init(classes: Int, features: Int, seed: UInt64) {
        spec = ModelSpec(arch: "linear-probe", numClasses: classes, inChannels: 1, inputSize: 1)
        var rng = SeededGenerator(seed: seed)
        weight = Tensor.uniform([classes, features], -1, 1, using: &rng)
        weight.requiresGrad = true
    }
    func forward(_ x: Tensor, training: Bool) -> Tensor { linear(x.flattened(), weight: weight, bias: nil) }
    var state: [StateEntry] { [StateEntry(key: "weight", tensor: weight, isParameter: true)] }
}

func softmaxD(_ z: [Double]) -> [Double] {
    let m = z.max()!
    let e = z.map { exp($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
}

@Test func tradesLossEqualsHandComputedValueAndDifferentiatesBothSides() {
    let model = LinearProbe(classes: 3, features: 4, seed: 1)
    var rng = SeededGenerator(seed: 2)
    let x = Tensor.uniform([2, 4, 1, 1], 0, 1, using: &rng)
    let xAdv = Tensor.uniform([2, 4, 1, 1], 0, 1, using: &rng)
    let y = [2, 0]
    // Hand computation in Double.
    func handLoss(_ w: [Float]) -> Double {
        var total = 0.0
        for n in 0..<2 {
            func logits(_ t: Tensor) -> [Double] {
                (0..<3).map { k in (0..<4).reduce(0.0) { $0 + Double(w[k * 4 + $1]) * Double(t.data[n * 4 + $1]) } }
            }
            let p = softmaxD(logits(x)), q = softmaxD(logits(xAdv))
            total += -log(p[y[n]]) / 2
            total += 6 * (0..<3).reduce(0.0) { $0 + p[$1] * (log(p[$1]) - log(q[$1])) } / 2
        }
        return total
    }
    let (loss, _, _) = TRADESTraining.loss(student: model, x: x, xAdv: xAdv, labels: y, beta: 6)
    let w0 = model.weight.scalars
    #expect(abs(Double(loss.item) - handLoss(w0)) < 1e-5)
    loss.backward()
    // Finite differences of the *whole* loss: if the clean side were detached, they would disagree.
    for i in 0..<w0.count {
        var plus = w0, minus = w0
        plus[i] += 1e-3; minus[i] -= 1e-3
        let numeric = (handLoss(plus) - handLoss(minus)) / 2e-3
        #expect(abs(Double(model.weight.grad!.data[i]) - numeric) < 1e-3, "∂L/∂w[\(i)]")
    }
}

@Test func ardScalesTheDistillationTermByTSquared() {
    // With α = 1 and T = 30 the loss is T²·KLc(softmax(T_adv(x)/T), log_softmax(S(x′)/T)).
    let teacherLogits: [Float] = [3, 1, -2], studentLogits: [Float] = [0.5, 2, -1]
    let p = softmax(Tensor(shape: [1, 3], scalars: teacherLogits), temperature: 30)
    let logQ = logSoftmax(Tensor(shape: [1, 3], scalars: studentLogits), temperature: 30)
    let value = (30 * 30 * klc(p, logQ, .mean)).item
    let pd = softmaxD(teacherLogits.map { Double($0) / 30 }), qd = softmaxD(studentLogits.map { Double($0) / 30 })
    let expected = 900 * (0..<3).reduce(0.0) { $0 + pd[$1] * (log(pd[$1] + 1e-5) - log(qd[$1])) } / 3
    #expect(abs(Double(value) - expected) / expected < 1e-3)
}
