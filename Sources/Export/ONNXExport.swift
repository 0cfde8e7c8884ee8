import Engine
import Foundation
import NN
import SwiftProtobuf

/// A model of the zoo as an ONNX model (opset 13) that ONNX Runtime runs as it is.
///
/// The graph is the model's eval-mode forward pass (`Model.inferenceGraph()`), one ONNX node per operation:
///
///     input  "input"  float [batch, C, S, S] in [0, 1]   (batch is a dynamic dimension)
///     output "logits" float [batch, K]
///
/// | operation | ONNX |
/// |---|---|
/// | normalize (x − mean)/std | `Sub`, `Div` with [1, C, 1, 1] constants |
/// | conv2d | `Conv` (pads [top, left, bottom, right], so DeepMind's asymmetric padding is kept) |
/// | batch norm, eval mode | `BatchNormalization` with the running statistics (not folded into the conv) |
/// | ReLU / Swish | `Relu` / `Sigmoid` then `Mul` |
/// | max pool / global average pool | `MaxPool` / `GlobalAveragePool` then `Flatten` |
/// | flatten, linear, add | `Flatten` (axis 1), `Gemm` (transB = 1), `Add` |
///
/// Weights are initializers named by their PyTorch keys (`layer1.0.conv1.weight`), so a reader of the graph
/// sees the same names as in the checkpoint.
public enum ONNXExport {
    public static let opset: Int64 = 13
    /// The IR version that goes with opset 13 (ONNX 1.8).
    public static let irVersion: Int64 = 7
    public static let inputName = "input"
    public static let outputName = "logits"
    public static let batchDimension = "batch"

    /// The model as ONNX bytes.
    public static func serializedModel(_ model: Model, producerVersion: String = "") throws -> Data {
        try onnxModel(model, producerVersion: producerVersion).serializedData()
    }

    /// Writes the ONNX model to `path` atomically. An existing file is refused unless `overwrite`.
    public static func write(_ model: Model, to path: String, overwrite: Bool, producerVersion: String = "") throws {
        if !overwrite, FileManager.default.fileExists(atPath: path) { throw ExportError.outputExists(path: path) }
        let bytes = try serializedModel(model, producerVersion: producerVersion)
        do { try AtomicFile.write(bytes, to: path) }
        catch { throw ExportError.cannotWrite(path: path, reason: "\(error)") }
    }

    static func onnxModel(_ model: Model, producerVersion: String) throws -> Onnx_ModelProto {
        guard let graph = model.inferenceGraph() else { throw ExportError.unsupportedModel(arch: model.spec.arch) }
        var keys: [ObjectIdentifier: String] = [:]
        for entry in model.state { keys[ObjectIdentifier(entry.tensor)] = entry.key }
        var builder = ONNXGraphBuilder(keys: keys)
        let onnxGraph = builder.build(graph)

        var proto = Onnx_ModelProto()
        proto.irVersion = irVersion
        proto.producerName = "advdistill"
        proto.producerVersion = producerVersion
        proto.docString = "\(graph.spec.arch): [\(batchDimension), \(graph.spec.inChannels), \(graph.spec.inputSize), "
            + "\(graph.spec.inputSize)] images in [0, 1] → logits [\(batchDimension), \(graph.spec.numClasses)]; "
            + "batch norm in eval mode"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Self.opset
        proto.opsetImport = [opset]
        proto.graph = onnxGraph
        var specJSON = Onnx_StringStringEntryProto()
        specJSON.key = "advdistill.model"
        specJSON.value = graph.spec.metadataJSON
        proto.metadataProps = [specJSON]
        return proto
    }
}

/// Turns an `InferenceGraph` into an ONNX `GraphProto`: value i of the graph is the ONNX tensor `names[i]`.
struct ONNXGraphBuilder {
    /// PyTorch keys of the model's tensors, for naming initializers.
    let keys: [ObjectIdentifier: String]
    private var proto = Onnx_GraphProto()
    private var counts: [String: Int] = [:]
    private var initializerNames: Set<String> = []

    init(keys: [ObjectIdentifier: String]) { self.keys = keys }

    mutating func build(_ graph: InferenceGraph) -> Onnx_GraphProto {
        let spec = graph.spec
        proto.name = spec.arch
        proto.input = [valueInfo(ONNXExport.inputName, [nil, spec.inChannels, spec.inputSize, spec.inputSize])]
        var names = [ONNXExport.inputName]
        for (i, node) in graph.nodes.enumerated() {
            let isOutput = i + 1 == graph.output
            names.append(emit(node.operation, node.inputs.map { names[$0] },
                              output: isOutput ? ONNXExport.outputName : nil))
        }
        if graph.output == 0 {  // an identity model: never in the zoo, but keep the graph valid
            names[0] = addNode("Identity", [ONNXExport.inputName], output: ONNXExport.outputName)
        }
        proto.output = [valueInfo(ONNXExport.outputName, [nil, spec.numClasses])]
        return proto
    }

