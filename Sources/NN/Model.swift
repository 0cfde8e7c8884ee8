import Engine

/// What a checkpoint must say about a model so that `eval` needs no other flags.
public struct ModelSpec: Codable, Sendable, Equatable {
    /// Zoo name, e.g. "smallcnn", "resnet18", "wrn-34-10".
    public var arch: String
    public var numClasses: Int
    public var inChannels: Int
    /// Height = width of the input images the architecture is laid out for.
    public var inputSize: Int
    /// Per-channel normalisation applied inside the model, x ↦ (x − mean)/std; nil = inputs used as is
    /// (the paper's models take [0, 1] inputs; DeepMind-style WRNs carry their constants).
    public var mean: [Float]?
    public var std: [Float]?

    public init(arch: String, numClasses: Int = 10, inChannels: Int, inputSize: Int,
                mean: [Float]? = nil, std: [Float]? = nil) {
        self.arch = arch; self.numClasses = numClasses; self.inChannels = inChannels
        self.inputSize = inputSize; self.mean = mean; self.std = std
    }
}

/// One parameter or buffer under its PyTorch `state_dict` key.
public struct StateEntry {
    public let key: String
    public let tensor: Tensor
    /// Trained by the optimizer (false for running statistics and `num_batches_tracked`).
    public let isParameter: Bool

    public init(key: String, tensor: Tensor, isParameter: Bool) {
        self.key = key; self.tensor = tensor; self.isParameter = isParameter
    }
}

/// An image classifier of the zoo.
public protocol Model: AnyObject {
    var spec: ModelSpec { get }
    /// x: [N, C, H, W] in [0, 1] → logits [N, K].
    /// `training` selects BatchNorm batch statistics (and updates the running statistics);
    /// false uses the running statistics and changes nothing.
    func forward(_ x: Tensor, training: Bool) -> Tensor
    /// Every parameter and buffer under its PyTorch key, in PyTorch's `state_dict` order.
    var state: [StateEntry] { get }
}

extension Model {
    /// The trainable tensors, in state order.
    public var parameters: [Tensor] { state.filter(\.isParameter).map(\.tensor) }
    /// Number of trainable scalars (PyTorch's `sum(p.numel() for p in model.parameters())`).
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Checks the batch against the architecture before running it.
    func checkInput(_ x: Tensor) {
        require(x.rank == 4 && x.shape[1] == spec.inChannels,
                "\(spec.arch) expects [N, \(spec.inChannels), H, W], got \(x.shape)")
    }
}

/// Collects state entries with dotted PyTorch prefixes ("layer1.0.conv1.weight").
struct StateCollector {
    private(set) var entries: [StateEntry] = []
    mutating func add(_ key: String, _ t: Tensor, parameter: Bool = true) {
        entries.append(StateEntry(key: key, tensor: t, isParameter: parameter))
    }
    mutating func add(_ prefix: String, _ layer: some StateProviding) {
        layer.collect(prefix.isEmpty ? "" : prefix + ".", into: &self)
    }
}

/// A layer or block that owns parameters or buffers.
protocol StateProviding {
    /// Adds this object's entries with `prefix` (empty or ending in ".").
    func collect(_ prefix: String, into c: inout StateCollector)
}

/// Residual stages as the CIFAR ResNets and WideResNets lay them out: stage s holds `blocks` blocks of width
/// `widths[s]`; its first block takes the previous width (`inWidth` for stage 0) and has stride 2, except in
/// stage 0. `residualStages` builds from this layout and the models' `elementCount`s count from it.
func residualLayout(inWidth: Int, widths: [Int], blocks: Int) -> [[(cin: Int, cout: Int, stride: Int)]] {
    var cin = inWidth
    return widths.enumerated().map { s, cout in
        (0..<blocks).map { b in
            defer { cin = cout }
            return (cin, cout, (s > 0 && b == 0) ? 2 : 1)
        }
    }
}

/// The blocks of `residualLayout`, built stage by stage, block by block, so the seeded initialisation follows
/// PyTorch's order.
func residualStages<Block>(inWidth: Int, widths: [Int], blocks: Int, rng: inout SeededGenerator,
                           _ make: (_ cin: Int, _ cout: Int, _ stride: Int, _ rng: inout SeededGenerator) -> Block) -> [[Block]] {
    residualLayout(inWidth: inWidth, widths: widths, blocks: blocks).map { stage in
        stage.map { make($0.cin, $0.cout, $0.stride, &rng) }
    }
}

/// Values of the blocks of `residualLayout`, given one block's count.
func residualElementCount(inWidth: Int, widths: [Int], blocks: Int,
                          _ block: (_ cin: Int, _ cout: Int, _ stride: Int) -> Int) -> Int {
    residualLayout(inWidth: inWidth, widths: widths, blocks: blocks).joined().reduce(0) { $0 + block($1.cin, $1.cout, $1.stride) }
}

/// (x − mean)/std per channel, differentiable w.r.t. x (attacks see through it).
func normalize(_ x: Tensor, mean: [Float], std: [Float]) -> Tensor {
    let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    require(mean.count == c && std.count == c, "normalisation has \(mean.count) channels, input \(c)")
    let scale = Tensor(uninitializedShape: x.shape), shift = Tensor(uninitializedShape: x.shape)
    for i in 0..<n { for ch in 0..<c {
        let base = (i * c + ch) * hw
        (scale.data + base).update(repeating: 1 / std[ch], count: hw)
        (shift.data + base).update(repeating: -mean[ch] / std[ch], count: hw)
    } }
    return x * scale + shift
}
