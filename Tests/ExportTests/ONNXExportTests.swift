import Engine
import Foundation
import NN
import SwiftProtobuf
import Testing
@testable import Export

/// The exported bytes are a well-formed ONNX model: they parse back with SwiftProtobuf into the inputs,
/// outputs, opset and nodes the architecture implies. (That ONNX Runtime computes our logits from them is
/// checked with ONNX Runtime itself: `make check-interop`, Tests/Interop/check_onnx.py.)
@Suite struct ONNXExportTests {
    static func model(_ arch: String, channels: Int? = nil, size: Int? = nil) throws -> Model {
        var rng = SeededGenerator(seed: 7)
        return try ModelZoo.make(ModelZoo.defaultSpec(arch: arch, inChannels: channels, inputSize: size), rng: &rng)
    }

    static func parsed(_ model: Model) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: try ONNXExport.serializedModel(model))
    }

    /// [dim_value or dim_param] of a graph input or output.
    static func dims(_ info: Onnx_ValueInfoProto) -> [String] {
        info.type.tensorType.shape.dim.map { $0.dimValue != 0 ? "\($0.dimValue)" : $0.dimParam }
    }

    @Test func bytesParseBackWithOpset13ADynamicBatchAndTheModelsShapes() throws {
        let proto = try Self.parsed(try Self.model("tinycnn"))
        #expect(proto.irVersion == 7)
        #expect(proto.opsetImport.map(\.version) == [13])
        #expect(proto.opsetImport.map(\.domain) == [""])
        #expect(proto.graph.input.map(\.name) == ["input"])
        #expect(Self.dims(proto.graph.input[0]) == ["batch", "1", "28", "28"])
        #expect(proto.graph.output.map(\.name) == ["logits"])
        #expect(Self.dims(proto.graph.output[0]) == ["batch", "10"])
        #expect(proto.graph.input[0].type.tensorType.elemType == 1)  // FLOAT
    }

    @Test func tinyCNNIsTheLayersOfItsDocCommentInOrder() throws {
        let proto = try Self.parsed(try Self.model("tinycnn"))
        // conv1, bn1, ReLU; conv2, bn2, ReLU, max-pool 2; conv3, bn3, ReLU, max-pool 2; fc1, ReLU; fc2.
        #expect(proto.graph.node.map(\.opType) == [
            "Conv", "BatchNormalization", "Relu",
            "Conv", "BatchNormalization", "Relu", "MaxPool",
            "Conv", "BatchNormalization", "Relu", "MaxPool",
            "Flatten", "Gemm", "Relu", "Gemm",
        ])
        #expect(proto.graph.node.last?.output == ["logits"])
    }

    @Test func initializersAreTheCheckpointsTensorsUnderTheirPyTorchNames() throws {
        let model = try Self.model("smallcnn")
        let proto = try Self.parsed(model)
        // Everything but the batch counters, which eval mode does not read.
        let expected = model.state.filter { !$0.key.hasSuffix("num_batches_tracked") }
        #expect(proto.graph.initializer.map(\.name) .sorted() == expected.map(\.key).sorted())
        let fc2 = try #require(proto.graph.initializer.first { $0.name == "fc2.weight" })
        let tensor = try #require(expected.first { $0.key == "fc2.weight" }).tensor
        #expect(fc2.dims == tensor.shape.map(Int64.init))
        let values = fc2.rawData.withUnsafeBytes { raw in
            (0..<tensor.count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
        }
        #expect(values == tensor.scalars)
    }

    @Test func deepMindWRNCarriesItsNormalisationSwishAndAsymmetricPadding() throws {
        let proto = try Self.parsed(try Self.model("dm-wrn-10-1"))
        let ops = proto.graph.node.map(\.opType)
        #expect(Array(ops.prefix(3)) == ["Sub", "Div", "Conv"])
        let mean = try #require(proto.graph.initializer.first { $0.name == "normalize.mean" })
        #expect(mean.dims == [1, 3, 1, 1])
        #expect(ops.filter { $0 == "Sigmoid" }.count == ops.filter { $0 == "Mul" }.count)
        #expect(ops.contains("Sigmoid"))
        let pads = proto.graph.node.filter { $0.opType == "Conv" }
            .compactMap { $0.attribute.first { $0.name == "pads" }?.ints }
        // The stride-2 convs of stages 2 and 3 pad (top 0, left 0, bottom 1, right 1), as DeepMind's code does.
        #expect(pads.filter { $0 == [0, 0, 1, 1] }.count == 2)
    }

    @Test(arguments: ["smallcnn", "tinycnn", "resnet18", "preactresnet18", "mobilenetv2", "resnet56",
                      "trades-wrn-10-1", "dm-wrn-10-1"])
    func everyArchitectureOfTheZooExportsAGraphEndingInLogits(_ arch: String) throws {
        let model = try Self.model(arch)
        let proto = try Self.parsed(model)
        #expect(proto.graph.node.last?.output == ["logits"])
        #expect(Self.dims(proto.graph.output[0]) == ["batch", "10"])
        // Every node reads only the input, initializers or earlier nodes' outputs (topological order).
        var known = Set(proto.graph.initializer.map(\.name) + ["input"])
        for node in proto.graph.node {
            for input in node.input { #expect(known.contains(input), "\(arch): \(node.name) reads \(input) before it exists") }
            known.formUnion(node.output)
        }
    }

    @Test func anExistingFileIsNotReplacedWithoutOverwrite() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.onnx"
        try Data("earlier".utf8).write(to: URL(fileURLWithPath: path))
        let model = try Self.model("tinycnn")
        #expect(throws: ExportError.outputExists(path: path)) { try ONNXExport.write(model, to: path, overwrite: false) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("earlier".utf8))
        try ONNXExport.write(model, to: path, overwrite: true)
        #expect(try Onnx_ModelProto(serializedBytes: Data(contentsOf: URL(fileURLWithPath: path))).graph.output.map(\.name) == ["logits"])
    }
}
