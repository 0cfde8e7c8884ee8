import Engine
import Foundation
import Testing

/// batchNorm2d against finite differences, hand-computed values and a naive Double reference.
enum BatchNormCase: String, CaseIterable, CustomTestStringConvertible {
    case training4D, training2D, trainingNoAffine, trainingWeightOnly, eval4D, evalNoAffine

    var testDescription: String { rawValue }

    var training: Bool { !rawValue.hasPrefix("eval") }

    /// [x, weight?, bias?]. H·W = 6 leaves a tail after the kernel's groups of four.
    func inputs() -> [Tensor] {
        let x = rawValue.hasSuffix("2D") ? smoothInput([5, 3], seed: 11) : smoothInput([3, 2, 2, 3], seed: 11)
        let c = x.shape[1]
        let weight = smoothInput([c], seed: 12, margin: 0.3, scale: 2)
        let bias = smoothInput([c], seed: 13)
        switch self {
        case .trainingNoAffine, .evalNoAffine: return [x]
        case .trainingWeightOnly: return [x, weight]
        default: return [x, weight, bias]
        }
    }

    /// A forward closure with its own running statistics (eval: non-trivial ones).
    func forward(relu: Bool = false) -> ([Tensor]) -> Tensor {
        let hasBias = self == .training4D || self == .training2D || self == .eval4D
        let training = self.training
        return { xs in
            let c = xs[0].shape[1]
            let runningMean = Tensor(shape: [c], scalars: (0..<c).map { 0.1 * Float($0) - 0.05 })
            let runningVar = Tensor(shape: [c], scalars: (0..<c).map { 0.5 + 0.3 * Float($0) })
            return batchNorm2d(xs[0], weight: xs.count > 1 ? xs[1] : nil, bias: hasBias ? xs[2] : nil,
                               runningMean: runningMean, runningVar: runningVar,
                               numBatchesTracked: Tensor(zeros: [1]), training: training, relu: relu)
        }
    }
}

@Test(arguments: BatchNormCase.allCases)
func batchNormGradientMatchesFiniteDifferences(_ bnCase: BatchNormCase) {
    GradientCheck(h: 1e-3).check(bnCase.rawValue, inputs: bnCase.inputs(), bnCase.forward())
}

/// The fused ReLU against finite differences. The inputs' normalised values stay ≥ 0.02 away from the
/// kink (checked), so the finite differences do not straddle it.
@Test(arguments: BatchNormCase.allCases)
func batchNormWithFusedReLUGradientMatchesFiniteDifferences(_ bnCase: BatchNormCase) throws {
    let pre = withNoGrad { bnCase.forward()(bnCase.inputs()) }
    let nearest = pre.scalars.map(abs).min() ?? 0
    try #require(nearest > 0.02, "an output at \(nearest) sits on the ReLU's kink")
    #expect(pre.scalars.contains { $0 < 0 } && pre.scalars.contains { $0 > 0 }, "the ReLU must cut something")
    GradientCheck(h: 1e-3).check(bnCase.rawValue + "+relu", inputs: bnCase.inputs(), bnCase.forward(relu: true))
}

