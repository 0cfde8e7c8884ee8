import Engine
import Foundation
import Testing

/// Softmax, log-softmax and the losses against finite differences, hand-computed values and the
/// known limits at logits of ±1000.
enum SoftmaxLossOp: String, CaseIterable, CustomTestStringConvertible {
    case softmax, softmaxT3, logSoftmax, logSoftmaxT3, crossEntropy, crossEntropyRows
    case klEps0, klEps1e5, klThroughSoftmaxAndLogSoftmax, marginUnclamped, marginMixed

    var testDescription: String { rawValue }

    static let labels = [1, 4, 0, 2]

    func inputs() -> [Tensor] {
        switch self {
        case .klEps0, .klEps1e5:
            // p strictly positive (≥ 0.25, far above the FD step), logQ arbitrary.
            [smoothInput([4, 5], seed: 41).clampedPositive(), smoothInput([4, 5], seed: 42, scale: 3)]
        case .klThroughSoftmaxAndLogSoftmax:
            [smoothInput([4, 5], seed: 43, scale: 2), smoothInput([4, 5], seed: 44, scale: 2)]
        case .marginUnclamped, .marginMixed:
            [separatedLogits(rows: 4, classes: 5, seed: 45)]
        default:
            [smoothInput([4, 5], seed: 46, scale: 2)]
        }
    }

    func apply(_ x: [Tensor]) -> Tensor {
        switch self {
        case .softmax: Engine.softmax(x[0])
        case .softmaxT3: Engine.softmax(x[0], temperature: 3)
        case .logSoftmax: Engine.logSoftmax(x[0])
        case .logSoftmaxT3: Engine.logSoftmax(x[0], temperature: 3)
        case .crossEntropy: Engine.crossEntropy(x[0], labels: Self.labels)
        case .crossEntropyRows: Engine.crossEntropyRows(x[0], labels: Self.labels)
        case .klEps0: klDivergenceRows(target: x[0], logQ: x[1])
        case .klEps1e5: klDivergenceRows(target: x[0], logQ: x[1], epsInLog: 1e-5)
        // The distillation loss as methods build it: tempered teacher softmax against student log-softmax.
        case .klThroughSoftmaxAndLogSoftmax:
            klDivergenceRows(target: Engine.softmax(x[0], temperature: 2), logQ: Engine.logSoftmax(x[1]), epsInLog: 1e-5)
        case .marginUnclamped: marginRows(x[0], labels: Self.labels, kappa: 50)
        // Margins of separatedLogits lie within 0.1 of multiples of 0.3: κ = 0.45 clamps some rows
        // and leaves others, with every margin ≥ 0.05 from the kink.
        case .marginMixed: marginRows(x[0], labels: Self.labels, kappa: 0.45)
        }
    }
}

/// Rows that are permutations of 0, 0.3, 0.6, … plus noise in [0, 0.04): every pair of logits in
/// a row differs by ≥ 0.26, so no FD step changes which entry is the runner-up.
func separatedLogits(rows: Int, classes: Int, seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    let t = Tensor(uninitializedShape: [rows, classes])
    for i in 0..<rows {
        let order = Array(0..<classes).shuffled(using: &rng)
        for j in 0..<classes { t.data[i * classes + j] = 0.3 * Float(order[j]) - 0.6 + rng.uniform(0, 0.04) }
    }
    return t
}

@Test(arguments: SoftmaxLossOp.allCases)
func softmaxAndLossGradientMatchesFiniteDifferences(_ op: SoftmaxLossOp) {
    GradientCheck(h: 1e-3).check(op.rawValue, inputs: op.inputs(), op.apply)
}

@Test func marginMixedCaseReallyClampsSomeRowsAndNotOthers() {
    // Guards the FD case above: with κ = 0.45 both branches of the margin must be exercised.
    let margins = marginRows(separatedLogits(rows: 4, classes: 5, seed: 45), labels: SoftmaxLossOp.labels, kappa: 0.45)
    #expect(margins.scalars.contains(-0.45))
    #expect(margins.scalars.contains { $0 > -0.45 })
}

@Test func softmaxAtTemperatureDividesTheLogits() {
    // softmax([0, 2 ln 2, 2 ln 3] / 2) = [1, 2, 3] / 6; log-softmax is its log.
    let z = Tensor(shape: [1, 3], scalars: [0, 2 * Foundation.log(2), 2 * Foundation.log(3)])
    expectClose(softmax(z, temperature: 2).scalars, [1.0 / 6, 2.0 / 6, 3.0 / 6], tolerance: 1e-7)
    expectClose(logSoftmax(z, temperature: 2).scalars,
                [-Foundation.log(6), -Foundation.log(3), -Foundation.log(2)], tolerance: 1e-6)
}

