import ArgumentParser
import Export
import Foundation
import NN

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's model as ONNX (opset 13) for deployment with ONNX Runtime.",
        discussion: """
        The graph takes images [batch, C, S, S] in [0, 1] (batch is dynamic) and gives logits [batch, K]: the \
        model's input normalisation, if it has one, is inside the graph, batch norm runs in eval mode as \
        BatchNormalization nodes with the running statistics, and weights keep their PyTorch names. \
        An existing --onnx file is not replaced without --overwrite. \
        `advdistill predict` gives our logits for the same inputs, to compare with ONNX Runtime's.
          advdistill export --checkpoint runs/x/best.safetensors --onnx student.onnx
        """)

    @Option(help: "Checkpoint (.safetensors): ours, or a PyTorch state_dict with --model.")
    var checkpoint: String
    @Option(help: "Architecture, for files without our metadata (e.g. resnet18, wrn-34-10).")
    var model: String?
    @Option(help: "Where to write the ONNX model.")
    var onnx: String
    @Flag(help: "Replace the --onnx file if it exists.")
    var overwrite = false

    func run() throws {
        try ClusterSetup.requireOneProcess("export")
        // Refused before the checkpoint is read, so a mistyped path costs nothing.
        if !overwrite, FileManager.default.fileExists(atPath: onnx) { throw ExportError.outputExists(path: onnx) }
        let net = try loadCheckpoint(checkpoint, arch: model)
        try ONNXExport.write(net, to: onnx, overwrite: overwrite)
        let spec = net.spec
        let size = (try? FileManager.default.attributesOfItem(atPath: onnx)[.size] as? Int) ?? 0
        print("wrote \(onnx): \(spec.arch), ONNX opset \(ONNXExport.opset), input '\(ONNXExport.inputName)' "
              + "[batch, \(spec.inChannels), \(spec.inputSize), \(spec.inputSize)] in [0, 1] → '\(ONNXExport.outputName)' "
              + "[batch, \(spec.numClasses)]; \(net.parameterCount) parameters, \(size) bytes")
    }
}

/// Loads a checkpoint's model; an error that does not already name the file is prefixed with it.
func loadCheckpoint(_ path: String, arch: String?) throws -> Model {
    do { return try Checkpoint.loadModel(path: path, arch: arch).0 }
    catch {
        let message = "\(error)"
        if message.contains(path) { throw error }
        throw CommandError("\(path): \(message)")
    }
}

/// A failure a command describes itself, naming the file (exit status 1, like the library's own errors;
/// `ValidationError` is for misused options and prints the usage).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
