import ArgumentParser
import NN

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a safetensors checkpoint: metadata, detected architecture, parameter count, tensors.")

    @Argument(help: "A .safetensors file (ours or PyTorch's).")
    var file: String
    @Option(help: "Architecture, if the file has no metadata and detection fails.")
    var model: String?
    @Flag(help: "List every tensor (default: the first 40).")
    var all = false

    func run() throws {
        let f = try SafeTensorsFile.read(path: file)
        print("file: \(file)")
        for (k, v) in f.metadata.sorted(by: { $0.key < $1.key }) where k != "config" && k != "trainer" {
            print("metadata \(k): \(v)")
        }
        if f.metadata["trainer"] != nil { print("metadata trainer: (training state present: resumable)") }
        let spec = try Checkpoint.spec(in: f, source: file)
            ?? Checkpoint.detectedSpec(f)
        if let spec {
            print("architecture: \(spec.arch) (\(spec.numClasses) classes, \(spec.inChannels)×\(spec.inputSize)×\(spec.inputSize) input)\(f.metadata[Checkpoint.modelMetadataKey] == nil ? " — detected from the keys" : "")")
            let (m, _) = try Checkpoint.loadModel(path: file, arch: model)
            print("parameters: \(m.parameterCount)")
        } else {
            print("architecture: not recognised (pass --model to load it elsewhere)")
        }
        let model = Checkpoint.modelEntries(of: f)
        print("tensors: \(f.entries.count) (\(model.count) model, \(f.entries.count - model.count) training state)")
        for e in (all ? f.entries : Array(f.entries.prefix(40))) {
            print("  \(e.name)  \(e.dtype.rawValue)  \(e.shape)")
        }
        if !all && f.entries.count > 40 { print("  … \(f.entries.count - 40) more (--all)") }
    }
}
