@testable import Engine
import Testing

/// Max, average and global average pooling against hand-computed values, a naive per-window
/// reference, and finite differences.

// MARK: - Hand-computed

@Test func maxPoolTakesWindowMaximaAndRoutesGradientToTheFirstMaximumOnTies() {
    // Windows (2×2, stride 2): top-left {1, 5, 3, 4} → 5; top-right {2, 0, 8, 8} → 8, a tie whose
    // first occurrence in row-major order is (1, 2); bottom-left {0, 0, 9, 0} → 9;
    // bottom-right {−1, −2, −3, −4} → −1.
    let x = Tensor(shape: [1, 1, 4, 4], scalars: [1, 5, 2, 0,
                                                  3, 4, 8, 8,
                                                  0, 0, -1, -2,
                                                  9, 0, -3, -4], requiresGrad: true)
    let y = maxPool2d(x, kernel: 2)
    #expect(y.shape == [1, 1, 2, 2])
    #expect(y.scalars == [5, 8, 9, -1])
    y.backward(seed: Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4]))
    #expect(x.grad?.scalars == [0, 1, 0, 0,
                                0, 0, 2, 0,
                                0, 0, 4, 0,
                                3, 0, 0, 0])
}

@Test func maxPoolPaddingIsMinusInfinityNotZero() {
    // All inputs negative: zero padding would make every border output 0.
    // kernel 2, stride 1, padding 1 on [[−1, −2], [−3, −4]] gives a 3×3 output whose windows
    // contain {−1}, {−1, −2}, {−2} / {−1, −3}, all four, {−2, −4} / {−3}, {−3, −4}, {−4}.
    let x = Tensor(shape: [1, 1, 2, 2], scalars: [-1, -2, -3, -4], requiresGrad: true)
    let y = maxPool2d(x, kernel: 2, stride: 1, padding: 1)
    #expect(y.scalars == [-1, -1, -2, -1, -1, -2, -3, -3, -4])
    // Overlapping windows that share an argmax add their gradients: −1 wins 4 windows, −2 and −3
    // two each, −4 one.
    y.sum().backward()
    #expect(x.grad?.scalars == [4, 2, 2, 1])
}

@Test func maxPoolPropagatesNaNAndKeepsTheFirstPositionOfAnAllMinusInfinityWindow() {
    // PyTorch: `if val > max || isnan(val)`, starting from −∞ at the window's first position.
    // Windows (2×2, stride 2): {1, NaN, 5, 0} → NaN at (0, 1); {3, 2, −∞, −∞} → 3 at (0, 2);
    // {−∞ ×4} → −∞ at its first position (0, 4).
    let inf = Float.infinity
    let x = Tensor(shape: [1, 1, 2, 6], scalars: [1, .nan, 3, 2, -inf, -inf,
                                                  5, 0, -inf, -inf, -inf, -inf], requiresGrad: true)
    let y = maxPool2d(x, kernel: 2)
    #expect(y.data[0].isNaN && y.data[1] == 3 && y.data[2] == -inf)
    y.backward(seed: Tensor(shape: [1, 1, 1, 3], scalars: [1, 2, 3]))
    #expect(x.grad?.scalars == [0, 1, 2, 0, 3, 0,
                                0, 0, 0, 0, 0, 0])
}

@Test func avgPoolCountsPaddingInTheDivisor() {
    // kernel 2, stride 1, padding 1 on [[1, 2], [3, 4]]: every window divides by 4, padding counts.
    let x = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4], requiresGrad: true)
    let y = avgPool2d(x, kernel: 2, stride: 1, padding: 1)
    #expect(y.scalars == [0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1])
    // Each input lies in 4 of the 9 windows, each passing on 1/4 of its (unit) gradient.
    y.sum().backward()
    #expect(x.grad?.scalars == [1, 1, 1, 1])
}

