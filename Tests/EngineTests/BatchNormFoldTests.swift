import Engine
import Testing

/// `foldBatchNorm` + `conv2d(…, relu:)` against the unfolded ops it replaces (conv2d, batchNorm2d in eval
/// mode, relu), against finite differences, and its buffer reuse.

/// One conv → eval-mode BN (→ ReLU) on a kernel's shapes, with non-trivial γ, β and running statistics.
struct FoldCase: CustomTestStringConvertible, Sendable {
    let conv: ConvCase
    var relu = true
    var testDescription: String { conv.name + (relu ? " + relu" : "") }

    static let all: [FoldCase] = [
        FoldCase(conv: ConvCase(name: "Winograd 8 → 12, 6×7, padding 1", n: 2, cin: 8, h: 6, w: 7, cout: 12,
                                padding: .symmetric(1), bias: false)),
        FoldCase(conv: ConvCase(name: "Winograd with a conv bias", n: 2, cin: 9, h: 5, w: 5, cout: 8,
                                padding: .symmetric(1)), relu: false),
        FoldCase(conv: ConvCase(name: "im2col, stride 2, asymmetric padding, conv bias", n: 3, h: 7, w: 6, cout: 5, stride: 2,
                                padding: Padding(top: 0, bottom: 1, left: 0, right: 1))),
        FoldCase(conv: ConvCase(name: "pointwise", n: 3, cin: 6, h: 5, w: 4, cout: 5, kh: 1, kw: 1, bias: false), relu: false),
        FoldCase(conv: ConvCase(name: "depthwise, padding 1", cin: 5, h: 7, w: 11, cout: 5, groups: 5,
                                padding: .symmetric(1), bias: false)),
        FoldCase(conv: ConvCase(name: "depthwise, stride 2, conv bias", cin: 4, h: 8, w: 7, cout: 4, stride: 2, groups: 4,
                                padding: Padding(top: 0, bottom: 1, left: 0, right: 1))),
        FoldCase(conv: ConvCase(name: "single input channel (first layer)", cin: 1, h: 12, w: 12, cout: 6,
                                padding: .symmetric(1), bias: false)),
    ]

    /// x, W, b_conv? and the batch norm's γ, β, running mean and variance (γ around ±1, variance in [0.3, 2.3]).
    func tensors() -> (x: Tensor, w: Tensor, convBias: Tensor?, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor) {
        let c = conv
        let variance = smoothInput([c.cout], seed: 95, margin: 0.3)
        for i in 0..<variance.count { variance.data[i] = abs(variance.data[i]) * 2 + 0.3 }
        return (smoothInput(c.xShape, seed: 91), smoothInput(c.wShape, seed: 92, scale: 0.5),
                c.bias ? smoothInput([c.cout], seed: 93) : nil, smoothInput([c.cout], seed: 94, margin: 0.5, scale: 1.5),
                smoothInput([c.cout], seed: 96), smoothInput([c.cout], seed: 97, scale: 0.3), variance)
    }
}