@Test func crossEntropyOfOneRowMatchesHandComputation() {
    // CE([1, 2, 3], y = 2) = ln(e + e² + e³) − 3 = ln(1 + e⁻¹ + e⁻²) = 0.40760596;
    // ∂/∂z = softmax − onehot = [0.09003057, 0.24472847, 0.66524096 − 1].
    let z = Tensor(shape: [1, 3], scalars: [1, 2, 3], requiresGrad: true)
    let loss = crossEntropy(z, labels: [2])
    expectClose(loss.scalars, [0.40760596], tolerance: 1e-6)
    loss.backward()
    expectClose(z.grad!.scalars, [0.09003057, 0.24472847, -0.33475904], tolerance: 1e-6)
}

@Test func extremeLogitsGiveFiniteValuesAndTheKnownLimits() {
    // Row 0 is confidently right (CE → 0), row 1 confidently wrong (CE → 1000 − (−1000) = 2000).
    let z = Tensor(shape: [2, 2], scalars: [1000, -1000, -1000, 1000], requiresGrad: true)
    let rows = crossEntropyRows(z, labels: [0, 0])
    expectClose(rows.scalars, [0, 2000], tolerance: 0)
    let dzRows = rows.gradients(wrt: [z], seed: Tensor(repeating: 1, shape: [2]))[0]
    expectClose(dzRows.scalars, [0, 0, -1, 1], tolerance: 0)  // softmax − onehot = [0, 1] − [1, 0] in row 1
    let mean = crossEntropy(z, labels: [0, 0])
    expectClose(mean.scalars, [1000], tolerance: 0)
    expectClose(mean.gradients(wrt: [z])[0].scalars, [0, 0, -0.5, 0.5], tolerance: 0)

    for tau: Float in [1, 3] {
        let p = softmax(z, temperature: tau), logP = logSoftmax(z, temperature: tau)
        expectClose(p.scalars, [1, 0, 0, 1], tolerance: 0)
        expectClose(logP.scalars, [0, -2000 / tau, -2000 / tau, 0], tolerance: 1e-4)
        for out in [p, logP] {
            let dz = out.gradients(wrt: [z], seed: Tensor(shape: [2, 2], scalars: [0.3, -0.7, 1.1, 0.2]))[0]
            #expect(dz.scalars.allSatisfy { $0.isFinite }, "τ = \(tau): \(dz)")
        }
    }

    // KL(softmax(z) ‖ softmax(−z)): p = onehot, log q = −2000 where p = 1 → 2000 per row, with ε = 0
    // and with ε = 1e-5 (log(1 + 1e-5) ≈ 1e-5 is below Float resolution at 2000). The p = 0 entries
    // contribute nothing, and the gradient through the teacher softmax stays finite.
    let zq = Tensor(shape: [2, 2], scalars: [-1000, 1000, 1000, -1000], requiresGrad: true)
    for eps: Float in [0, 1e-5] {
        let kl = klDivergenceRows(target: softmax(z), logQ: logSoftmax(zq), epsInLog: eps)
        expectClose(kl.scalars, [2000, 2000], tolerance: 0)
        let grads = kl.sum().gradients(wrt: [z, zq])
        #expect(grads.allSatisfy { $0.scalars.allSatisfy { $0.isFinite } }, "ε = \(eps): \(grads)")
        // ∂/∂zq = −p + softmax(zq)·Σp = softmax(zq) − p = [0, 1] − [1, 0] for row 0.
        expectClose(grads[1].scalars, [-1, 1, 1, -1], tolerance: 0)
    }
}

@Test func klDivergenceWithEpsilonInsideTheLogMatchesHandComputation() {
    // p = [0.7, 0.2, 0.1, 0], q = [0.5, 0.25, 0.125, 0.125].
    // ε = 0:    0.7·ln 1.4 + 0.2·ln 0.8 + 0.1·ln 0.8 = 0.16858750 (the p = 0 term is 0).
    // ε = 1e-5: each p > 0 term gains p·ln(1 + ε/p) ≈ ε, three terms: 0.16858750 + 3e-5 = 0.16861750.
    // Row 1 has p = q, so its KL is 0 (ε = 0) or Σ p·ln(1 + ε/p) ≈ 4ε = 4e-5 (ε = 1e-5).
    let p = Tensor(shape: [2, 4], scalars: [0.7, 0.2, 0.1, 0, 0.25, 0.25, 0.25, 0.25])
    let logQ = Tensor(shape: [2, 4], scalars: [0.5, 0.25, 0.125, 0.125, 0.25, 0.25, 0.25, 0.25].map { Foundation.log($0) })
    expectClose(klDivergenceRows(target: p, logQ: logQ).scalars, [0.16858750, 0], tolerance: 2e-7)
    expectClose(klDivergenceRows(target: p, logQ: logQ, epsInLog: 1e-5).scalars, [0.16861750, 4e-5], tolerance: 2e-7)
    // Paper's KLc = Σ / (B·K); PyTorch batchmean = mean over rows.
    let kl = klDivergenceRows(target: p, logQ: logQ)
    expectClose([kl.sum().item / 8, kl.mean().item], [0.16858750 / 8, 0.16858750 / 2], tolerance: 1e-7)
}

