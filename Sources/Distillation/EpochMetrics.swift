import Engine
import Foundation
/// One line of `metrics.jsonl`: what happened in one epoch.
public struct EpochMetrics: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    public var lr: Double
    /// Mean training loss and the means of the method's own logs (loss_adv, loss_nat, …).
    public var trainLoss: Double
    public var logs: [String: Double]
    /// Accuracies on `evalSplit`; nil on epochs without evaluation.
    public var cleanAccuracy: Double?
    public var robustAccuracy: Double?
    public var robustAttack: String?
    public var wRobust: Double?
    public var evalExamples: Int?
    /// The split those accuracies were measured on: "validation" (held out of the training pool) or "test"
    /// (`data.val_fraction` 0); nil on epochs without evaluation and in files written before it was recorded.
    public var evalSplit: String?
    /// The model evaluated when it is not the student: the method's (`Method.evaluatedModel`; PeerAiD's
    /// "swa_student", the weight average); nil (absent) for the student and on epochs without evaluation.
    public var evalModel: String?
    /// Balancer state at the end of the epoch (B-MTARD; MTARD has τ fixed at 1); nil for other methods.
    public var tauNat: Double?
    public var tauAdv: Double?
    public var wNat: Double?
    public var wAdv: Double?
    public var seconds: Double
    public var trainSeconds: Double
    public var evalSeconds: Double
    public var imagesPerSecond: Double
    /// Batches of this epoch skipped for a non-finite loss or gradient (`nan_policy: skip`).
    public var skippedBatches: Int

    enum CodingKeys: String, CodingKey {
        case epoch, lr, trainLoss = "train_loss", logs, cleanAccuracy = "clean_accuracy", robustAccuracy = "robust_accuracy"
        case robustAttack = "robust_attack", wRobust = "w_robust", evalExamples = "eval_examples"
        case evalSplit = "eval_split", evalModel = "eval_model"
        case tauNat = "tau_nat", tauAdv = "tau_adv", wNat = "w_nat", wAdv = "w_adv"
        case seconds, trainSeconds = "train_seconds", evalSeconds = "eval_seconds"
        case imagesPerSecond = "images_per_second", skippedBatches = "skipped_batches"
    }
}

/// Trainer state stored in a checkpoint's metadata so that `--resume` continues the same trajectory.
struct TrainerState: Codable, Equatable {
    /// Next epoch (0-based) and batch within it to run.
    var epoch: Int
    var batch: Int
    var globalStep: Int
    var rng: [UInt64]
    var method: [String: Double]
    var bestWRobust: Double?
    /// The `eval_model` of the evaluation best.safetensors holds (nil: the student).
    var bestModel: String?
    var optimizerSteps: Int
    var lossSum: Double
    var logSums: [String: Double]
    var batchesDone: Int
    var skipped: Int
    var trainSeconds: Double
    /// Images trained on so far in the current epoch (for images/s).
    var images: Int

    enum CodingKeys: String, CodingKey {
        case epoch, batch, globalStep, rng, method, bestWRobust, bestModel, optimizerSteps, lossSum, logSums, batchesDone
        case skipped, trainSeconds, images
    }

    /// The state of a run before its first batch: the training attack's generator drawn from the seed.
    init(seed: UInt64) {
        epoch = 0; batch = 0; globalStep = 0; rng = SeededGenerator(seed: seed ^ 0xA77AC).state
        method = [:]; bestWRobust = nil; optimizerSteps = 0
        lossSum = 0; logSums = [:]; batchesDone = 0; skipped = 0; trainSeconds = 0; images = 0
    }

    /// Adds a trained batch to the epoch's running sums.
    mutating func record(loss: Float, logs: [String: Double], images count: Int) {
        globalStep += 1
        lossSum += Double(loss); batchesDone += 1
        for (k, v) in logs { logSums[k, default: 0] += v }
        images += count
    }

    /// Moves to the first batch of `next`, with the sums cleared and the generator as it is now.
    mutating func begin(epoch next: Int, rng generator: SeededGenerator) {
        epoch = next; batch = 0; rng = generator.state
        lossSum = 0; logSums = [:]; batchesDone = 0; skipped = 0; trainSeconds = 0; images = 0
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.decode(Int.self, forKey: .epoch)
        batch = try c.decode(Int.self, forKey: .batch)
        globalStep = try c.decode(Int.self, forKey: .globalStep)
        rng = try c.decode([UInt64].self, forKey: .rng)
        method = try c.decode([String: Double].self, forKey: .method)
        bestWRobust = try c.decodeIfPresent(Double.self, forKey: .bestWRobust)
        bestModel = try c.decodeIfPresent(String.self, forKey: .bestModel)
        optimizerSteps = try c.decode(Int.self, forKey: .optimizerSteps)
        lossSum = try c.decode(Double.self, forKey: .lossSum)
        logSums = try c.decode([String: Double].self, forKey: .logSums)
        batchesDone = try c.decode(Int.self, forKey: .batchesDone)
        skipped = try c.decode(Int.self, forKey: .skipped)
        trainSeconds = try c.decode(Double.self, forKey: .trainSeconds)
        // Absent in checkpoints written before images were counted (images/s of that epoch reads low).
        images = try c.decodeIfPresent(Int.self, forKey: .images) ?? 0
    }
}