/// `batchNorm2d(…, relu: true)` is `batchNorm2d(…).relu()` exactly: the output and every gradient (x, γ, β)
/// bit for bit; with a NaN input, the outputs too (the ReLU turns the NaNs into 0 in both).
@Test(arguments: BatchNormCase.allCases)
func batchNormWithFusedReLUEqualsBatchNormThenReLU(_ bnCase: BatchNormCase) {
    func run(fused: Bool, nan: Bool) -> (y: [Float], grads: [[Float]]) {
        let inputs = bnCase.inputs()
        if nan { inputs[0].data[4] = .nan }
        for t in inputs { t.requiresGrad = true }
        let y = fused ? bnCase.forward(relu: true)(inputs) : bnCase.forward()(inputs).relu()
        var rng = SeededGenerator(seed: 3)
        if !nan { (y * Tensor.uniform(y.shape, -1, 1, using: &rng)).sum().backward() }
        return (y.scalars, inputs.map { $0.grad?.scalars ?? [] })
    }
    for nan in [false, true] {
        let (fused, separate) = (run(fused: true, nan: nan), run(fused: false, nan: nan))
        #expect(fused.y.map(\.bitPattern) == separate.y.map(\.bitPattern), "nan: \(nan)")
        #expect(fused.grads == separate.grads, "nan: \(nan)")
        if nan { #expect(fused.y.contains(0) && !fused.y.contains { $0.isNaN }) }
    }
}

@Test func batchNormTrainingNormalisesWithBiasedVarianceAndUpdatesRunningStatsWithUnbiased() {
    // x: [N=2, C=2, H=1, W=2]. Channel 0 holds 1, 2 | 3, 6: mean 3, deviations −2, −1, 0, 3,
    // Σ² = 14, biased variance 3.5, unbiased 14/3. Channel 1 holds 0, 0 | 4, 0: mean 1,
    // deviations −1, −1, 3, −1, Σ² = 12, biased 3, unbiased 4.
    let x = Tensor(shape: [2, 2, 1, 2], scalars: [1, 2, 0, 0, 3, 6, 4, 0])
    let weight = Tensor(shape: [2], scalars: [2, 1]), bias = Tensor(shape: [2], scalars: [0.5, -1])
    let runningMean = Tensor(zeros: [2]), runningVar = Tensor(repeating: 1, shape: [2])
    let tracked = Tensor(zeros: [1])
    let y = batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                        numBatchesTracked: tracked, training: true)
    // Channel 0: y = 2·(x − 3)/√3.50001 + 0.5; 1/√3.50001 = 0.5345218.
    // Channel 1: y = (x − 1)/√3.00001 − 1;     1/√3.00001 = 0.5773493.
    let expected: [Float] = [-1.6380869, -0.5690434, -1.5773493, -1.5773493,
                             0.5, 3.7071303, 0.7320479, -1.5773493]
    expectClose(y.scalars, expected, tolerance: 2e-6)
    // running_mean = 0.9·0 + 0.1·[3, 1]; running_var = 0.9·1 + 0.1·[14/3, 4].
    expectClose(runningMean.scalars, [0.3, 0.1], tolerance: 1e-7)
    expectClose(runningVar.scalars, [1.3666667, 1.3], tolerance: 1e-6)
    #expect(tracked.scalars == [1])

    // Eval on the same x uses those running statistics: y = γ·(x − rm)/√(rv + 1e-5) + β.
    // Channel 0: 2·(x − 0.3)/√1.3666767 + 0.5 → x = 1: 2·0.7·0.8553958 + 0.5 = 1.6975541.
    let yEval = batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                            numBatchesTracked: tracked, training: false)
    expectClose(yEval.scalars, [1.6975541, 3.4083457, -1.0877055, -1.0877055,
                                5.1191373, 10.251512, 2.4205131, -1.0877055], tolerance: 1e-5)
    // Eval moved nothing.
    expectClose(runningMean.scalars, [0.3, 0.1], tolerance: 1e-7)
    expectClose(runningVar.scalars, [1.3666667, 1.3], tolerance: 1e-6)
    #expect(tracked.scalars == [1])
}

@Test func batchNormRunningStatsFollowMomentumOverSeveralSteps() {
    // The same batch three times: x = 1, 3 | 2, 2 → mean 2, deviations −1, 1, 0, 0, Σ² = 2,
    // unbiased variance 2/3. With m = 0.5, running_mean after k steps from 0 is 2·(1 − 0.5^k) and
    // running_var from 1 is 2/3 + (1 − 2/3)·0.5^k.
    let x = Tensor(shape: [2, 1, 1, 2], scalars: [1, 3, 2, 2])
    let rm = Tensor(zeros: [1]), rv = Tensor(repeating: 1, shape: [1]), tracked = Tensor(zeros: [1])
    for step in 1...3 {
        _ = batchNorm2d(x, weight: nil, bias: nil, runningMean: rm, runningVar: rv,
                        numBatchesTracked: tracked, training: true, momentum: 0.5)
        let decay = Foundation.pow(0.5, Float(step))
        expectClose(rm.scalars, [2 * (1 - decay)], tolerance: 1e-6)
        expectClose(rv.scalars, [2.0 / 3 + (1.0 / 3) * decay], tolerance: 1e-6)
        #expect(tracked.scalars == [Float(step)])
    }
}

@Test func batchNormInputOnlyGradientEqualsTheInputPartOfTheFullGradient() {
    // An attack asks only for ∂L/∂x (weight and bias gradients skipped): it must get the same dx.
    let x = smoothInput([4, 3, 2, 5], seed: 21)
    let weight = smoothInput([3], seed: 22), bias = smoothInput([3], seed: 23)
    weight.requiresGrad = true; bias.requiresGrad = true; x.requiresGrad = true
    var rng = SeededGenerator(seed: 5)
    let r = Tensor.uniform(x.shape, -1, 1, using: &rng)
    func loss() -> Tensor {
        (batchNorm2d(x, weight: weight, bias: bias, runningMean: Tensor(zeros: [3]),
                     runningVar: Tensor(repeating: 1, shape: [3]), numBatchesTracked: nil, training: true) * r).sum()
    }
    let dxOnly = loss().gradients(wrt: [x])[0]
    loss().backward()
    expectClose(dxOnly.scalars, x.grad!.scalars, tolerance: 1e-6)
    #expect(weight.grad != nil && bias.grad != nil)
}

