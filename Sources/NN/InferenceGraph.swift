import Engine

/// A model's eval-mode forward pass written down as operations on symbolic values, for export (the `Export`
/// module turns it into ONNX). Each model builds it in `describeForward`, written beside its `forward` with the
/// same calls on `GraphValue`s instead of `Tensor`s, so the two read line by line against each other.
///
/// Value 0 is the input `[N, C, S, S]` in [0, 1]; node i produces value i + 1. Weights are the model's own
/// tensors (not copies), so `Export` can name them by their PyTorch keys.
public final class InferenceGraph {
    public enum Operation {
        /// (x − mean)/std per channel.
        case normalize(mean: [Float], std: [Float])
        /// weight [Cout, Cin/groups, k, k], bias [Cout]?.
        case conv2d(weight: Tensor, bias: Tensor?, stride: Int, padding: Padding, groups: Int)
        /// Eval mode: (x − running mean)/√(running var + eps)·weight + bias per channel.
        case batchNorm(weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, eps: Float)
        case relu
        /// x·σ(x).
        case swish
        /// Window `kernel`, step `stride`, no padding, floor of the output size.
        case maxPool2d(kernel: Int, stride: Int)
        /// [N, C, H, W] → [N, C].
        case globalAvgPool2d
        /// [N, …] → [N, product of the rest].
        case flatten
        /// x [N, in] → x·weightᵀ + bias, weight [out, in].
        case linear(weight: Tensor, bias: Tensor?)
        /// Elementwise sum of the two inputs (same shape).
        case add
    }

    public struct Node {
        public let operation: Operation
        /// Values read, by number (0 = the graph's input).
        public let inputs: [Int]
    }

    public let spec: ModelSpec
    public private(set) var nodes: [Node] = []
    /// The value that holds the logits [N, K].
    public fileprivate(set) var output = 0

    init(spec: ModelSpec) { self.spec = spec }

    /// Records `operation` on `inputs` and returns its result.
    func append(_ operation: Operation, _ inputs: [GraphValue]) -> GraphValue {
        precondition(inputs.allSatisfy { $0.graph === self }, "values of another graph")
        nodes.append(Node(operation: operation, inputs: inputs.map(\.id)))
        return GraphValue(graph: self, id: nodes.count)
    }
}

/// A model whose forward pass can be written down as an `InferenceGraph` (every model of the zoo).
protocol GraphDescribing {
    /// The eval-mode forward pass on symbolic values: x [N, C, S, S] in [0, 1] → logits [N, K].
    func describeForward(_ x: GraphValue) -> GraphValue
}

extension Model {
    /// The eval-mode forward pass as a graph, or nil for a model outside the zoo.
    public func inferenceGraph() -> InferenceGraph? {
        guard let describing = self as? GraphDescribing else { return nil }
        let graph = InferenceGraph(spec: spec)
        let out = describing.describeForward(GraphValue(graph: graph, id: 0))
        graph.output = out.id
        return graph
    }
}

/// A symbolic tensor: one value of an `InferenceGraph`. Its operations mirror `Tensor`'s and the layers'.
struct GraphValue {
    let graph: InferenceGraph
    let id: Int

    func relu() -> GraphValue { graph.append(.relu, [self]) }
    func swish() -> GraphValue { graph.append(.swish, [self]) }
    func flattened() -> GraphValue { graph.append(.flatten, [self]) }
    func maxPool2d(kernel: Int, stride: Int? = nil) -> GraphValue {
        graph.append(.maxPool2d(kernel: kernel, stride: stride ?? kernel), [self])
    }
    func globalAvgPool2d() -> GraphValue { graph.append(.globalAvgPool2d, [self]) }
    static func + (a: GraphValue, b: GraphValue) -> GraphValue { a.graph.append(.add, [a, b]) }
}

/// `normalize(_:mean:std:)` on a symbolic value.
func normalize(_ x: GraphValue, mean: [Float], std: [Float]) -> GraphValue {
    x.graph.append(.normalize(mean: mean, std: std), [x])
}

extension Conv2DLayer {
    func callAsFunction(_ x: GraphValue) -> GraphValue {
        x.graph.append(.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups), [x])
    }
}

extension BatchNormLayer {
    /// Eval mode only: an exported model has no training mode.
    func callAsFunction(_ x: GraphValue, relu: Bool = false) -> GraphValue {
        let y = x.graph.append(.batchNorm(weight: weight, bias: bias, runningMean: runningMean,
                                          runningVar: runningVar, eps: eps), [x])
        return relu ? y.relu() : y
    }
}

extension LinearLayer {
    func callAsFunction(_ x: GraphValue) -> GraphValue { x.graph.append(.linear(weight: weight, bias: bias), [x]) }
}
