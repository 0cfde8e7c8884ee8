import Engine

/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, exactly as
/// `torch.optim.SGD` (single-tensor path). Per parameter `p` with gradient `g`:
/// ```
/// d = g + wd·p
/// if μ ≠ 0:  buf = d                              (first step this parameter has a gradient)
///            buf = μ·buf + (1 − dampening)·d      (later steps)
///            d = nesterov ? d + μ·buf : buf
/// p ← p − lr·d
/// ```
/// State: `momentum_buffer.<i>` (shape of parameter `i`) once it has been created.
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let momentum: Float
    public let dampening: Float
    public let weightDecay: Float
    public let nesterov: Bool
    public var stepCount = 0
    private var momentumBuffers: [Tensor?]

    /// Traps on hyperparameters that `validate` rejects (check user input with `validate` first).
    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) {
        do {
            try Self.validate(learningRate: learningRate, momentum: momentum, dampening: dampening,
                              weightDecay: weightDecay, nesterov: nesterov)
        } catch { fatalError(error.description) }
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        self.momentumBuffers = Array(repeating: nil, count: parameters.count)
    }

    /// PyTorch's checks: lr, momentum and weight decay ≥ 0; Nesterov needs momentum > 0 and no dampening.
    public static func validate(learningRate: Float, momentum: Float, dampening: Float, weightDecay: Float,
                                nesterov: Bool) throws(OptimizerError) {
        func invalid(_ name: String, _ value: Float, _ requirement: String) -> OptimizerError {
            .invalidHyperparameter(optimizer: "SGD", name: name, value: value, requirement: requirement)
        }
        guard learningRate >= 0, learningRate.isFinite else { throw invalid("learningRate", learningRate, "finite and ≥ 0") }
        guard momentum >= 0, momentum.isFinite else { throw invalid("momentum", momentum, "finite and ≥ 0") }
        guard dampening.isFinite else { throw invalid("dampening", dampening, "finite") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw invalid("weightDecay", weightDecay, "finite and ≥ 0") }
        if nesterov {
            guard momentum > 0 else { throw invalid("momentum", momentum, "> 0 with Nesterov") }
            guard dampening == 0 else { throw invalid("dampening", dampening, "0 with Nesterov") }
        }
    }

    public func step() {
        stepCount += 1
        for (i, parameter) in parameters.enumerated() {
            guard let gradient = parameter.grad else { continue }
            require(gradient.shape == parameter.shape,
                    "SGD: gradient \(gradient.shape) does not match parameter \(i) of shape \(parameter.shape)")
            var buffer: Tensor?
            var isFirst = false
            if momentum != 0 {
                if let existing = momentumBuffers[i] {
                    buffer = existing
                } else {
                    buffer = Tensor(uninitializedShape: parameter.shape)
                    momentumBuffers[i] = buffer
                    isFirst = true
                }
            }
            let pointers = UpdatePointers(parameter: parameter.data, gradient: gradient.data, first: buffer?.data, second: nil)
            let (lr, mu, damping, wd, nesterov) = (learningRate, momentum, 1 - dampening, weightDecay, nesterov)
            parallelFor(parameter.count, grain: elementwiseGrain) { range in
                let p = pointers.parameter, g = pointers.gradient
                guard let b = pointers.first else {
                    for j in range { p[j] -= lr * (g[j] + wd * p[j]) }
                    return
                }
                for j in range {
                    let d = g[j] + wd * p[j]
                    let v = isFirst ? d : mu * b[j] + damping * d
                    b[j] = v
                    p[j] -= lr * (nesterov ? d + mu * v : v)
                }
            }
        }
    }

    public func zeroGrad() {
        for parameter in parameters { parameter.grad = nil }
    }

    public func stateTensors() -> [(String, Tensor)] {
        momentumBuffers.enumerated().compactMap { i, buffer in buffer.map { ("momentum_buffer.\(i)", $0) } }
    }

    public func loadState(_ tensors: [String: Tensor]) throws {
        var buffers = [Tensor?](repeating: nil, count: parameters.count)
        for (key, tensor) in tensors {
            guard let (name, i) = parseStateKey(key), name == "momentum_buffer", i < parameters.count else {
                throw OptimizerError.unknownStateTensor(
                    optimizer: "SGD", key: key, expected: "momentum_buffer.<i> with 0 ≤ i < \(parameters.count)")
            }
            guard tensor.shape == parameters[i].shape else {
                throw OptimizerError.stateShapeMismatch(optimizer: "SGD", key: key, expected: parameters[i].shape, found: tensor.shape)
            }
            buffers[i] = tensor.detachedCopy()
        }
        momentumBuffers = buffers
    }
}
