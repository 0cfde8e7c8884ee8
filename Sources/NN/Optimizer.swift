import Engine

/// Updates parameters in place from their accumulated `.grad`, with PyTorch's semantics.
///
/// Updates write straight into `parameter.data` and record nothing on the autograd tape.
/// Parameters whose `grad` is nil are skipped (their state is not touched), as in PyTorch.
public protocol Optimizer: AnyObject {
    /// The rate the next `step()` uses; LR schedules set it before each step.
    var learningRate: Float { get set }
    /// Number of `step()` calls so far (restored from a checkpoint on resume).
    var stepCount: Int { get set }
    /// One update of every parameter that has a gradient.
    func step()
    /// Drops every parameter's gradient (`grad = nil`, PyTorch's default `set_to_none=True`).
    func zeroGrad()
    /// Named state tensors for checkpoints, e.g. `momentum_buffer.<i>` for parameter `i`.
    /// These are the live buffers, not copies: serialise them, do not mutate them.
    func stateTensors() -> [(String, Tensor)]
    /// Replaces the state with `tensors` (as returned by `stateTensors`), copying them. Validates
    /// everything before changing anything: unknown names, parameter indices out of range and
    /// shapes that differ from the parameter's throw an `OptimizerError`. A parameter without state
    /// in `tensors` starts fresh, like one that never had a gradient.
    func loadState(_ tensors: [String: Tensor]) throws
}

/// Invalid optimizer hyperparameters or checkpoint state.
public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    case invalidHyperparameter(optimizer: String, name: String, value: Float, requirement: String)
    case unknownStateTensor(optimizer: String, key: String, expected: String)
    case stateShapeMismatch(optimizer: String, key: String, expected: [Int], found: [Int])
    case incompleteState(optimizer: String, parameterIndex: Int, missing: String)
    case invalidStateValue(optimizer: String, key: String, value: Float, requirement: String)

    public var description: String {
        switch self {
        case let .invalidHyperparameter(optimizer, name, value, requirement):
            "\(optimizer): \(name) = \(value) is invalid; it must be \(requirement)."
        case let .unknownStateTensor(optimizer, key, expected):
            "\(optimizer) state has an unexpected tensor '\(key)'; expected names of the form \(expected)."
        case let .stateShapeMismatch(optimizer, key, expected, found):
            "\(optimizer) state tensor '\(key)' has shape \(found), but its parameter needs \(expected)."
        case let .incompleteState(optimizer, parameterIndex, missing):
            "\(optimizer) state for parameter \(parameterIndex) is incomplete: '\(missing)' is missing."
        case let .invalidStateValue(optimizer, key, value, requirement):
            "\(optimizer) state tensor '\(key)' holds \(value); it must be \(requirement)."
        }
    }
}

/// Splits a state key "name.<i>" into its name and parameter index.
func parseStateKey(_ key: String) -> (name: String, index: Int)? {
    guard let dot = key.lastIndex(of: "."), let index = Int(key[key.index(after: dot)...]), index >= 0 else {
        return nil
    }
    return (String(key[..<dot]), index)
}

/// Pointers captured by parallel update kernels. Each worker touches a disjoint index range.
struct UpdatePointers: @unchecked Sendable {
    let parameter: UnsafeMutablePointer<Float>
    let gradient: UnsafeMutablePointer<Float>
    let first: UnsafeMutablePointer<Float>?
    let second: UnsafeMutablePointer<Float>?
}