@Test(arguments: FoldCase.all)
func foldedConvolutionMatchesConvolutionThenEvalBatchNormThenReLU(_ fc: FoldCase) {
    let c = fc.conv
    let t = fc.tensors()
    let leaves = [t.x, t.w, t.gamma, t.beta] + (t.convBias.map { [$0] } ?? [])
    func run(folded: Bool) -> (y: [Float], grads: [[Float]]) {
        for leaf in leaves { leaf.requiresGrad = true; leaf.grad = nil }
        let y: Tensor
        if folded {
            let (w, b) = foldBatchNorm(convWeight: t.w, convBias: t.convBias, weight: t.gamma, bias: t.beta,
                                       runningMean: t.mean, runningVar: t.variance)
            y = conv2d(t.x, weight: w, bias: b, stride: c.stride, padding: c.padding, groups: c.groups, relu: fc.relu)
        } else {
            let z = conv2d(t.x, weight: t.w, bias: t.convBias, stride: c.stride, padding: c.padding, groups: c.groups)
            let bn = batchNorm2d(z, weight: t.gamma, bias: t.beta, runningMean: t.mean, runningVar: t.variance,
                                 numBatchesTracked: nil, training: false)
            y = fc.relu ? bn.relu() : bn
        }
        var rng = SeededGenerator(seed: 98)
        (y * Tensor.uniform(y.shape, -1, 1, using: &rng)).sum().backward()
        defer { for leaf in leaves { leaf.requiresGrad = false; leaf.grad = nil } }
        return (y.scalars, leaves.map { $0.grad?.scalars ?? [] })
    }
    let (folded, reference) = (run(folded: true), run(folded: false))
    // The same products summed in another order: |a − r| ≤ 1e-4·(|r| + mean |r|), as against the naive definition.
    expectClose(folded.y, reference.y.map(Double.init), "output")
    if fc.relu { #expect(folded.y.contains(0) && folded.y.contains { $0 > 0 }, "the ReLU must cut something") }
    for (name, (a, r)) in zip(["x", "W", "γ", "β", "conv bias"], zip(folded.grads, reference.grads)) {
        expectClose(a, r.map(Double.init), "∂/∂\(name)")
    }
}

/// The fold's own backward (W′ from W and γ; b′ from β, γ and the conv bias) against finite differences,
/// through the convolution that uses it.
@Test func foldGradientMatchesFiniteDifferencesForWeightGammaBetaAndConvBias() {
    let c = ConvCase(name: "im2col with conv bias", n: 2, cin: 3, h: 5, w: 5, cout: 4, padding: .symmetric(1))
    let fc = FoldCase(conv: c, relu: false)
    let t = fc.tensors()
    GradientCheck(h: 1e-2).check("fold", inputs: [t.w, t.gamma, t.beta, t.convBias!]) { p in
        let (w, b) = foldBatchNorm(convWeight: p[0], convBias: p[3], weight: p[1], bias: p[2],
                                   runningMean: t.mean, runningVar: t.variance)
        return conv2d(t.x, weight: w, bias: b, padding: c.padding)
    }
}

/// W′ = W·γ/√(var + eps) and b′ = β + (b_conv − μ)·γ/√(var + eps), computed by hand for two channels.
@Test func foldedWeightsAndBiasAreTheFormulaOnHandPickedNumbers() {
    let w = Tensor(shape: [2, 1, 1, 2], scalars: [1, -2, 3, 4])
    let (weight, bias) = foldBatchNorm(convWeight: w, convBias: Tensor(shape: [2], scalars: [0.5, 0]),
                                       weight: Tensor(shape: [2], scalars: [2, -1]), bias: Tensor(shape: [2], scalars: [1, 3]),
                                       runningMean: Tensor(shape: [2], scalars: [1.5, -1]),
                                       runningVar: Tensor(shape: [2], scalars: [4 - 1e-5, 0.25 - 1e-5]))
    // s = γ/√(var + eps) = (2/2, −1/0.5) = (1, −2); b′ = β + (b_conv − μ)·s = (1 + (0.5 − 1.5)·1, 3 + (0 + 1)·(−2)).
    #expect(weight.scalars.map { ($0 * 1e4).rounded() / 1e4 } == [1, -2, -6, -8])
    #expect(bias.scalars.map { ($0 * 1e4).rounded() / 1e4 } == [0, 1])
}

// MARK: - Buffer reuse

/// Unchanged inputs give W′ in the same buffer (what lets the Winograd weight cache hit); changed weights
/// are rewritten in place when nothing else holds the buffer, and go to new storage while an earlier
/// result is still held (a graph not yet backpropagated), which keeps its values.
@Test func foldReusesItsBufferOnlyWhileThatIsExact() {
    let t = FoldCase(conv: ConvCase(name: "reuse", cin: 8, cout: 8), relu: true).tensors()
    let fold = BatchNormFold()
    func folded() -> Tensor {
        foldBatchNorm(convWeight: t.w, convBias: nil, weight: t.gamma, bias: t.beta, runningMean: t.mean,
                      runningVar: t.variance, reusing: fold).weight
    }
    let unshared = folded().data  // the tensor is gone; the buffer stays with `fold`
    #expect(folded().data == unshared, "same inputs, same buffer")

    t.w.data[5] += 0.5  // an optimizer step, in place
    var held: Tensor? = folded()
    #expect(held!.data == unshared, "nothing else held the buffer: rewritten in place")
    let expected = withNoGrad { foldBatchNorm(convWeight: t.w, convBias: nil, weight: t.gamma, bias: t.beta,
                                              runningMean: t.mean, runningVar: t.variance).weight.scalars }
    #expect(held!.scalars == expected)

    t.gamma.data[2] *= -1  // new parameters while the previous W′ is still held
    let next = folded()
    #expect(next.data != held!.data, "a held buffer is never rewritten")
    #expect(held!.scalars == expected, "the earlier result keeps its values")
    held = nil
    #expect(folded().data == next.data, "the new buffer is the one reused from now on")
}

@Test func foldWithoutAffineParametersUsesUnitScaleAndZeroShift() {
    let t = FoldCase(conv: ConvCase(name: "no affine", bias: false), relu: false).tensors()
    let (w, b) = foldBatchNorm(convWeight: t.w, convBias: nil, weight: nil, bias: nil, runningMean: t.mean, runningVar: t.variance)
    let y = conv2d(t.x, weight: w, bias: b)
    let reference = batchNorm2d(conv2d(t.x, weight: t.w, bias: nil), weight: nil, bias: nil, runningMean: t.mean,
                                runningVar: t.variance, numBatchesTracked: nil, training: false)
    expectClose(y.scalars, reference.scalars.map(Double.init), "output")
}
