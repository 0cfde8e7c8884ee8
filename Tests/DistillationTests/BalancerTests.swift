import Engine
import Testing
@testable import Distillation

@Test func confidentTeacherTemperatureRisesByEtaPerStep() {
    // The natural teacher is the confident one (lower entropy): τ_nat rises, τ_adv stays clipped at 1.
    var b = EntropyBalance(eta: 0.001)
    for step in 1...50 {
        b.update(entropyNat: 0.3, entropyAdv: 1.2)
        #expect(abs(b.tauNat - (1 + 0.001 * Float(step))) < 1e-5)
        #expect(b.tauAdv == 1)
    }
    // And symmetrically for a confident robust teacher.
    var c = EntropyBalance(eta: 0.01)
    for _ in 0..<10 { c.update(entropyNat: 2.0, entropyAdv: 0.5) }
    #expect(abs(c.tauAdv - 1.1) < 1e-5 && c.tauNat == 1)
}

@Test func temperaturesStayWithinOneAndTen() {
    var b = EntropyBalance(eta: 0.5)
    for _ in 0..<100 { b.update(entropyNat: 0.1, entropyAdv: 2) }
    #expect(b.tauNat == 10 && b.tauAdv == 1)
    for _ in 0..<100 { b.update(entropyNat: 2, entropyAdv: 0.1) }
    #expect(b.tauNat == 1 && b.tauAdv == 10)
    // Equal entropies move nothing.
    var e = EntropyBalance(eta: 0.5)
    e.update(entropyNat: 1, entropyAdv: 1)
    #expect(e.tauNat == 1 && e.tauAdv == 1)
}

@Test func lossWeightMovesTowardTheTeacherWithHigherRelativeLoss() {
    var w = LossBalance(beta: 1, rate: 0.025)
    w.update(lossAdv: 2.0, lossNat: 0.5)          // first batch: L(0); both relative losses are 1
    #expect(abs(w.wAdv - 0.5) < 1e-7 && abs(w.wAdv + w.wNat - 1) < 1e-7)
    // Adversarial loss barely fell (relative 0.9), natural fell a lot (relative 0.2): w_adv rises.
    w.update(lossAdv: 1.8, lossNat: 0.1)
    let r = 0.9 / (0.9 + 0.2)
    let expected = 0.025 * r + 0.975 * 0.5
    #expect(abs(Double(w.wAdv) - expected) < 1e-6)
    #expect(abs(w.wAdv + w.wNat - 1) < 1e-7)
    for _ in 0..<500 { w.update(lossAdv: 1.8, lossNat: 0.1) }
    #expect(abs(Double(w.wAdv) - r) < 1e-3, "converges to r_adv")
}

@Test func lossBalanceExponentSharpensTheWeights() {
    var w = LossBalance(beta: 2, rate: 1)   // r_w = 1: the weight equals r_adv at once
    w.update(lossAdv: 1, lossNat: 1)
    w.update(lossAdv: 0.6, lossNat: 0.3)
    #expect(abs(Double(w.wAdv) - 0.36 / (0.36 + 0.09)) < 1e-6)
}

@Test func klcAveragesOverBatchAndClassesWithEpsilonInsideTheLog() {
    // p = [[0.5, 0.5, 0], [1, 0, 0]], log q = log [[0.25, 0.25, 0.5], [0.5, 0.25, 0.25]]
    let p = Tensor(shape: [2, 3], scalars: [0.5, 0.5, 0, 1, 0, 0])
    let q: [Double] = [0.25, 0.25, 0.5, 0.5, 0.25, 0.25]
    let logQ = Tensor(shape: [2, 3], scalars: q.map { Float(log($0)) })
    var total = 0.0
    for (pi, qi) in zip([0.5, 0.5, 0, 1, 0, 0], q) { total += pi * (log(pi + 1e-5) - log(qi)) }
    let mean = klc(p, logQ, .mean).item
    let batchmean = klc(p, logQ, .batchmean).item
    #expect(abs(Double(mean) - total / 6) < 1e-6)
    #expect(abs(Double(batchmean) - total / 2) < 1e-6)
}

import Foundation
