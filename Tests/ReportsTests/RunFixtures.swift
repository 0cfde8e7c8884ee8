import Foundation
import NN
@testable import Attacks
@testable import Distillation

/// A temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "advdistill-reports-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}

let fixtureClasses = ["T-shirt/top", "Trouser", "Pullover"]

/// A run config as `advdistill train` writes it, decoded by the real `RunConfig` from JSON text.
func fixtureConfig(name: String, method: String, teachers: Bool) throws -> RunConfig {
    let escaped = String(decoding: try JSONEncoder().encode(name), as: UTF8.self)
    let teacherJSON = teachers
        ? #""teachers": {"natural": {"checkpoint": "runs/nat/best.safetensors"}, "robust": {"checkpoint": "runs/at/best.safetensors"}},"#
        : ""
    let json = """
    { "name": \(escaped), "seed": 7, \(teacherJSON)
      "data": { "train": { "path": "Data/fashion-mnist", "split": "train", "limit": 2000 },
                "test": { "path": "Data/fashion-mnist", "split": "test" } },
      "model": { "arch": "smallcnn" }, "method": { "name": "\(method)" },
      "attack": { "eps": 0.1, "step_size": 0.01, "steps": 10 }, "epochs": 3, "batch_size": 64 }
    """
    return try JSONDecoder().decode(RunConfig.self, from: Data(json.utf8))
}

func epoch(_ n: Int, loss: Double, logs: [String: Double] = [:], clean: Double? = nil, robust: Double? = nil,
           tau: (Double, Double)? = nil, w: (Double, Double)? = nil, seconds: Double = 30) -> EpochMetrics {
    EpochMetrics(epoch: n, lr: 0.1, trainLoss: loss, logs: logs, cleanAccuracy: clean, robustAccuracy: robust,
                 robustAttack: robust == nil ? nil : "PGD-20", wRobust: clean.flatMap { c in robust.map { (c + $0) / 2 } },
                 evalExamples: clean == nil ? nil : 1000, tauNat: tau?.0, tauAdv: tau?.1, wNat: w?.0, wAdv: w?.1,
                 seconds: seconds, trainSeconds: seconds - 2, evalSeconds: 2, imagesPerSecond: 500, skippedBatches: 0)
}

func outcome(_ key: String, _ name: String, _ accuracy: Double, cumulative: Bool = false) -> EvaluationResult.AttackOutcome {
    .init(key: key, name: name, mode: cumulative ? "cumulative" : "independent", accuracy: accuracy,
          perClass: [accuracy, accuracy, accuracy], seconds: 12, imagesPerSecond: 80, steps: 20)
}

func evaluation(clean: Double, attacks: [EvaluationResult.AttackOutcome], worst: Double, wRobust: Double,
                perClassClean: [Double] = [0.9, 0.95, 0.6], perClassWorst: [Double] = [0.4, 0.8, 0.2],
                sweep: [(Double, Double)] = [], examples: [EvaluationResult.Example] = [],
                warnings: [String] = [], eps: Double = 0.1) -> EvaluationResult {
    EvaluationResult(
        model: ModelSpec(arch: "smallcnn", numClasses: 3, inChannels: 1, inputSize: 28), checkpoint: "runs/x/best.safetensors",
        data: "Data/fashion-mnist (test)", classNames: fixtureClasses, count: 10000, attackCount: 1000, eps: eps, norm: "linf",
        clean: .init(accuracy: clean, perClass: perClassClean), attacks: attacks,
        worstCase: .init(accuracy: worst, perClass: perClassWorst), wRobust: wRobust, wRobustBasis: "(clean + PGD-20)/2",
        sweepAttack: sweep.isEmpty ? nil : "PGD-20", epsSweep: sweep.map { .init(eps: $0.0, accuracy: $0.1) },
        examples: examples, warnings: warnings, seconds: 95.5, seed: 7, created: "2026-11-24T10:00:00Z",
        machine: "AMD EPYC test CPU, 2 cores, OpenBLAS Haswell")
}

/// Writes a run directory with the real encoders: config.json as the trainer writes it, one JSON object
/// per line in metrics.jsonl, eval.json through `EvaluationFile`.
func writeRun(_ dir: String, config: RunConfig, metrics: [EpochMetrics], evaluation: EvaluationResult?) throws {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(config).write(to: URL(fileURLWithPath: dir + "/config.json"))
    encoder.outputFormatting = [.sortedKeys]
    let lines = try metrics.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
    try Data(lines.utf8).write(to: URL(fileURLWithPath: dir + "/metrics.jsonl"))
    if let evaluation { try EvaluationFile.write(evaluation, to: dir + "/eval.json") }
}