    /// Adds the nodes of one operation; returns the name of its result (`output` if given).
    private mutating func emit(_ op: InferenceGraph.Operation, _ inputs: [String], output: String?) -> String {
        switch op {
        case let .normalize(mean, std):
            let c = mean.count
            let centred = addNode("Sub", [inputs[0], constant("normalize.mean", [1, c, 1, 1], mean)])
            return addNode("Div", [centred, constant("normalize.std", [1, c, 1, 1], std)], output: output)
        case let .conv2d(weight, bias, stride, padding, groups):
            let k = weight.shape
            return addNode("Conv", [inputs[0], initializer(weight)] + (bias.map { [initializer($0)] } ?? []),
                           attributes: [ints("kernel_shape", [k[2], k[3]]), ints("strides", [stride, stride]),
                                        ints("pads", [padding.top, padding.left, padding.bottom, padding.right]),
                                        int("group", groups)],
                           output: output)
        case let .batchNorm(weight, bias, runningMean, runningVar, eps):
            return addNode("BatchNormalization",
                           [inputs[0], initializer(weight), initializer(bias), initializer(runningMean), initializer(runningVar)],
                           attributes: [float("epsilon", eps)], output: output)
        case .relu:
            return addNode("Relu", inputs, output: output)
        case .swish:
            let gate = addNode("Sigmoid", inputs)
            return addNode("Mul", [inputs[0], gate], output: output)
        case let .maxPool2d(kernel, stride):
            return addNode("MaxPool", inputs, attributes: [ints("kernel_shape", [kernel, kernel]),
                                                            ints("strides", [stride, stride])], output: output)
        case .globalAvgPool2d:
            let pooled = addNode("GlobalAveragePool", inputs)  // [N, C, 1, 1]
            return addNode("Flatten", [pooled], attributes: [int("axis", 1)], output: output)
        case .flatten:
            return addNode("Flatten", inputs, attributes: [int("axis", 1)], output: output)
        case let .linear(weight, bias):
            return addNode("Gemm", [inputs[0], initializer(weight)] + (bias.map { [initializer($0)] } ?? []),
                           attributes: [int("transB", 1)], output: output)
        case .add:
            return addNode("Add", inputs, output: output)
        }
    }

    /// Appends a node named `<OpType>_<n>`, whose result is `output` or `<OpType>_<n>:0`.
    private mutating func addNode(_ opType: String, _ inputs: [String], attributes: [Onnx_AttributeProto] = [],
                                  output: String? = nil) -> String {
        let n = counts[opType, default: 0]
        counts[opType] = n + 1
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = "\(opType)_\(n)"
        node.input = inputs
        node.output = [output ?? "\(opType)_\(n):0"]
        node.attribute = attributes
        proto.node.append(node)
        return node.output[0]
    }

    /// The tensor as an initializer, named by its PyTorch key (added once however often it is used).
    private mutating func initializer(_ t: Tensor) -> String {
        let name = keys[ObjectIdentifier(t)] ?? "tensor_\(proto.initializer.count)"
        if initializerNames.insert(name).inserted { proto.initializer.append(floatTensor(name, t.shape, t.scalars)) }
        return name
    }

    private mutating func constant(_ name: String, _ shape: [Int], _ values: [Float]) -> String {
        if initializerNames.insert(name).inserted { proto.initializer.append(floatTensor(name, shape, values)) }
        return name
    }

    /// `dims` nil is the dynamic batch dimension.
    private func valueInfo(_ name: String, _ dims: [Int?]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = Int64(d) } else { dim.dimParam = ONNXExport.batchDimension }
            return dim
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

/// A float tensor, its values as little-endian bytes in `raw_data`.
func floatTensor(_ name: String, _ shape: [Int], _ values: [Float]) -> Onnx_TensorProto {
    var t = Onnx_TensorProto()
    t.name = name
    t.dims = shape.map(Int64.init)
    t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    #if _endian(big)
    t.rawData = Data(values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    #else
    t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
    #endif
    return t
}

private func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name; a.type = .int; a.i = Int64(value)
    return a
}

private func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name; a.type = .ints; a.ints = values.map(Int64.init)
    return a
}

private func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name; a.type = .float; a.f = value
    return a
}
