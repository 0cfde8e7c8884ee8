/// One line of `metrics.jsonl`: what happened in one epoch.
public struct EpochMetrics: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    public var lr: Double
    /// Mean training loss and the means of the method's own logs (loss_adv, loss_nat, …).
    public var trainLoss: Double
    public var logs: [String: Double]
    /// Validation (or test) accuracies; nil on epochs without evaluation.
    public var cleanAccuracy: Double?
    public var robustAccuracy: Double?
    public var robustAttack: String?
    public var wRobust: Double?
    public var evalExamples: Int?
    /// Balancer state at the end of the epoch (B-MTARD; MTARD has τ fixed at 1); nil for other methods.
    public var tauNat: Double?
    public var tauAdv: Double?
    public var wNat: Double?
    public var wAdv: Double?
    public var seconds: Double
    public var trainSeconds: Double
    public var evalSeconds: Double
    public var imagesPerSecond: Double
    public var skippedBatches: Int

    enum CodingKeys: String, CodingKey {
        case epoch, lr, trainLoss = "train_loss", logs, cleanAccuracy = "clean_accuracy", robustAccuracy = "robust_accuracy"
        case robustAttack = "robust_attack", wRobust = "w_robust", evalExamples = "eval_examples"
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
    var optimizerSteps: Int
    var lossSum: Double
    var logSums: [String: Double]
    var batchesDone: Int
    var skipped: Int
    var trainSeconds: Double
}