/// Three runs like a small comparison: B-MTARD (with balancer state and the AutoAttack suite), TRADES
/// (a baseline: no balancer, no AA, no eval at epoch 1) and a natural model whose name needs escaping.
struct ThreeRuns {
    let root: TemporaryDirectory
    let dirs: [String]
    let metrics: [[EpochMetrics]]
    let evaluations: [EvaluationResult]

    static let greyExample = EvaluationResult.Example(
        index: 17, label: 2, cleanPrediction: 2, adversarialPrediction: 0, attack: "PGD-20", shape: [1, 4, 4],
        clean: (0..<16).map { UInt8($0 * 16) }, adversarial: (0..<16).map { UInt8($0 * 16 + ($0 % 2 == 0 ? 12 : -7)) },
        linf: 12.0 / 255)
    static let rgbExample = EvaluationResult.Example(
        index: 3, label: 1, cleanPrediction: 1, adversarialPrediction: 1, attack: "PGD-20", shape: [3, 2, 3],
        clean: (0..<18).map { UInt8(10 * $0) }, adversarial: (0..<18).map { UInt8(10 * $0 + 5) }, linf: 5.0 / 255)

    init() throws {
        root = try TemporaryDirectory()
        dirs = [root.sub("bmtard"), root.sub("trades"), root.sub("natural")]
        metrics = [
            [epoch(1, loss: 0.92, logs: ["loss_adv": 1.10, "loss_nat": 0.74, "entropy_adv": 1.2], clean: 0.61, robust: 0.32,
                   tau: (1.05, 1.0), w: (0.48, 0.52)),
             epoch(2, loss: 0.71, logs: ["loss_adv": 0.90, "loss_nat": 0.52, "entropy_adv": 1.1], clean: 0.70, robust: 0.38,
                   tau: (1.11, 1.0), w: (0.46, 0.54)),
             epoch(3, loss: 0.64, logs: ["loss_adv": 0.83, "loss_nat": 0.45, "entropy_adv": 1.0], clean: 0.74, robust: 0.41,
                   tau: (1.16, 1.0), w: (0.455, 0.545))],
            [epoch(1, loss: 1.31, logs: ["loss_ce": 1.0, "loss_kl": 0.31]),
             epoch(2, loss: 1.02, logs: ["loss_ce": 0.8, "loss_kl": 0.22], clean: 0.72, robust: 0.39),
             epoch(3, loss: 0.95, logs: ["loss_ce": 0.7, "loss_kl": 0.25], clean: 0.77, robust: 0.42)],
            [epoch(1, loss: 0.55, logs: ["loss_ce": 0.55], clean: 0.85, robust: 0.01)],
        ]
        evaluations = [
            evaluation(clean: 0.7431, attacks: [outcome("fgsm", "FGSM", 0.4622), outcome("pgd20", "PGD-20", 0.4105),
                                                outcome("pgd-trades", "PGD-TRADES", 0.4287), outcome("cw30", "CW∞-30", 0.3950),
                                                outcome("apgd-ce", "APGD-CE", 0.3921, cumulative: true),
                                                outcome("apgd-t", "APGD-T", 0.3880, cumulative: true),
                                                outcome("square", "Square", 0.3870, cumulative: true)],
                       worst: 0.3790, wRobust: 0.5768, sweep: [(0, 0.74), (0.05, 0.58), (0.1, 0.41), (0.15, 0.25)],
                       examples: [Self.greyExample]),
            evaluation(clean: 0.7702, attacks: [outcome("fgsm", "FGSM", 0.4511), outcome("pgd20", "PGD-20", 0.4188),
                                                outcome("pgd-trades", "PGD-TRADES", 0.4301), outcome("cw30", "CW∞-30", 0.3807)],
                       worst: 0.3702, wRobust: 0.5945, perClassClean: [0.81, 0.97, 0.52], perClassWorst: [0.35, 0.77, 0.1],
                       sweep: [(0, 0.77), (0.1, 0.4188)]),
            evaluation(clean: 0.8530, attacks: [outcome("pgd20", "PGD-20", 0.0100)], worst: 0.0100, wRobust: 0.4315,
                       examples: [Self.rgbExample],
                       warnings: ["accuracy rises with ε (1.0% at ε=0.05, 3.0% at ε=0.1): gradient masking?"]),
        ]
        let configs = [try fixtureConfig(name: "bmtard-small", method: "bmtard", teachers: true),
                       try fixtureConfig(name: "trades-small", method: "trades", teachers: false),
                       try fixtureConfig(name: "natural<&>'\"", method: "natural", teachers: false)]
        for i in 0..<3 { try writeRun(dirs[i], config: configs[i], metrics: metrics[i], evaluation: evaluations[i]) }
    }
}
