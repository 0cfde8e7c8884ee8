@testable import Engine
import Testing

/// conv2d against an independent reference: the definition as seven nested loops in Double, with
/// its hand-written backward, plus finite differences and a hand-computed example.

// MARK: - Naive reference

/// One convolution's hyper-parameters; `reference` computes it straight from the definition
/// y[n, co, oh, ow] = b[co] + Σ_{ci ∈ group(co), i, j} w[co, ci − g·cg, i, j] · x[n, ci, oh·s − top + i, ow·s − left + j],
/// with bounds tested per element. It shares no code with the engine (no im2col, no ranges, no GEMM).
struct ConvCase: CustomTestStringConvertible, Sendable {
    let name: String
    var n = 2, cin = 3, h = 6, w = 5, cout = 4, kh = 3, kw = 3, stride = 1, groups = 1
    var padding = Padding.symmetric(0)
    var bias = true

    var testDescription: String { name }
    var xShape: [Int] { [n, cin, h, w] }
    var wShape: [Int] { [cout, cin / groups, kh, kw] }
    var oh: Int { (h + padding.top + padding.bottom - kh) / stride + 1 }
    var ow: Int { (w + padding.left + padding.right - kw) / stride + 1 }
    var yShape: [Int] { [n, cout, oh, ow] }

