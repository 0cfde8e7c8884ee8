import Engine
import Testing

/// Every elementwise op, reduction and `linear` against finite differences.
enum ElementwiseOp: String, CaseIterable, CustomTestStringConvertible {
    case add, sub, mul, scale, addScalar, relu, swish, clamp, exp, log, pow, sum, mean, sumRows, reshape, linear, linearNoBias

    var testDescription: String { rawValue }

    func inputs() -> [Tensor] {
        switch self {
        case .add, .sub, .mul: [smoothInput([2, 3, 4], seed: 1), smoothInput([2, 3, 4], seed: 2)]
        case .log, .pow: [smoothInput([3, 5], seed: 3).clampedPositive()]
        case .linear: [smoothInput([4, 6], seed: 4), smoothInput([3, 6], seed: 5), smoothInput([3], seed: 6)]
        case .linearNoBias: [smoothInput([4, 6], seed: 4), smoothInput([3, 6], seed: 5)]
        case .sumRows: [smoothInput([4, 5], seed: 8)]
        default: [smoothInput([2, 3, 5], seed: 9)]
        }
    }

    func apply(_ x: [Tensor]) -> Tensor {
        switch self {
        case .add: x[0] + x[1]
        case .sub: x[0] - x[1]
        case .mul: x[0] * x[1]
        case .scale: 2.5 * x[0]
        case .addScalar: x[0] + 0.7
        case .relu: x[0].relu()
        case .swish: x[0].swish()
        case .clamp: x[0].clamped(-0.5, 0.5)
        case .exp: x[0].exp()
        case .log: x[0].log()
        case .pow: x[0].pow(0.1)
        case .sum: x[0].sum()
        case .mean: x[0].mean()
        case .sumRows: x[0].sumRows()
        case .reshape: x[0].reshaped([6, -1]).relu()
        case .linear: Engine.linear(x[0], weight: x[1], bias: x[2])
        case .linearNoBias: Engine.linear(x[0], weight: x[1], bias: nil)
        }
    }
}

extension Tensor {
    /// |x| + 0.2: strictly positive inputs for log and pow.
    func clampedPositive() -> Tensor {
        let t = detachedCopy()
        for i in 0..<t.count { t.data[i] = abs(t.data[i]) + 0.2 }
        return t
    }
}

@Test(arguments: ElementwiseOp.allCases)
func elementwiseGradientMatchesFiniteDifferences(_ op: ElementwiseOp) {
    // clamp's bounds ±0.5 must not sit within h of an input: smoothInput keeps |x| ≥ 0.05 only, so
    // use a smaller step for it.
    var check = GradientCheck()
    if op == .clamp { check.h = 1e-3; check.atol = 5e-3 }
    check.check(op.rawValue, inputs: op.inputs(), op.apply)
}

@Test func parameterUsedTwiceReceivesTheSumOfBothGradients() {
    // y = w·a + w·b (two "forward passes" of one parameter): ∂Σy/∂w = a + b.
    let w = Tensor(shape: [3], scalars: [1, 2, 3], requiresGrad: true)
    let a = Tensor(shape: [3], scalars: [0.5, -1, 2])
    let b = Tensor(shape: [3], scalars: [4, 0, -3])
    ((w * a) + (w * b)).sum().backward()
    #expect(w.grad?.scalars == [4.5, -1, -1])
}

@Test func gradientsWrtInputOnlyLeavesParameterGradientsUntouched() {
    let w = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6], requiresGrad: true)
    let x = Tensor(shape: [1, 3], scalars: [1, -1, 2], requiresGrad: true)
    let y = linear(x, weight: w, bias: nil).sum()
    let gx = y.gradients(wrt: [x])[0]
    // ∂Σ(x·Wᵀ)/∂x = column sums of W.
    #expect(gx.scalars == [5, 7, 9])
    #expect(w.grad == nil)
}

@Test func noGradRecordsNothing() {
    let w = Tensor(shape: [2], scalars: [1, 2], requiresGrad: true)
    let y = withNoGrad { (w * w).sum() }
    #expect(!y.requiresGrad)
}

@Test func seededGeneratorRepeatsAndForksIndependently() {
    var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
    let xs = (0..<5).map { _ in a.next() }, ys = (0..<5).map { _ in b.next() }
    #expect(xs == ys)
    var c = SeededGenerator(seed: 43)
    #expect(c.next() != xs[0])
    // Normal draws: mean ≈ 0, variance ≈ 1 over 20,000 samples.
    var g = SeededGenerator(seed: 1)
    let n = 20_000
    let s = (0..<n).map { _ in Double(g.normal()) }
    let mean = s.reduce(0, +) / Double(n)
    let v = s.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
    #expect(abs(mean) < 0.03 && abs(v - 1) < 0.05)
}

@Test func gradientCheckCatchesAWrongBackward() {
    // An op whose backward is off by a factor of 2 must fail the check.
    func wrongSquare(_ x: Tensor) -> Tensor {
        let out = withNoGrad { x * x }
        record(out, "wrongSquare", [x]) { g, _ in [withNoGrad { g * x }] }  // true: 2·g·x
        return out
    }
    withKnownIssue {
        GradientCheck().check("wrongSquare", inputs: [smoothInput([5], seed: 3)]) { wrongSquare($0[0]) }
    }
}
