import Engine
import NN

/// `SafeTensorsFile.parse` on the input, then what `eval --checkpoint` does with a parsed file short
/// of building an architecture the file names: read the recorded spec, guess the architecture from
/// the tensor shapes, and copy the tensors into a model's state (a fixed tinycnn, which the seed
/// corpus matches, so that mutations reach the key and shape checks).
enum SafeTensorsHarness {
    static let source = "fuzz.safetensors"

    static func run(_ bytes: [UInt8]) throws {
        let file = try SafeTensorsFile.parse(bytes, source: source)
        _ = Checkpoint.detectedSpec(file)
        let loaded = Result { try Checkpoint.load(file, into: model, source: source) }
        _ = try Checkpoint.spec(in: file, source: source)
        try loaded.get()
    }

    /// The model of the seed checkpoint: tinycnn on 4×4 grey inputs, two classes (the zoo's smallest).
    static let spec = ModelSpec(arch: "tinycnn", numClasses: 2, inChannels: 1, inputSize: 4)

    /// Built once: only its tensors' values change from input to input.
    nonisolated(unsafe) static let model: Model = {
        var rng = SeededGenerator(seed: 0)
        do { return try ModelZoo.make(spec, rng: &rng) } catch { fatalError("the harness's own model: \(error)") }
    }()
}
