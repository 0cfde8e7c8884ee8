import Engine

/// conv → batch norm (→ ReLU), the pair every model of the zoo repeats, as one call:
/// `conv1(x, then: bn1, training: training, relu: true)`.
///
/// Training mode: `bn(conv(x), training: true, relu:)`, the two layers' own ops, batch statistics and
/// running-statistics update included. Eval mode: the batch norm folded into the convolution
/// (`foldBatchNorm`, Engine/Ops/BatchNormFold.swift), one `conv2d` with W′ = W·s and b′ = β + (b_conv − μ)·s,
/// s = γ/√(running_var + eps), and the ReLU in its output write: no batch-norm pass over the activation,
/// forward or backward. Its outputs equal the two layers' up to float rounding (the same products summed
/// in another order), and gradients reach W, γ, β (and the conv bias) as they do through the two layers,
/// so an eval-mode forward pass can still be backpropagated into the parameters.
extension Conv2DLayer {
    /// x: [N, Cin, H, W] → [N, Cout, OH, OW]: `bn(self(x), training:, relu:)`, folded in eval mode.
    func callAsFunction(_ x: Tensor, then bn: BatchNormLayer, training: Bool, relu: Bool = false) -> Tensor {
        guard !training else { return bn(self(x), training: true, relu: relu) }
        let (w, b) = folded(into: bn)
        return conv2d(x, weight: w, bias: b, stride: stride, padding: padding, groups: groups, relu: relu)
    }

    /// A residual block's end, `(bn(self(x), training:) + residual)` and its ReLU with `relu`, bit for bit: in eval
    /// mode one op, the folded convolution adding the residual (and clamping) as it stores (`conv2d(…, adding:)`); in
    /// training mode the ops themselves.
    func callAsFunction(_ x: Tensor, then bn: BatchNormLayer, training: Bool, adding residual: Tensor,
                        relu: Bool) -> Tensor {
        guard !training else {
            let sum = bn(self(x), training: true) + residual
            return relu ? sum.relu() : sum
        }
        let (w, b) = folded(into: bn)
        return conv2d(x, weight: w, bias: b, stride: stride, padding: padding, groups: groups, adding: residual, relu: relu)
    }

    /// W′ and b′ of this convolution with `bn`'s eval-mode normalisation folded in (`foldBatchNorm`).
    private func folded(into bn: BatchNormLayer) -> (Tensor, Tensor) {
        foldBatchNorm(convWeight: weight, convBias: bias, weight: bn.weight, bias: bn.bias,
                      runningMean: bn.runningMean, runningVar: bn.runningVar, eps: bn.eps, reusing: bn.fold)
    }

    /// x → `maxPool2d(self(x, then: bn, training:, relu: true), kernel: 2)`, bit for bit: in eval mode the folded
    /// convolution, its ReLU and the pooling are one op (`conv2dReLUMaxPool2`); in training mode the batch norm, its
    /// ReLU and the pooling are (`BatchNormLayer.reluMaxPool2`).
    func reluMaxPool2(_ x: Tensor, then bn: BatchNormLayer, training: Bool) -> Tensor {
        guard !training else { return bn.reluMaxPool2(self(x), training: true) }
        let (w, b) = folded(into: bn)
        return conv2dReLUMaxPool2(x, weight: w, bias: b, stride: stride, padding: padding, groups: groups)
    }

    /// `callAsFunction(_:then:training:relu:)` written down for export: the graph keeps the convolution,
    /// the batch norm and the ReLU as separate nodes (an ONNX runtime folds them itself).
    func callAsFunction(_ x: GraphValue, then bn: BatchNormLayer, relu: Bool = false) -> GraphValue {
        bn(self(x), relu: relu)
    }
}
