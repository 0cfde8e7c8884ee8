import Engine
import Foundation
import Testing
@testable import NN

@Test(arguments: [
    ("smallcnn", 1_701_354), ("tinycnn", 426_234), ("resnet18", 11_173_962), ("preactresnet18", 11_172_170),
    ("mobilenetv2", 2_296_922), ("resnet56", 855_770), ("wrn-34-10", 46_160_474), ("wrn-28-10", 36_479_194),
])
func parameterCountEqualsPyTorch(_ arch: String, _ count: Int) throws {
    var rng = SeededGenerator(seed: 0)
    let model = try ModelZoo.make(ModelZoo.defaultSpec(arch: arch), rng: &rng)
    #expect(model.parameterCount == count)
}

func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("advdistill-nn-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

@Test func saveThenLoadReproducesLogitsBitForBit() throws {
    var rng = SeededGenerator(seed: 3)
    let model = try ModelZoo.make(ModelZoo.defaultSpec(arch: "tinycnn"), rng: &rng)
    // Move the BN statistics off their initial values so that they are really saved.
    let x = Tensor.uniform([8, 1, 28, 28], 0, 1, using: &rng)
    _ = withNoGrad { model.forward(x, training: true) }
    let path = tempPath("tiny.safetensors")
    try Checkpoint.save(model, to: path)
    let (loaded, file) = try Checkpoint.loadModel(path: path)
    #expect(loaded.spec == model.spec)
    #expect(file["bn1.num_batches_tracked"]?.dtype == .i64)
    let a = withNoGrad { model.forward(x, training: false) }.scalars
    let b = withNoGrad { loaded.forward(x, training: false) }.scalars
    #expect(a == b)
}

@Test func pytorchStyleFileLoadsWithModulePrefixAndTradesSubBlock() throws {
    var rng = SeededGenerator(seed: 4)
    let model = try ModelZoo.make(ModelZoo.defaultSpec(arch: "trades-wrn-10-1"), rng: &rng)
    // A DataParallel-saved TRADES checkpoint: every key prefixed with "module.", plus the unused sub_block1.
    var entries = model.state.map { SafeTensorsEntry(name: "module." + $0.key, dtype: .f32, shape: $0.tensor.shape, values: $0.tensor.scalars) }
    entries.append(SafeTensorsEntry(name: "module.sub_block1.layer.0.conv1.weight", dtype: .f32, shape: [1], values: [0]))
    let path = tempPath("trades.safetensors")
    try SafeTensorsFile(metadata: [:], entries: entries).write(to: path)
    let (loaded, _) = try Checkpoint.loadModel(path: path, arch: "trades-wrn-10-1")
    let x = Tensor.uniform([2, 3, 32, 32], 0, 1, using: &rng)
    #expect(withNoGrad { loaded.forward(x, training: false) }.scalars == withNoGrad { model.forward(x, training: false) }.scalars)
    // Without --model the architecture is detected from the keys.
    let (detected, _) = try Checkpoint.loadModel(path: path)
    #expect(detected.spec.arch == "trades-wrn-10-1")
}

@Test func shapeMismatchNamesTheKeyAndBothShapes() throws {
    var rng = SeededGenerator(seed: 5)
    let ten = try ModelZoo.make(ModelZoo.defaultSpec(arch: "tinycnn", numClasses: 10), rng: &rng)
    let five = try ModelZoo.make(ModelZoo.defaultSpec(arch: "tinycnn", numClasses: 5), rng: &rng)
    let file = Checkpoint.file(of: five)
    do {
        try Checkpoint.load(file, into: ten, source: "five.safetensors")
        Issue.record("loading a 5-class file into a 10-class model must fail")
    } catch let e as CheckpointError {
        let text = e.description
        #expect(text.contains("fc2.weight") && text.contains("[5, 128]") && text.contains("[10, 128]") && text.contains("five.safetensors"), "\(text)")
    }
}

@Test func missingAndUnexpectedKeysAreNamed() throws {
    var rng = SeededGenerator(seed: 6)
    let model = try ModelZoo.make(ModelZoo.defaultSpec(arch: "tinycnn"), rng: &rng)
    var entries = Checkpoint.file(of: model).entries.filter { $0.name != "bn2.running_var" }
    entries.append(SafeTensorsEntry(name: "head.weight", dtype: .f32, shape: [1], values: [1]))
    do {
        try Checkpoint.load(SafeTensorsFile(metadata: [:], entries: entries), into: model, source: "x.safetensors")
        Issue.record("must fail")
    } catch let e as CheckpointError {
        #expect(e.description.contains("missing keys: bn2.running_var"), "\(e)")
        #expect(e.description.contains("unexpected keys: head.weight"), "\(e)")
    }
}

@Test func unknownArchitectureListsTheKnownOnes() {
    var rng = SeededGenerator(seed: 0)
    #expect(throws: ModelZooError.unknownArchitecture("resnet19")) {
        _ = try ModelZoo.make(ModelZoo.defaultSpec(arch: "resnet19"), rng: &rng)
    }
    #expect(ModelZooError.unknownArchitecture("x").description.contains("resnet18"))
}

@Test(arguments: ["smallcnn", "tinycnn", "resnet18", "preactresnet18", "mobilenetv2", "resnet56", "wrn-34-10", "dm-wrn-16-2"])
func architectureIsDetectedFromPyTorchKeys(_ arch: String) throws {
    var rng = SeededGenerator(seed: 0)
    let spec = ModelZoo.defaultSpec(arch: arch, numClasses: 7)
    // Shapes only: detection never needs the weights (wrn-34-10 is not built here).
    let shapes: [String: [Int]]
    if arch == "wrn-34-10" {
        let small = try ModelZoo.make(ModelZoo.defaultSpec(arch: "trades-wrn-34-1", numClasses: 7), rng: &rng)
        shapes = Dictionary(uniqueKeysWithValues: small.state.map { ($0.key, $0.key == "block1.layer.0.conv1.weight" ? [160, 16, 3, 3] : $0.tensor.shape) })
    } else {
        let model = try ModelZoo.make(spec, rng: &rng)
        shapes = Dictionary(uniqueKeysWithValues: model.state.map { ($0.key, $0.tensor.shape) })
    }
    let detected = try #require(ModelZoo.detect(shapes: shapes))
    #expect(detected.arch == arch)
    #expect(detected.numClasses == 7)
}

/// A file without our metadata whose tensors have too few dimensions for the architecture their keys
/// suggest (a corrupt or hostile checkpoint) is not detected as anything; it used to trap on `shape[1]`.
@Test(arguments: [
    ["init_conv.weight": [2], "logits.weight": [2, 1]],                                    // DeepMind WRN, 1-D stem
    ["conv1.weight": [16], "block1.layer.0.conv1.weight": [16, 16, 3, 3], "fc.weight": [7, 64]],   // TRADES WRN
    ["conv1.weight": [], "layer4.1.conv2.weight": [512, 512, 3, 3], "linear.weight": [7, 512]],    // ResNet, 0-d stem
    ["conv1.weight": [16, 1, 3, 3], "conv3.weight": [64], "fc1.weight": [128], "fc2.weight": [7, 128]], // small CNN, 1-D fc1
])
func shapesWithTooFewDimensionsAreNotDetected(_ shapes: [String: [Int]]) {
    #expect(ModelZoo.detect(shapes: shapes) == nil)
}