@Test func klGradientAtZeroTargetIsFiniteAndDropsThePLogPTerm() {
    // With ε = 0 the derivative of p·log p at p = 0 is −∞; the op returns −log q there (documented).
    let p = Tensor(shape: [1, 2], scalars: [1, 0], requiresGrad: true)
    let logQ = Tensor(shape: [1, 2], scalars: [-0.5, -2], requiresGrad: true)
    let grads = klDivergenceRows(target: p, logQ: logQ).sum().gradients(wrt: [p, logQ])
    // ∂/∂p = [ln 1 + 1 − (−0.5), −(−2)] ; ∂/∂logQ = −p.
    expectClose(grads[0].scalars, [1.5, 2], tolerance: 1e-7)
    expectClose(grads[1].scalars, [-1, 0], tolerance: 0)
}

@Test func entropyRowsMatchesKnownDistributions() {
    // Uniform over 4: ln 4; one-hot: 0; [½, ½, 0, 0]: ln 2.
    let p = Tensor(shape: [3, 4], scalars: [0.25, 0.25, 0.25, 0.25, 0, 1, 0, 0, 0.5, 0.5, 0, 0])
    expectClose(entropyRows(p).scalars, [1.3862944, 0, 0.6931472], tolerance: 1e-7)
}

@Test func marginRowsMatchesHandComputation() {
    // Row 0: z_y = 1, runner-up 3 → −2, clamped to −κ = −1.5, zero gradient.
    // Row 1: z_y = 5, runner-up 0 → 5; gradient +1 on the label, −1 on the runner-up.
    // Row 2: tie between the runner-ups 4 and 4: the first one takes the gradient.
    let z = Tensor(shape: [3, 3], scalars: [1, 3, 2, 5, 0, -1, 4, 4, 6], requiresGrad: true)
    let m = marginRows(z, labels: [0, 0, 2], kappa: 1.5)
    expectClose(m.scalars, [-1.5, 5, 2], tolerance: 0)
    m.sum().backward()
    expectClose(z.grad!.scalars, [0, 0, 0, 1, -1, 0, -1, 0, 1], tolerance: 0)
}

@Test func outOfRangeLabelStopsWithAMessageNamingTheIndexAndK() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
        _ = crossEntropy(Tensor(zeros: [2, 3]), labels: [1, 3])
    }
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains("label 3 at index 1 is out of range for K = 3"), "stderr: \(stderr)")
}

@Test func largeBatchKernelsMatchANaiveDoubleReference() {
    // 2,000 rows of 10: enough rows for the row kernels to split across workers.
    let (n, k) = (2000, 10)
    var rng = SeededGenerator(seed: 47)
    let z = Tensor.normal([n, k], std: 4, using: &rng)
    let labels = (0..<n).map { _ in Int(rng.next() % UInt64(k)) }
    var probs = [Double](), logProbs = [Double](), ce = [Double]()
    for i in 0..<n {
        let row = (0..<k).map { Double(z.data[i * k + $0]) }
        let m = row.max()!
        let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
        logProbs += row.map { $0 - lse }
        probs += row.map { Foundation.exp($0 - lse) }
        ce.append(lse - row[labels[i]])
    }
    expectClose(softmax(z).scalars, probs.map(Float.init), tolerance: 1e-6)
    expectClose(logSoftmax(z).scalars, logProbs.map(Float.init), tolerance: 1e-5)
    expectClose(crossEntropyRows(z, labels: labels).scalars, ce.map(Float.init), tolerance: 1e-5)
    expectClose(crossEntropy(z, labels: labels).scalars, [Float(ce.reduce(0, +) / Double(n))], tolerance: 1e-5)
    // KL(p ‖ p) = 0 for every row, within Float rounding of the log-probabilities.
    let kl = klDivergenceRows(target: softmax(z), logQ: logSoftmax(z))
    expectClose(kl.scalars, [Float](repeating: 0, count: n), tolerance: 1e-5)
}