@Test func globalAvgPoolAveragesEachPlane() {
    let x = Tensor(shape: [2, 2, 1, 3], scalars: [1, 2, 3, 0, 0, 6, -3, 3, 9, 4, 4, 4], requiresGrad: true)
    let y = globalAvgPool2d(x)
    #expect(y.shape == [2, 2])
    #expect(y.scalars == [2, 2, 3, 4])
    y.backward(seed: Tensor(shape: [2, 2], scalars: [3, 6, -3, 0]))
    #expect(x.grad?.scalars == [1, 1, 1, 2, 2, 2, -1, -1, -1, 0, 0, 0])
}

// MARK: - Naive reference

/// One pooling configuration and its definition, evaluated window by window with every padded
/// position tested explicitly (the engine instead clips the window ranges).
struct PoolCase: CustomTestStringConvertible, Sendable {
    let name: String
    var shape = [2, 3, 7, 6]
    var kernel = 2, stride = 2, padding = 0

    var testDescription: String { name }
    var oh: Int { (shape[2] + 2 * padding - kernel) / stride + 1 }
    var ow: Int { (shape[3] + 2 * padding - kernel) / stride + 1 }

    /// For every output (plane, oh, ow): the input indices of its window that lie in the image,
    /// and the number of window positions including padding.
    func windows() -> [[Int]] {
        let (h, w) = (shape[2], shape[3])
        var result: [[Int]] = []
        for plane in 0..<shape[0] * shape[1] {
            for y in 0..<oh {
                for x in 0..<ow {
                    var inside: [Int] = []
                    for i in 0..<kernel {
                        for j in 0..<kernel {
                            let (ih, iw) = (y * stride - padding + i, x * stride - padding + j)
                            if ih >= 0 && ih < h && iw >= 0 && iw < w { inside.append((plane * h + ih) * w + iw) }
                        }
                    }
                    result.append(inside)
                }
            }
        }
        return result
    }

    static let all: [PoolCase] = [
        PoolCase(name: "2×2 stride 2, odd height"),
        PoolCase(name: "3×3 stride 2 padding 1 (overlapping)", shape: [3, 2, 9, 8], kernel: 3, padding: 1),
        PoolCase(name: "3×3 stride 1 padding 1", shape: [1, 2, 5, 7], kernel: 3, stride: 1, padding: 1),
        PoolCase(name: "many planes (parallel)", shape: [4, 32, 16, 16], kernel: 2),
    ]
}

@Test(arguments: PoolCase.all)
func maxPoolMatchesPerWindowDefinition(_ c: PoolCase) {
    let x = smoothInput(c.shape, seed: 41)
    x.requiresGrad = true
    let y = maxPool2d(x, kernel: c.kernel, stride: c.stride, padding: c.padding)
    #expect(y.shape == [c.shape[0], c.shape[1], c.oh, c.ow])
    let xs = x.scalars
    let dy = smoothInput(y.shape, seed: 42)
    var expected: [Float] = [], expectedDx = [Float](repeating: 0, count: x.count)
    for (o, window) in c.windows().enumerated() {
        let winner = window.max { xs[$0] < xs[$1] }!  // smoothInput draws no ties
        expected.append(xs[winner])
        expectedDx[winner] += dy.data[o]
    }
    #expect(y.scalars == expected)
    y.backward(seed: dy)
    #expect(x.grad?.scalars == expectedDx)
}

@Test(arguments: PoolCase.all)
func avgPoolMatchesPerWindowDefinition(_ c: PoolCase) {
    let x = smoothInput(c.shape, seed: 43)
    x.requiresGrad = true
    let y = avgPool2d(x, kernel: c.kernel, stride: c.stride, padding: c.padding)
    #expect(y.shape == [c.shape[0], c.shape[1], c.oh, c.ow])
    let xs = x.scalars, k2 = Double(c.kernel * c.kernel)
    let dy = smoothInput(y.shape, seed: 44)
    var expected: [Double] = [], expectedDx = [Double](repeating: 0, count: x.count)
    for (o, window) in c.windows().enumerated() {
        expected.append(window.map { Double(xs[$0]) }.reduce(0, +) / k2)
        for i in window { expectedDx[i] += Double(dy.data[o]) / k2 }
    }
    expectClose(y.scalars, expected, rtol: 1e-5, "forward")
    y.backward(seed: dy)
    expectClose(x.grad?.scalars ?? [], expectedDx, rtol: 1e-5, "dx")
}

