import Engine
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Adam with bias correction and L2 weight decay (added to the gradient), exactly as
/// `torch.optim.Adam` (single-tensor path, `amsgrad=False`). Per parameter `p` with gradient `g`
/// and its own step count `t` (incremented only on steps where `p` has a gradient):
/// ```
/// g = g + wd·p
/// m = m + (1 − β1)·(g − m)          (torch's lerp form of β1·m + (1 − β1)·g)
/// v = β2·v + (1 − β2)·g²
/// p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
/// ```
/// The bias corrections are computed in Double, as PyTorch does with its Python-float step.
/// State per parameter `i` (after its first update): `exp_avg.<i>`, `exp_avg_sq.<i>` (parameter
/// shape) and `step.<i>` (a scalar, shape `[]`).
public final class Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    public var stepCount = 0
    private var state: [Moments?]

    private struct Moments {
        let expAvg: Tensor      // m, parameter shape
        let expAvgSq: Tensor    // v, parameter shape
        var step: Int
    }

    /// Traps on hyperparameters that `validate` rejects (check user input with `validate` first).
    public init(parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0) {
        do {
            try Self.validate(learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
        } catch { fatalError(error.description) }
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.state = Array(repeating: nil, count: parameters.count)
    }

    /// PyTorch's checks: lr, eps and weight decay ≥ 0; 0 ≤ β1, β2 < 1.
    public static func validate(learningRate: Float, beta1: Float, beta2: Float, eps: Float,
                                weightDecay: Float) throws(OptimizerError) {
        func invalid(_ name: String, _ value: Float, _ requirement: String) -> OptimizerError {
            .invalidHyperparameter(optimizer: "Adam", name: name, value: value, requirement: requirement)
        }
        guard learningRate >= 0, learningRate.isFinite else { throw invalid("learningRate", learningRate, "finite and ≥ 0") }
        guard beta1 >= 0, beta1 < 1 else { throw invalid("beta1", beta1, "in [0, 1)") }
        guard beta2 >= 0, beta2 < 1 else { throw invalid("beta2", beta2, "in [0, 1)") }
        guard eps >= 0, eps.isFinite else { throw invalid("eps", eps, "finite and ≥ 0") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw invalid("weightDecay", weightDecay, "finite and ≥ 0") }
    }

    public func step() {
        stepCount += 1
        for (i, parameter) in parameters.enumerated() {
            guard let gradient = parameter.grad else { continue }
            require(gradient.shape == parameter.shape,
                    "Adam: gradient \(gradient.shape) does not match parameter \(i) of shape \(parameter.shape)")
            var moments = state[i] ?? Moments(expAvg: Tensor(zeros: parameter.shape),
                                              expAvgSq: Tensor(zeros: parameter.shape), step: 0)
            moments.step += 1
            state[i] = moments

            let t = Double(moments.step)
            let biasCorrection1 = 1 - Double(beta1).power(t)
            let biasCorrection2 = 1 - Double(beta2).power(t)
            let stepSize = Float(Double(learningRate) / biasCorrection1)
            let biasCorrection2Sqrt = Float(biasCorrection2.squareRoot())
            let (oneMinusBeta1, b2, oneMinusBeta2, eps, wd) = (1 - beta1, beta2, 1 - beta2, eps, weightDecay)
            let pointers = UpdatePointers(parameter: parameter.data, gradient: gradient.data,
                                          first: moments.expAvg.data, second: moments.expAvgSq.data)
            parallelFor(parameter.count, grain: elementwiseGrain) { range in
                let p = pointers.parameter, g = pointers.gradient
                guard let m = pointers.first, let v = pointers.second else { return }
                for j in range {
                    let d = g[j] + wd * p[j]
                    m[j] += oneMinusBeta1 * (d - m[j])
                    v[j] = v[j] * b2 + oneMinusBeta2 * d * d
                    let denominator = v[j].squareRoot() / biasCorrection2Sqrt + eps
                    p[j] -= stepSize * (m[j] / denominator)
                }
            }
        }
    }

    public func zeroGrad() {
        for parameter in parameters { parameter.grad = nil }
    }

    public func stateTensors() -> [(String, Tensor)] {
        state.enumerated().flatMap { i, moments -> [(String, Tensor)] in
            guard let moments else { return [] }
            return [("exp_avg.\(i)", moments.expAvg), ("exp_avg_sq.\(i)", moments.expAvgSq),
                    ("step.\(i)", Tensor(shape: [], scalars: [Float(moments.step)]))]
        }
    }

    public func loadState(_ tensors: [String: Tensor]) throws {
        let names = ["exp_avg", "exp_avg_sq", "step"]
        var found: [Int: [String: Tensor]] = [:]
        for (key, tensor) in tensors {
            guard let (name, i) = parseStateKey(key), names.contains(name), i < parameters.count else {
                throw OptimizerError.unknownStateTensor(
                    optimizer: "Adam", key: key,
                    expected: "exp_avg.<i>, exp_avg_sq.<i> or step.<i> with 0 ≤ i < \(parameters.count)")
            }
            let expected = name == "step" ? [] : parameters[i].shape
            guard tensor.shape == expected else {
                throw OptimizerError.stateShapeMismatch(optimizer: "Adam", key: key, expected: expected, found: tensor.shape)
            }
            found[i, default: [:]][name] = tensor
        }
        var restored = [Moments?](repeating: nil, count: parameters.count)
        for (i, parts) in found {
            guard let m = parts["exp_avg"], let v = parts["exp_avg_sq"], let step = parts["step"] else {
                let missing = names.first { parts[$0] == nil } ?? ""
                throw OptimizerError.incompleteState(optimizer: "Adam", parameterIndex: i, missing: "\(missing).\(i)")
            }
            let stepValue = step.item
            guard stepValue >= 1, stepValue < 0x1p24, stepValue == stepValue.rounded() else {
                throw OptimizerError.invalidStateValue(optimizer: "Adam", key: "step.\(i)", value: stepValue,
                                                       requirement: "a whole number of steps, at least 1")
            }
            restored[i] = Moments(expAvg: m.detachedCopy(), expAvgSq: v.detachedCopy(), step: Int(stepValue))
        }
        state = restored
    }
}

private extension Double {
    func power(_ exponent: Double) -> Double { pow(self, exponent) }
}