    /// Calls `body(xIndex, wIndex, yIndex)` for every product term of the convolution.
    func forEachTerm(_ body: (Int, Int, Int) -> Void) {
        let cg = cin / groups, og = cout / groups
        for b in 0..<n {
            for co in 0..<cout {
                for y in 0..<oh {
                    for x in 0..<ow {
                        for c in 0..<cg {
                            for i in 0..<kh {
                                for j in 0..<kw {
                                    let ci = (co / og) * cg + c
                                    let ih = y * stride - padding.top + i, iw = x * stride - padding.left + j
                                    guard ih >= 0 && ih < h && iw >= 0 && iw < w else { continue }
                                    body(((b * cin + ci) * h + ih) * w + iw,
                                         ((co * cg + c) * kh + i) * kw + j,
                                         ((b * cout + co) * oh + y) * ow + x)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func reference(x: [Float], w: [Float], b: [Float]?) -> [Double] {
        var y = [Double](repeating: 0, count: yShape.reduce(1, *))
        if let b { for k in y.indices { y[k] = Double(b[(k / (oh * ow)) % cout]) } }
        forEachTerm { xi, wi, yi in y[yi] += Double(x[xi]) * Double(w[wi]) }
        return y
    }

    /// The adjoint of each term y[yi] += x[xi]·w[wi]: dx[xi] += dy[yi]·w[wi], dw[wi] += dy[yi]·x[xi].
    func referenceBackward(x: [Float], w: [Float], dy: [Float]) -> (dx: [Double], dw: [Double], db: [Double]) {
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
        var db = [Double](repeating: 0, count: cout)
        forEachTerm { xi, wi, yi in
            dx[xi] += Double(dy[yi]) * Double(w[wi])
            dw[wi] += Double(dy[yi]) * Double(x[xi])
        }
        for k in dy.indices { db[(k / (oh * ow)) % cout] += Double(dy[k]) }
        return (dx, dw, db)
    }

    static let groups2 = ConvCase(name: "groups 2, padding 1", cin: 4, h: 6, w: 5, cout: 6, groups: 2,
                                  padding: .symmetric(1))
    static let depthwise = ConvCase(name: "depthwise, padding 1, width 8 + 3", cin: 5, h: 7, w: 11, cout: 5,
                                    groups: 5, padding: .symmetric(1))
    static let pointwise = ConvCase(name: "1×1 pointwise, batch 3", n: 3, cin: 6, h: 5, w: 4, cout: 5, kh: 1, kw: 1)

    static let all: [ConvCase] = [
        ConvCase(name: "stride 2, asymmetric padding (0, 1, 0, 1)", h: 7, w: 6, stride: 2,
                 padding: Padding(top: 0, bottom: 1, left: 0, right: 1)),
        groups2,
        depthwise,
        ConvCase(name: "depthwise, padding wider than the kernel", cin: 2, h: 5, w: 10, cout: 2, groups: 2,
                 padding: Padding(top: 4, bottom: 0, left: 0, right: 4)),
        ConvCase(name: "depthwise, stride 2, asymmetric padding, no bias", n: 3, cin: 4, h: 8, w: 7, cout: 4,
                 stride: 2, groups: 4, padding: Padding(top: 0, bottom: 1, left: 0, right: 1), bias: false),
        ConvCase(name: "depthwise, many planes (parallel)", n: 4, cin: 32, h: 16, w: 16, cout: 32, groups: 32,
                 padding: .symmetric(1)),
        ConvCase(name: "depthwise with channel multiplier 2", cin: 3, h: 6, w: 6, cout: 6, groups: 3,
                 padding: Padding(top: 2, bottom: 0, left: 1, right: 1)),
        ConvCase(name: "single input channel (first layer)", cin: 1, h: 8, w: 8, cout: 4, padding: .symmetric(1)),
        ConvCase(name: "single input channel, width 8 + 4 (like 28)", cin: 1, h: 5, w: 12, cout: 4, padding: .symmetric(1)),
        ConvCase(name: "depthwise, width 16 + 1, 5×5", cin: 2, h: 4, w: 17, cout: 2, kh: 5, kw: 5, groups: 2,
                 padding: .symmetric(2)),
        ConvCase(name: "depthwise with multiplier 3, width 9, no padding", cin: 2, h: 5, w: 11, cout: 6, groups: 2),
        pointwise,
        ConvCase(name: "1×1 pointwise, groups 2, no bias", cin: 6, h: 3, w: 5, cout: 4, kh: 1, kw: 1, groups: 2,
                 bias: false),
        ConvCase(name: "1×1 stride 2 (shortcut)", cin: 4, h: 7, w: 6, cout: 6, kh: 1, kw: 1, stride: 2, bias: false),
        ConvCase(name: "stride 2, padding 1, width 37 (vector gather, its tails and the plane's end)", cin: 3, h: 5, w: 37,
                 stride: 2, padding: .symmetric(1)),
        ConvCase(name: "1×1 stride 2, width 34 (vector gather up to the plane's end)", cin: 2, h: 3, w: 34, cout: 3,
                 kh: 1, kw: 1, stride: 2, bias: false),
        ConvCase(name: "5×5, padding 2, batch 3, no bias", n: 3, h: 9, w: 8, kh: 5, kw: 5,
                 padding: .symmetric(2), bias: false),
        ConvCase(name: "non-square input and 3×2 kernel, batch 3", n: 3, cin: 2, h: 5, w: 9, cout: 3, kh: 3, kw: 2,
                 padding: Padding(top: 1, bottom: 0, left: 2, right: 1)),
        ConvCase(name: "single image (each GEMM split over workers)", n: 1, cin: 32, h: 16, w: 16, cout: 32,
                 padding: .symmetric(1)),
    ]
}

/// |a − r| ≤ rtol·(|r| + mean|r|): relative, floored by the typical magnitude so near-zero
/// outputs are not held to an impossible standard.
func expectClose(_ actual: [Float], _ reference: [Double], rtol: Double = 1e-4, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == reference.count, "\(what): \(actual.count) values, expected \(reference.count)",
            sourceLocation: sourceLocation)
    guard actual.count == reference.count, !reference.isEmpty else { return }
    let typical = reference.map(abs).reduce(0, +) / Double(reference.count)
    var worst = (excess: 0.0, index: -1)
    for (k, r) in reference.enumerated() {
        let excess = abs(Double(actual[k]) - r) - rtol * (abs(r) + typical)
        if excess > worst.excess { worst = (excess, k) }
    }
    #expect(worst.index < 0,
            "\(what): element \(worst.index) is \(worst.index < 0 ? 0 : actual[worst.index]), expected \(worst.index < 0 ? 0 : reference[worst.index])",
            sourceLocation: sourceLocation)
}

// MARK: - Against the naive reference

@Test(arguments: ConvCase.all)
func convolutionMatchesNaiveDefinitionForwardAndBackward(_ c: ConvCase) {
    let x = smoothInput(c.xShape, seed: 11)
    let w = smoothInput(c.wShape, seed: 12, scale: 0.5)
    let b = c.bias ? smoothInput([c.cout], seed: 13) : nil
    for t in [x, w] + (b.map { [$0] } ?? []) { t.requiresGrad = true }

    let y = conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups)
    #expect(y.shape == c.yShape)
    expectClose(y.scalars, c.reference(x: x.scalars, w: w.scalars, b: b?.scalars), "forward")

    let dy = smoothInput(c.yShape, seed: 14)
    y.backward(seed: dy)
    let ref = c.referenceBackward(x: x.scalars, w: w.scalars, dy: dy.scalars)
    expectClose(x.grad?.scalars ?? [], ref.dx, "dx")
    expectClose(w.grad?.scalars ?? [], ref.dw, "dw")
    if let b { expectClose(b.grad?.scalars ?? [], ref.db, "dbias") }
}

// MARK: - Finite differences

enum ConvGradientCase: String, CaseIterable, CustomTestStringConvertible {
    case stride2AsymmetricPadding, groups2, depthwise, depthwiseStride2, pointwise, kernel5x5NoBias

    var testDescription: String { rawValue }

    var spec: ConvCase {
        switch self {
        case .stride2AsymmetricPadding:
            ConvCase(name: rawValue, h: 6, w: 5, cout: 3, stride: 2, padding: Padding(top: 0, bottom: 1, left: 0, right: 1))
        case .groups2: ConvCase(name: rawValue, cin: 4, h: 5, w: 4, cout: 4, groups: 2, padding: .symmetric(1))
        case .depthwise: ConvCase(name: rawValue, cin: 3, h: 5, w: 5, cout: 3, groups: 3, padding: .symmetric(1))
        case .depthwiseStride2:
            ConvCase(name: rawValue, cin: 2, h: 6, w: 5, cout: 4, stride: 2, groups: 2, padding: .symmetric(1))
        case .pointwise: ConvCase(name: rawValue, cin: 4, h: 3, w: 4, cout: 3, kh: 1, kw: 1)
        case .kernel5x5NoBias: ConvCase(name: rawValue, n: 1, cin: 2, h: 6, w: 7, cout: 2, kh: 5, kw: 5,
                                        padding: .symmetric(2), bias: false)
        }
    }
}

@Test(arguments: ConvGradientCase.allCases)
func convolutionGradientMatchesFiniteDifferences(_ op: ConvGradientCase) {
    let c = op.spec
    var inputs = [smoothInput(c.xShape, seed: 21), smoothInput(c.wShape, seed: 22)]
    if c.bias { inputs.append(smoothInput([c.cout], seed: 23)) }
    GradientCheck().check(op.rawValue, inputs: inputs) { t in
        conv2d(t[0], weight: t[1], bias: t.count > 2 ? t[2] : nil,
               stride: c.stride, padding: c.padding, groups: c.groups)
    }
}

// MARK: - Fused ReLU

/// The three kernels' shapes for the fused ReLU: Winograd (3×3, stride 1, ≥ 8 channels each side), the
/// GEMM kernels (im2col, strided, asymmetric padding; pointwise) and the depthwise kernel (stride 1, whose
/// input gradient masks dy as it pads it, and stride 2, which scatters), plus a first layer on one channel.
enum ConvReLUGradientCase: String, CaseIterable, CustomTestStringConvertible {
    case winograd, winogradNoBias, im2colStride2, pointwise, depthwise, depthwiseStride2, singleInputChannel

    var testDescription: String { rawValue }

    var spec: ConvCase {
        switch self {
        case .winograd: ConvCase(name: rawValue, n: 1, cin: 8, h: 4, w: 5, cout: 8, padding: .symmetric(1))
        case .winogradNoBias: ConvCase(name: rawValue, n: 1, cin: 8, h: 5, w: 4, cout: 9, padding: .symmetric(1), bias: false)
        case .im2colStride2:
            ConvCase(name: rawValue, h: 6, w: 5, cout: 3, stride: 2, padding: Padding(top: 0, bottom: 1, left: 0, right: 1))
        case .pointwise: ConvCase(name: rawValue, cin: 4, h: 3, w: 4, cout: 3, kh: 1, kw: 1)
        case .depthwise: ConvCase(name: rawValue, n: 1, cin: 3, h: 4, w: 9, cout: 3, groups: 3, padding: .symmetric(1))
        case .depthwiseStride2:
            ConvCase(name: rawValue, cin: 2, h: 6, w: 5, cout: 4, stride: 2, groups: 2, padding: .symmetric(1))
        case .singleInputChannel: ConvCase(name: rawValue, cin: 1, h: 5, w: 10, cout: 3, padding: .symmetric(1))
        }
    }

    /// x, weight (and bias) from the first seed whose pre-activations all lie at least `margin` from 0 and take
    /// both signs, so that the ReLU cuts something and no finite-difference step crosses its kink.
    func inputs(margin: Float) throws -> [Tensor] {
        let c = spec
        for seed in UInt64(0)..<500 {
            let inputs = [smoothInput(c.xShape, seed: 1000 + 3 * seed), smoothInput(c.wShape, seed: 1001 + 3 * seed, scale: 0.5)]
                + (c.bias ? [smoothInput([c.cout], seed: 1002 + 3 * seed, scale: 0.5)] : [])
            let pre = withNoGrad { c.apply(inputs, relu: false) }.scalars
            if pre.allSatisfy({ abs($0) >= margin }) && pre.contains(where: { $0 < 0 }) && pre.contains(where: { $0 > 0 }) {
                return inputs
            }
        }
        try #require(Bool(false), "\(rawValue): no seed keeps every pre-activation \(margin) away from 0")
        return []
    }
}

extension ConvCase {
    /// conv2d of this case on [x, weight, bias?].
    func apply(_ t: [Tensor], adding residual: Tensor? = nil, relu: Bool) -> Tensor {
        conv2d(t[0], weight: t[1], bias: t.count > 2 ? t[2] : nil, stride: stride, padding: padding, groups: groups,
               adding: residual, relu: relu)
    }
}

/// One side of a fused-op equality test: y = `forward()`, then the gradients of Σ y·r (r uniform in [−1, 1], drawn
/// from `seed`) into every one of `inputs` by a full backward, and into `inputs[0]` (x) alone, as an attack takes it;
/// with `nan` (x holds a NaN), the output alone.
func outputAndGradients(_ forward: () -> Tensor, inputs: [Tensor], seed: UInt64,
                        nan: Bool) -> (y: [Float], grads: [[Float]], dxOnly: [Float]) {
    let y = forward()
    guard !nan else { return (y.scalars, [], []) }
    var rng = SeededGenerator(seed: seed)
    let r = Tensor.uniform(y.shape, -1, 1, using: &rng)
    (y * r).sum().backward()
    let dxOnly = (forward() * r).sum().gradients(wrt: [inputs[0]])[0]
    return (y.scalars, inputs.map { $0.grad?.scalars ?? [] }, dxOnly.scalars)
}

/// The fused ReLU against finite differences w.r.t. x, weight and bias. A step h moves an output by at most
/// h·max(|w|, |x|, 1) = h, so pre-activations at least 1.5·h from 0 keep every step on one side of the kink.
@Test(arguments: ConvReLUGradientCase.allCases)
func convolutionWithFusedReLUGradientMatchesFiniteDifferences(_ op: ConvReLUGradientCase) throws {
    let check = GradientCheck()
    let inputs = try op.inputs(margin: 1.5 * check.h)
    check.check(op.rawValue + "+relu", inputs: inputs) { op.spec.apply($0, relu: true) }
}

/// `conv2d(…, relu: true)` is `conv2d(…).relu()` exactly, for every kernel: the output, every gradient of a
/// full backward and the input-only gradient of an attack, bit for bit (the kernels mask dy where they
/// copy it, or mask it first, but sum the same values in the same order); with NaNs in x, the outputs too.
@Test(arguments: ConvCase.all + WinogradCase.all.map(\.conv) + [
    ConvCase(name: "batch 4, 3×3 stride 2 with bias (several images per GEMM)", n: 4, cin: 3, h: 7, w: 7, cout: 5, stride: 2,
             padding: .symmetric(1)),
    ConvCase(name: "Winograd 8 → 16, batch 3, padding 1", n: 3, cin: 8, h: 9, w: 6, cout: 16, padding: .symmetric(1)),
])
func convolutionWithFusedReLUEqualsConvolutionThenReLU(_ c: ConvCase) {
    func run(fused: Bool, nan: Bool) -> (y: [Float], grads: [[Float]], dxOnly: [Float]) {
        let inputs = [smoothInput(c.xShape, seed: 81), smoothInput(c.wShape, seed: 82, scale: 0.5)]
            + (c.bias ? [smoothInput([c.cout], seed: 83, scale: 0.5)] : [])
        if nan { inputs[0].data[c.xShape[1...].reduce(1, *) / 2] = .nan }
        for t in inputs { t.requiresGrad = true }
        func forward() -> Tensor { fused ? c.apply(inputs, relu: true) : c.apply(inputs, relu: false).relu() }
        return outputAndGradients(forward, inputs: inputs, seed: 84, nan: nan)
    }
    for nan in [false, true] {
        let (fused, separate) = (run(fused: true, nan: nan), run(fused: false, nan: nan))
        #expect(fused.y.map(\.bitPattern) == separate.y.map(\.bitPattern), "output, nan: \(nan)")
        #expect(fused.grads == separate.grads, "x, weight, bias gradients")
        #expect(fused.dxOnly == separate.dxOnly, "input-only gradient")
        if nan { #expect(!fused.y.contains { $0.isNaN }) } else { #expect(fused.y.contains(0), "the ReLU must cut something") }
    }
}

// MARK: - Fused residual

/// `conv2d(…, adding: r, relu:)` is `conv2d(…) + r` (then `.relu()`) exactly, for every kernel: the output, the
/// gradients of x, weight, bias and r of a full backward, and the input-only gradient of an attack, bit for bit
/// (Winograd adds r in its output transform, on four- and eight-channel blocks and clipped tiles; the other kernels
/// in a pass after their own); with NaNs in x, the outputs too.
@Test(arguments: ConvCase.all + WinogradCase.all.map(\.conv) + [
    ConvCase(name: "Winograd 8 → 16, batch 3, padding 1", n: 3, cin: 8, h: 9, w: 6, cout: 16, padding: .symmetric(1)),
    ConvCase(name: "Winograd 8 → 12 (a pair of blocks and one alone), 7×9", n: 2, cin: 8, h: 7, w: 9, cout: 12,
             padding: .symmetric(1)),
])
func convolutionWithFusedResidualEqualsConvolutionPlusResidual(_ c: ConvCase) {
    func run(fused: Bool, relu: Bool, nan: Bool) -> (y: [Float], grads: [[Float]], dxOnly: [Float]) {
        let inputs = [smoothInput(c.xShape, seed: 91), smoothInput(c.wShape, seed: 92, scale: 0.5)]
            + (c.bias ? [smoothInput([c.cout], seed: 93, scale: 0.5)] : [])
        let shape = withNoGrad { c.apply(inputs, relu: false) }.shape
        let residual = smoothInput(shape, seed: 94)
        if nan { inputs[0].data[c.xShape[1...].reduce(1, *) / 2] = .nan }
        for t in inputs + [residual] { t.requiresGrad = true }
        func forward() -> Tensor {
            if fused { return c.apply(inputs, adding: residual, relu: relu) }
            let sum = c.apply(inputs, relu: false) + residual
            return relu ? sum.relu() : sum
        }
        return outputAndGradients(forward, inputs: inputs + [residual], seed: 95, nan: nan)
    }
    for relu in [false, true] {
        for nan in [false, true] {
            let (fused, separate) = (run(fused: true, relu: relu, nan: nan), run(fused: false, relu: relu, nan: nan))
            #expect(fused.y.map(\.bitPattern) == separate.y.map(\.bitPattern), "output, relu: \(relu), nan: \(nan)")
            #expect(fused.grads == separate.grads, "x, weight, bias, residual gradients, relu: \(relu)")
            #expect(fused.dxOnly == separate.dxOnly, "input-only gradient, relu: \(relu)")
            if relu && !nan { #expect(fused.y.contains(0), "the ReLU must cut something") }
            if !nan { #expect(fused.grads.last?.isEmpty == false, "the residual gets a gradient") }
        }
    }
}

@Test func residualOfAnotherShapeStopsWithBothShapesInTheMessage() async {
    await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
        _ = conv2d(Tensor(zeros: [1, 8, 6, 6]), weight: Tensor(zeros: [8, 8, 3, 3]), bias: nil, padding: .symmetric(1),
                   adding: Tensor(zeros: [1, 8, 4, 4]))
    }.map { result in
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("[1, 8, 4, 4]") && message.contains("[1, 8, 6, 6]"), "\(message)")
    }
}

// MARK: - Hand-computed

// x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 2], [3, 4]].
private let handX: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
private let handW: [Float] = [1, 2, 3, 4]

@Test func twoByTwoKernelOnThreeByThreeImageGivesHandComputedValuesAndGradients() {
    let x = Tensor(shape: [1, 1, 3, 3], scalars: handX, requiresGrad: true)
    let w = Tensor(shape: [1, 1, 2, 2], scalars: handW, requiresGrad: true)
    let b = Tensor(shape: [1], scalars: [0.5], requiresGrad: true)
    let y = conv2d(x, weight: w, bias: b)
    // y00 = 1·1 + 2·2 + 4·3 + 5·4 = 37, y01 = 2 + 6 + 15 + 24 = 47, y10 = 4 + 10 + 21 + 32 = 67,
    // y11 = 5 + 12 + 24 + 36 = 77; plus the bias 0.5.
    #expect(y.shape == [1, 1, 2, 2])
    #expect(y.scalars == [37.5, 47.5, 67.5, 77.5])
    y.sum().backward()
    // dx[p] = Σ of the kernel weights that touch p: the centre is touched by all four (1+2+3+4).
    #expect(x.grad?.scalars == [1, 3, 2, 4, 10, 6, 3, 7, 4])
    // dw[i, j] = Σ of the 2×2 block of x starting at (i, j).
    #expect(w.grad?.scalars == [12, 16, 24, 28])
    // dbias = number of outputs.
    #expect(b.grad?.scalars == [4])
}

@Test func paddedStridedTwoByTwoKernelGivesHandComputedValues() {
    let x = Tensor(shape: [1, 1, 3, 3], scalars: handX)
    let w = Tensor(shape: [1, 1, 2, 2], scalars: handW)
    // Padding 1, stride 2: windows start at (−1, −1), (−1, 1), (1, −1), (1, 1).
    // (−1, −1) sees only x00 under w11: 1·4 = 4. (−1, 1) sees x01, x02 under w10, w11: 2·3 + 3·4 = 18.
    // (1, −1) sees x10, x20 under w01, w11: 4·2 + 7·4 = 36. (1, 1) is the full block: 77.
    let y = conv2d(x, weight: w, bias: nil, stride: 2, padding: .symmetric(1))
    #expect(y.shape == [1, 1, 2, 2])
    #expect(y.scalars == [4, 18, 36, 77])
}

@Test func asymmetricPaddingPadsOnlyTheNamedSides() {
    // Padding only at the bottom and right with a 2×2 kernel of ones: each output is the sum of
    // its 2×2 block, the last row/column see zeros beyond the image.
    let x = Tensor(shape: [1, 1, 3, 3], scalars: handX)
    let w = Tensor(repeating: 1, shape: [1, 1, 2, 2])
    let y = conv2d(x, weight: w, bias: nil, padding: Padding(top: 0, bottom: 1, left: 0, right: 1))
    #expect(y.shape == [1, 1, 3, 3])
    #expect(y.scalars == [12, 16, 9, 24, 28, 15, 15, 17, 9])
}

@Test func emptyBatchGivesEmptyOutputAndZeroParameterGradients() {
    for (weightShape, groups) in [([4, 3, 3, 3], 1), ([3, 1, 3, 3], 3)] {  // GEMM path, depthwise path
        let x = Tensor(zeros: [0, 3, 5, 5])
        let w = Tensor(repeating: 1, shape: weightShape), b = Tensor(repeating: 1, shape: [weightShape[0]])
        w.requiresGrad = true; b.requiresGrad = true
        let y = conv2d(x, weight: w, bias: b, groups: groups)
        #expect(y.shape == [0, weightShape[0], 3, 3])
        y.sum().backward()
        #expect(w.grad?.scalars.allSatisfy { $0 == 0 } == true && b.grad?.scalars.allSatisfy { $0 == 0 } == true)
    }
}

// MARK: - Backward respects `needs`

@Test func inputOnlyBackwardGivesTheFullBackwardsInputGradientAndLeavesWeightGradNil() {
    for c in [ConvCase.groups2, ConvCase.depthwise, ConvCase.pointwise] {
        let x = smoothInput(c.xShape, seed: 31)
        let w = smoothInput(c.wShape, seed: 32)
        let b = smoothInput([c.cout], seed: 33)
        let r = smoothInput(c.yShape, seed: 34)
        func loss() -> Tensor {
            (conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups) * r).sum()
        }
        x.requiresGrad = true; w.requiresGrad = true; b.requiresGrad = true
        let inputOnly = loss().gradients(wrt: [x])[0]
        #expect(w.grad == nil && b.grad == nil && x.grad == nil, "\(c.name)")
        loss().backward()
        #expect(inputOnly.scalars == x.grad?.scalars, "\(c.name)")
        #expect(w.grad != nil && b.grad != nil, "\(c.name)")
    }
}

// MARK: - Shape errors

@Test func channelMismatchStopsWithBothShapesInTheMessage() async {
    await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
        _ = conv2d(Tensor(zeros: [1, 3, 8, 8]), weight: Tensor(zeros: [4, 2, 3, 3]), bias: nil)
    }.map { result in
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("[1, 3, 8, 8]") && message.contains("[4, 2, 3, 3]"), "\(message)")
    }
}

/// The stride-2 row copy of im2col (`gatherEven`) is the scalar loop's copy for every start, length and end of the
/// plane, and reads nothing at or past `limit`: the floats from there on are NaN, and no NaN reaches the output.
/// Its adjoint (`scatterAddEven`, col2im's) adds onto exactly the floats the copy reads, and leaves the NaNs past
/// `limit` bit for bit as they were.
@Test func evenGatherCopiesTheScalarLoopAndStopsAtThePlanesEnd() {
    for limit in [17, 31, 48] {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: limit + 32)
        defer { buffer.deallocate() }
        for k in 0..<(limit + 32) { buffer[k] = k < limit ? Float(k) * 0.5 - 3 : .nan }
        for base in -1...2 {
            let first = base < 0 ? 1 : 0, end = (limit - base + 1) / 2  // outputs whose input lies in 0..<limit
            for lower in first...min(first + 3, end) {
                for upper in lower...end {
                    var out = [Float](repeating: -99, count: end + 1)
                    out.withUnsafeMutableBufferPointer { gatherEven(from: buffer, base: base, lower..<upper, limit: limit, into: $0.baseAddress!) }
                    let expected = (0...end).map { (lower..<upper).contains($0) ? buffer[base + 2 * $0] : -99 }
                    #expect(out == expected, "limit \(limit), base \(base), outputs \(lower)..<\(upper)")
                    // The adjoint: adds onto the even floats of the range, leaves every other float as it was.
                    let target = UnsafeMutablePointer<Float>.allocate(capacity: limit + 32)
                    defer { target.deallocate() }
                    target.update(from: buffer, count: limit + 32)
                    let d = (0...end).map { Float($0) + 0.25 }
                    d.withUnsafeBufferPointer { scatterAddEven($0.baseAddress!, lower..<upper, into: target, base: base, limit: limit) }
                    let added = Set((lower..<upper).map { base + 2 * $0 })
                    let want = (0..<(limit + 32)).map { added.contains($0) ? buffer[$0] + d[($0 - base) / 2] : buffer[$0] }
                    let got = (0..<(limit + 32)).map { target[$0] }
                    #expect(zip(got, want).allSatisfy { $0.bitPattern == $1.bitPattern },
                            "scatter: limit \(limit), base \(base), outputs \(lower)..<\(upper)")
                }
            }
        }
    }
}