/// Naive batch norm in Double, straight from the definition (the reference the kernel must match).
private func naiveBatchNorm(_ x: Tensor, gamma: [Double], beta: [Double], g: Tensor, eps: Double = 1e-5)
    -> (y: [Double], dx: [Double]) {
    let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    var y = [Double](repeating: 0, count: x.count), dx = y
    let m = Double(n * hw)
    for ch in 0..<c {
        let idx = (0..<n).flatMap { b in (0..<hw).map { (b * c + ch) * hw + $0 } }
        let mean = idx.map { Double(x.data[$0]) }.reduce(0, +) / m
        let variance = idx.map { (Double(x.data[$0]) - mean) * (Double(x.data[$0]) - mean) }.reduce(0, +) / m
        let istd = 1 / (variance + eps).squareRoot()
        let xhat = idx.map { (Double(x.data[$0]) - mean) * istd }
        for (j, i) in idx.enumerated() { y[i] = gamma[ch] * xhat[j] + beta[ch] }
        let gs = idx.map { Double(g.data[$0]) }
        let meanG = gs.reduce(0, +) / m
        let meanGX = zip(gs, xhat).map(*).reduce(0, +) / m
        for (j, i) in idx.enumerated() { dx[i] = gamma[ch] * istd * (gs[j] - meanG - xhat[j] * meanGX) }
    }
    return (y, dx)
}

@Test(arguments: [[3, 5, 7, 9], [4, 4, 64, 64]])
func batchNormMatchesNaiveDoubleReferenceOnLargeMeanSmallSpreadChannels(_ shape: [Int]) {
    // Channel means ~1000 with spread 0.01: E[x²] − E[x]² in Float would lose every digit.
    // [4, 4, 64, 64] is large enough for the kernels to split channels across workers.
    var rng = SeededGenerator(seed: 31)
    let x = Tensor(uninitializedShape: shape)
    let hw = shape[2] * shape[3]
    for i in 0..<x.count { x.data[i] = 1000 + 100 * Float((i / hw) % shape[1]) + 0.01 * rng.normal() }
    let g = Tensor.normal(shape, using: &rng)
    let gamma = (0..<shape[1]).map { 0.5 + 0.25 * Double($0) }, beta = (0..<shape[1]).map { -0.1 * Double($0) }
    let weight = Tensor(shape: [shape[1]], scalars: gamma.map(Float.init))
    let bias = Tensor(shape: [shape[1]], scalars: beta.map(Float.init))
    x.requiresGrad = true
    let y = batchNorm2d(x, weight: weight, bias: bias, runningMean: Tensor(zeros: [shape[1]]),
                        runningVar: Tensor(repeating: 1, shape: [shape[1]]), numBatchesTracked: nil, training: true)
    let dx = y.gradients(wrt: [x], seed: g)[0]
    let reference = naiveBatchNorm(x, gamma: gamma, beta: beta, g: g)
    expectClose(y.scalars, reference.y.map(Float.init), tolerance: 2e-5)
    // dx is ~γ/σ ≈ 100 times g here: compare relative to its largest element.
    expectClose(dx.scalars, reference.dx.map(Float.init), tolerance: 1e-5,
                relativeTo: reference.dx.map { abs($0) }.max()!)
}

/// |a − b| ≤ tolerance·scale for every element, with one issue naming the first offender.
func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float, relativeTo scale: Double = 1,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    let bound = tolerance * Float(scale)
    if let i = actual.indices.first(where: { !(abs(actual[$0] - expected[$0]) <= bound) }) {
        Issue.record("element \(i): \(actual[i]) vs expected \(expected[i]) (tolerance \(bound))",
                     sourceLocation: sourceLocation)
    }
}

/// `batchNorm2d(…, relu: true, pool: true)` is `maxPool2d(batchNorm2d(…, relu: true), kernel: 2)` exactly: the
/// output, the gradients of x, γ and β and the running statistics, bit for bit, in training and eval mode. Shapes
/// with odd sides (the last row or column in no window), rows of fewer than 4 windows (one at a time), of 4 to 7
/// (four at a time, the last four overlapping), of exactly 8 and of more than 8 that are not a multiple of 8 (the
/// last eight overlapping); ties: channel 0 is constant (training: every value normalises to β, a positive one, so
/// every window ties), channel 1 is constant with a negative β (every window is 0 after the ReLU and passes no
/// gradient).
@Test(arguments: [[2, 3, 6, 5], [2, 3, 28, 28], [1, 3, 5, 35], [2, 3, 14, 14], [1, 3, 9, 8], [1, 3, 4, 16]],
      [true, false])
