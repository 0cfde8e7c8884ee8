import Engine
import NN

/// `SafeTensorsFile.parse` on the input, then what `eval --checkpoint` does with a parsed file: read the
/// recorded spec or guess the architecture from the tensor shapes, check that claim against what the file
/// holds, build the model and copy the tensors in. Building is bounded by the input: a claim needing more
/// values than the file holds is refused first, so each input stays as fast as its size allows.
enum SafeTensorsHarness {
    static let source = "fuzz.safetensors"

    static func run(_ bytes: [UInt8]) throws {
        let file = try SafeTensorsFile.parse(bytes, source: source)
        // Detection also runs on files whose metadata names the architecture (which `model` then skips).
        _ = Checkpoint.detectedSpec(file)
        _ = try Checkpoint.model(from: file, source: source)
    }

    /// The model of the seed checkpoint: tinycnn on 4×4 grey inputs, two classes (the zoo's smallest).
    static let seedSpec = ModelSpec(arch: "tinycnn", numClasses: 2, inChannels: 1, inputSize: 4)
}