// MARK: - Finite differences

enum PoolOp: String, CaseIterable, CustomTestStringConvertible {
    case maxPool2x2, maxPool3x3Stride2Padding1, avgPool2x2, avgPool3x3Stride2Padding1, avgPool3x3Stride1Padding1,
         globalAvgPool

    var testDescription: String { rawValue }

    func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .maxPool2x2: maxPool2d(x, kernel: 2)
        case .maxPool3x3Stride2Padding1: maxPool2d(x, kernel: 3, stride: 2, padding: 1)
        case .avgPool2x2: avgPool2d(x, kernel: 2)
        case .avgPool3x3Stride2Padding1: avgPool2d(x, kernel: 3, stride: 2, padding: 1)
        case .avgPool3x3Stride1Padding1: avgPool2d(x, kernel: 3, stride: 1, padding: 1)
        case .globalAvgPool: globalAvgPool2d(x)
        }
    }
}

/// Distinct values for max pooling: a seeded shuffle of 0.05·(k − count/2), k = 0..<count.
/// Max pooling's kinks are ties inside a window, so what finite differences with step h need is that no two values lie within 2h of each other (0.05 > 2·0.01); smoothInput only
/// keeps values away from zero, and two of its draws in a window can be closer than 2h.
func wellSeparatedInput(_ shape: [Int], seed: UInt64) -> Tensor {
    let count = shape.reduce(1, *)
    var values = (0..<count).map { Float($0 - count / 2) * 0.05 }
    var rng = SeededGenerator(seed: seed)
    values.shuffle(using: &rng)
    return Tensor(shape: shape, scalars: values)
}

@Test(arguments: PoolOp.allCases)
func poolingGradientMatchesFiniteDifferences(_ op: PoolOp) {
    let shape = [2, 3, 7, 6]
    let x = op.rawValue.hasPrefix("max") ? wellSeparatedInput(shape, seed: 51) : smoothInput(shape, seed: 51)
    GradientCheck().check(op.rawValue, inputs: [x]) { op.apply($0[0]) }
}

// MARK: - The 2×2 fast path against the general kernel

@Test(arguments: [[2, 3, 6, 15], [1, 2, 5, 8], [3, 1, 4, 2]])
func twoByTwoMaxPoolKernelAgreesWithTheGeneralKernelOnTiesNaNsAndRaggedRows(_ shape: [Int]) {
    // Values from a small set, so windows hold ties; some NaNs and −∞.
    var rng = SeededGenerator(seed: 81)
    let x = Tensor(uninitializedShape: shape)
    for i in 0..<x.count {
        let r = rng.next() % 16
        x.data[i] = r == 0 ? .nan : r == 1 ? -.infinity : Float(r % 5) - 2
    }
    let g = poolGeometry("test", shape, kernel: 2, stride: 2, padding: 0)
    let count = shape[0] * shape[1] * g.oh * g.ow
    let (fast, general) = (Tensor(uninitializedShape: [count]), Tensor(uninitializedShape: [count]))
    var (fastAt, generalAt) = ([Int32](repeating: -1, count: count), [Int32](repeating: -1, count: count))
    maxPool2x2Forward(x.data, fast.data, &fastAt, g)
    maxPoolForward(x.data, general.data, &generalAt, g)
    #expect(fastAt == generalAt, "argmax")
    // NaN ≠ NaN: compare bit patterns.
    #expect(fast.scalars.map(\.bitPattern) == general.scalars.map(\.bitPattern), "values")
    maxPool2x2Forward(x.data, fast.data, nil, g)
    #expect(fast.scalars.map(\.bitPattern) == general.scalars.map(\.bitPattern), "values without argmax")
}