func batchNormWithFusedReLUAndMaxPoolEqualsTheThreeOps(_ shape: [Int], _ training: Bool) {
    let x = smoothInput(shape, seed: 21)
    let plane = shape[2] * shape[3]
    for n in 0..<shape[0] {
        for ch in 0..<2 { (x.data + (n * shape[1] + ch) * plane).update(repeating: 0.25, count: plane) }
    }
    let weight = smoothInput([shape[1]], seed: 22, margin: 0.3, scale: 2)
    let bias = Tensor(shape: [shape[1]], scalars: [0.4, -0.3] + smoothInput([shape[1] - 2], seed: 23).scalars)
    let r = smoothInput([shape[0], shape[1], shape[2] / 2, shape[3] / 2], seed: 24)
    func run(fused: Bool) -> [[UInt32]] {
        let (xi, wi, bi) = (x.detachedCopy(), weight.detachedCopy(), bias.detachedCopy())
        for t in [xi, wi, bi] { t.requiresGrad = true }
        let runningMean = Tensor(shape: [shape[1]], scalars: (0..<shape[1]).map { 0.1 * Float($0) - 0.05 })
        let runningVar = Tensor(shape: [shape[1]], scalars: (0..<shape[1]).map { 0.5 + 0.3 * Float($0) })
        func bn(pool: Bool) -> Tensor {
            batchNorm2d(xi, weight: wi, bias: bi, runningMean: runningMean, runningVar: runningVar,
                        numBatchesTracked: Tensor(zeros: [1]), training: training, relu: true, pool: pool)
        }
        let y = fused ? bn(pool: true) : maxPool2d(bn(pool: false), kernel: 2)
        (y * r).sum().backward()
        return [y, xi.grad!, wi.grad!, bi.grad!, runningMean, runningVar].map { $0.scalars.map(\.bitPattern) }
    }
    let (fused, separate) = (run(fused: true), run(fused: false))
    for (k, what) in ["y", "dx", "dγ", "dβ", "running mean", "running var"].enumerated() {
        let same = fused[k] == separate[k]
        #expect(same, "\(what)")
    }
    let y = fused[0].map(Float.init(bitPattern:))
    #expect(y.contains(0) && y.contains { $0 > 0 }, "the case exercises the ReLU")
}

/// The fused batch norm, ReLU and pooling against finite differences (training mode), at a point away from the
/// kinks: every window's largest normalised value is positive and leads the next by more than 0.05, or all four are
/// below −0.05 (checked). The input rises along each plane's rows and columns, so the maxima sit at the windows'
/// bottom right (γ > 0) or top left (γ < 0); β keeps some channels positive and others negative.
@Test func batchNormWithFusedReLUAndMaxPoolGradientMatchesFiniteDifferences() throws {
    let shape = [2, 4, 4, 6]
    let plane = shape[2] * shape[3]
    let noise = smoothInput(shape, seed: 31, scale: 0.01)
    let x = Tensor(shape: shape, scalars: (0..<noise.count).map { i in
        Float(i % plane) * 0.2 + Float(i / (plane * shape[1])) * 0.1 + noise.data[i]
    })
    let weight = Tensor(shape: [4], scalars: [1.2, -0.8, 1.0, -1.5])
    let bias = Tensor(shape: [4], scalars: [2.5, 2.0, -3.0, 0.1])
    func forward(_ xs: [Tensor]) -> Tensor {
        batchNorm2d(xs[0], weight: xs[1], bias: xs[2], runningMean: Tensor(zeros: [4]), runningVar: Tensor(repeating: 1, shape: [4]),
                    numBatchesTracked: nil, training: true, relu: true, pool: true)
    }
    let normalised = withNoGrad {
        batchNorm2d(x, weight: weight, bias: bias, runningMean: Tensor(zeros: [4]), runningVar: Tensor(repeating: 1, shape: [4]),
                    numBatchesTracked: nil, training: true)
    }
    var smooth = true
    for p in 0..<shape[0] * shape[1] {
        for i in 0..<shape[2] / 2 {
            for j in 0..<shape[3] / 2 {
                let values = [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .map { normalised.data[p * plane + (2 * i + $0.0) * shape[3] + 2 * j + $0.1] }.sorted(by: >)
                smooth = smooth && (values[0] > 0 && values[0] - values[1] > 0.05 || values[0] < -0.05)
            }
        }
    }
    try #require(smooth, "the point is away from the kinks")
    GradientCheck(h: 1e-3).check("batchNorm2d+relu+maxPool2", inputs: [x, weight, bias], forward)
}
