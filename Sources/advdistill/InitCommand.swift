import ArgumentParser
import Engine
import Foundation
import NN

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a freshly initialised checkpoint of an architecture (PyTorch's default initialisation, seeded).",
        discussion: """
        A file in the same format as a trained run's, for trying a deployment path (`export`, `predict`, \
        `inspect`) before a model is trained, or as a starting point. An existing file is not replaced \
        without --overwrite.
          advdistill init --model resnet18 --out resnet18-init.safetensors
        """)

    @Option(help: "Architecture (\(ModelZoo.entries.map(\.name).joined(separator: ", "))).")
    var model: String
    @Option(help: "Where to write the checkpoint (.safetensors).")
    var out: String
    @Option(help: "Number of classes.")
    var classes: Int = 10
    @Option(help: "Input channels (default: 1 for smallcnn/tinycnn, 3 otherwise).")
    var channels: Int?
    @Option(help: "Input height = width (default: 28 for smallcnn/tinycnn, 32 otherwise).")
    var inputSize: Int?
    @Option(help: "Per-channel input mean, comma-separated, for models that normalise their input (dm-wrn).")
    var mean: String?
    @Option(help: "Per-channel input standard deviation, comma-separated, with --mean.")
    var std: String?
    @Option(help: "Seed of the initialisation.")
    var seed: UInt64 = 0
    @Flag(help: "Replace --out if it exists.")
    var overwrite = false

    func run() throws {
        try ClusterSetup.requireOneProcess("init")
        if !overwrite, FileManager.default.fileExists(atPath: out) {
            throw CommandError("\(out) already exists; nothing was written. Pass --overwrite to replace it.")
        }
        func floats(_ option: String, _ text: String?) throws -> [Float]? {
            try text.map { t in
                try t.split(separator: ",").map {
                    guard let v = Float($0.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("\(option): '\($0)' is not a number")
                    }
                    return v
                }
            }
        }
        var spec = ModelZoo.defaultSpec(arch: model, numClasses: classes, inChannels: channels, inputSize: inputSize)
        spec.mean = try floats("--mean", mean)
        spec.std = try floats("--std", std)
        var rng = SeededGenerator(seed: seed)
        let net = try ModelZoo.make(spec, rng: &rng)
        try Checkpoint.save(net, to: out)
        print("wrote \(out): \(spec.arch), \(net.parameterCount) parameters, input [N, \(spec.inChannels), "
              + "\(spec.inputSize), \(spec.inputSize)], \(spec.numClasses) classes")
    }
}
