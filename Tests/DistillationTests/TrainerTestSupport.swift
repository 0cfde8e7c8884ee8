import Engine
import Foundation
import NN
import Testing
@testable import Distillation

/// Every test that calls `Trainer.run` lives in this suite (in extensions across files): `Interruption` is
/// process-wide, so a test that simulates a signal must not run beside another training run.
@Suite(.serialized) struct TrainerRuns {}

/// A fresh temporary directory per test, removed when the value is released.
final class TempDir {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "distillation-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ relative: String) -> String { path + "/" + relative }
}

/// Side of the synthetic images: tinycnn needs a multiple of 4; 8 keeps every step to a few milliseconds.
let side = 8

/// A learnable synthetic IDX dataset (train 64, test 32 examples, 10 classes, 8×8 grey), written from the
/// IDX specification: class k is a bright 2×2 block at cell k of a 4×4 grid, on dim uniform noise.
/// Labels cycle 0…9, so every batch holds most classes. `testLabelShift` labels each test image as class
/// (k + shift) mod classes: a model that learned the data is then wrong on nearly every test image.
func writeSyntheticIDX(in dir: TempDir, train: Int = 64, test: Int = 32, classes: Int = 10, testLabelShift: Int = 0) -> String {
    let root = dir.sub("data")
    try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    var rng = SeededGenerator(seed: 99)
    func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    func write(_ name: String, _ bytes: [UInt8]) {
        precondition(FileManager.default.createFile(atPath: root + "/" + name, contents: Data(bytes)))
    }
    for (prefix, count) in [("train", train), ("t10k", test)] {
        var pixels: [UInt8] = []
        let labels = (0..<count).map { $0 % classes }
        for label in labels {
            var image = (0..<side * side).map { _ in UInt8(rng.next() % 60) }
            let (cy, cx) = (label / 4 * 2, label % 4 * 2)
            for dy in 0..<2 { for dx in 0..<2 { image[(cy + dy) * side + cx + dx] = 200 + UInt8(rng.next() % 56) } }
            pixels += image
        }
        write("\(prefix)-images-idx3-ubyte", be32(0x0803) + be32(count) + be32(side) + be32(side) + pixels)
        let shift = prefix == "t10k" ? testLabelShift : 0
        write("\(prefix)-labels-idx1-ubyte", be32(0x0801) + be32(count) + labels.map { UInt8(($0 + shift) % classes) })
    }
    return root
}

/// A random tinycnn teacher for the synthetic data, saved with `Checkpoint.save`.
func saveTeacher(in dir: TempDir, name: String, classes: Int = 10, seed: UInt64) throws -> String {
    var rng = SeededGenerator(seed: seed)
    let model = try ModelZoo.make(ModelSpec(arch: "tinycnn", numClasses: classes, inChannels: 1, inputSize: side), rng: &rng)
    let path = dir.sub("\(name).safetensors")
    try Checkpoint.save(model, to: path)
    return path
}

/// The config of a short run on the synthetic data, as a JSON object to adjust with `set`.
/// Methods with teachers get random tinycnn teachers written into `dir`.
func configObject(_ dir: TempDir, method: String = "natural", epochs: Int = 2, output: String = "runs") throws -> [String: Any] {
    let data = FileManager.default.fileExists(atPath: dir.sub("data")) ? dir.sub("data") : writeSyntheticIDX(in: dir)
    var object: [String: Any] = [
        "name": "run", "seed": 7, "output": dir.sub(output),
        "data": ["train": ["path": data], "test": ["path": data, "split": "test"]],
        "model": ["arch": "tinycnn"],
        "method": ["name": method],
        "attack": ["eps": 0.1, "step_size": 0.05, "steps": 2],
        "optimizer": ["lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4],
        "schedule": ["name": "constant"],
        "epochs": epochs, "batch_size": 16,
        "eval": ["attacks": "fgsm", "limit": 16, "batch_size": 16],
    ]
    let roles = try #require(MethodRegistry.standard.method(named: method)).teachers
    var teachers: [String: Any] = [:]
    if roles.contains(.natural) { teachers["natural"] = ["checkpoint": try cachedTeacher(dir, "natural", seed: 11)] }
    if roles.contains(.robust) { teachers["robust"] = ["checkpoint": try cachedTeacher(dir, "robust", seed: 12)] }
    if !teachers.isEmpty { object["teachers"] = teachers }
    return object
}

private func cachedTeacher(_ dir: TempDir, _ name: String, seed: UInt64) throws -> String {
    let path = dir.sub("\(name).safetensors")
    return FileManager.default.fileExists(atPath: path) ? path : try saveTeacher(in: dir, name: name, seed: seed)
}

/// Sets (or with nil removes) the value at a dotted path, creating objects on the way.
func set(_ object: inout [String: Any], _ path: String, _ value: Any?) {
    let keys = path.split(separator: ".").map(String.init)
    func go(_ o: inout [String: Any], _ i: Int) {
        if i == keys.count - 1 { o[keys[i]] = value; return }
        var child = o[keys[i]] as? [String: Any] ?? [:]
        go(&child, i + 1)
        o[keys[i]] = child
    }
    go(&object, 0)
}

/// Writes the object as a config file and loads it the way `advdistill train --config` does.
func loadConfig(_ object: [String: Any], in dir: TempDir) throws -> RunConfig {
    let path = dir.sub("config-\(UUID().uuidString).json")
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    return try RunConfig.load(path: path)
}

/// Keeps every note (lock takeovers, skipped batches).
final class RecordingProgress: ProgressSink {
    var notes: [String] = []
    func begin(_ phase: String, total: Int) {}
    func update(done: Int, info: String) {}
    func end(_ summary: String) {}
    func note(_ message: String) { notes.append(message) }
}

/// metrics.jsonl as JSON objects, one per line.
func metricsLines(_ runDirectory: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
    return try text.split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

/// The trainer state stored in a checkpoint.
func trainerState(_ file: SafeTensorsFile) throws -> TrainerState {
    let json = try #require(file.metadata[Trainer.trainerMetadataKey])
    return try JSONDecoder().decode(TrainerState.self, from: Data(json.utf8))
}

/// Logits of `base` times `scale`: a confident (scale > 1) or uncertain (scale < 1) teacher.
final class ScaledLogits: Model {
    let base: Model
    let scale: Float
    init(_ base: Model, scale: Float) { self.base = base; self.scale = scale }
    var spec: ModelSpec { base.spec }
    func forward(_ x: Tensor, training: Bool) -> Tensor { scale * base.forward(x, training: training) }
    var state: [StateEntry] { base.state }
}
