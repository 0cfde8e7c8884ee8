import Engine

/// `nn.BatchNorm2d` (momentum 0.1, eps 1e-5): keys `weight`, `bias` (γ, β: parameters),
/// `running_mean`, `running_var`, `num_batches_tracked` (buffers).
final class BatchNormLayer: StateProviding {
    let weight: Tensor
    let bias: Tensor
    let runningMean: Tensor
    let runningVar: Tensor
    let numBatchesTracked: Tensor
    let momentum: Float
    let eps: Float
    /// W′ and b′ of the eval-mode fold into the convolution before this layer (`Conv2DLayer(_:then:…)`),
    /// kept between calls so that unchanged weights reach the convolution in the same buffer.
    let fold = BatchNormFold()

    init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        weight = Tensor(repeating: 1, shape: [channels]); weight.requiresGrad = true
        bias = Tensor(zeros: [channels], requiresGrad: true)
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(repeating: 1, shape: [channels])
        numBatchesTracked = Tensor(zeros: [])
        self.momentum = momentum; self.eps = eps
    }

    /// Values `init` allocates: four per channel (γ, β, running mean and variance) and the 0-d batch counter.
    static func elementCount(_ channels: Int) -> Int { 4 * channels + 1 }

    /// x: [N, C, H, W] → same shape. `relu: true` is `self(x, training:).relu()` in one fused op.
    func callAsFunction(_ x: Tensor, training: Bool, relu: Bool = false) -> Tensor {
        normalize(x, training: training, relu: relu, pool: false)
    }

    /// x: [N, C, H, W] → [N, C, H/2, W/2]: `maxPool2d(self(x, training:, relu: true), kernel: 2)` in one fused op
    /// (`batchNorm2d(…, pool: true)`), the same values and gradients bit for bit.
    func reluMaxPool2(_ x: Tensor, training: Bool) -> Tensor {
        normalize(x, training: training, relu: true, pool: true)
    }

    /// `batchNorm2d` with this layer's parameters, statistics and settings.
    private func normalize(_ x: Tensor, training: Bool, relu: Bool, pool: Bool) -> Tensor {
        batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                    numBatchesTracked: numBatchesTracked, training: training, momentum: momentum, eps: eps,
                    relu: relu, pool: pool)
    }

    func collect(_ prefix: String, into c: inout StateCollector) {
        c.add(prefix + "weight", weight)
        c.add(prefix + "bias", bias)
        c.add(prefix + "running_mean", runningMean, parameter: false)
        c.add(prefix + "running_var", runningVar, parameter: false)
        c.add(prefix + "num_batches_tracked", numBatchesTracked, parameter: false)
    }
}
