import Attacks
import Datasets
import Engine
import Foundation
import NN
import TensorBoard

/// What one call of `Trainer.train` carries from batch to batch: the trainer state that checkpoints save,
/// the training attack's generator, the batches, and this session's clock for the current epoch.
struct TrainingSession {
    var state: TrainerState
    var rng: SeededGenerator
    let loader: BatchLoader
    /// TensorBoard's event file of this session (nil with `"tensorboard": false`).
    let events: EventFileWriter?
    /// When this session began training the current epoch, and what it has trained since (for images/s).
    var epochStarted = Date()
    var images = 0
    /// This session's training time in the current epoch, once its last batch is done.
    var trained: Double = 0
    /// Data-parallel: the stop signal the ranks agreed on in the last step (see `Trainer.stopSignal`).
    var agreedStop: Int32?

    var batchesPerEpoch: Int { loader.batchesPerEpoch }
}

/// The steps of one epoch: train its batches, then finish it (evaluate, log, save).
extension Trainer {
    /// Trains the batches of `epoch` not trained yet. Returns `.interrupted` when a signal stopped it (the
    /// checkpoint then says where to go on), nil when every batch ran.
    func trainEpoch(_ epoch: Int, _ s: inout TrainingSession) throws -> TrainingOutcome? {
        method.epochStarted(epoch, lrDecays: config.schedule.lrDecays(atEpoch: epoch))
        progress.begin("epoch \(epoch + 1)/\(config.epochs) [\(config.method.name)]", total: s.batchesPerEpoch)
        s.epochStarted = Date()
        s.images = 0
        for (offset, batch) in s.loader.batches(epoch: epoch, from: s.state.batch).enumerated() {
            let b = s.state.batch + offset
            if let sig = stopSignal(s) {
                return try interrupt(sig, epoch: epoch, nextBatch: b, trained: Date().timeIntervalSince(s.epochStarted), &s)
            }
            try trainBatch(batch, epoch: epoch, index: b, &s)
        }
        // This session trained the epoch's last batch: the method's end-of-epoch work, exactly once (a run
        // resumed at the evaluation, with no batch left, does not repeat it). Not interruptible.
        if s.state.batch < s.batchesPerEpoch {
            method.epochTrained(epoch, epochs: config.epochs, student: student,
                                images: AnySequence(s.loader.batches(epoch: epoch).lazy.map(\.images)))
        }
        s.trained = Date().timeIntervalSince(s.epochStarted)
        // A signal during the last batch stops before the (possibly long) evaluation.
        if let sig = stopSignal(s) { return try interrupt(sig, epoch: epoch, nextBatch: s.batchesPerEpoch, trained: s.trained, &s) }
        return nil
    }

    /// One optimizer step on batch `b` of `epoch`; or, when its loss or gradient is not finite, a stop
    /// (`nan_policy: stop`) or a skip that leaves no trace (`skip`).
    func trainBatch(_ global: Batch, epoch: Int, index b: Int, _ s: inout TrainingSession) throws {
        optimizer.learningRate = config.schedule.learningRate(base: config.optimizer.lr, epoch: epoch, batch: b,
                                                              batchesPerEpoch: s.batchesPerEpoch, epochs: config.epochs)
        // Data-parallel: this rank's slice of the global batch (the whole batch in one process).
        let (batch, share) = shard(global)
        let parallel = communicator.size > 1
        let x = batch.images
        beforeStep?(epoch, b, x)
        // A skipped batch must leave no trace: its forward passes already folded it into the BN
        // running statistics and the method's balancers (a NaN there would poison every later batch).
        let snapshot = config.nanPolicy == .skip ? StepSnapshot(student: student, method: method) : nil
        var context = StepContext(epoch: epoch, batchIndex: b, numClasses: student.spec.numClasses, teachers: teachers, rng: s.rng,
                                  epochs: config.epochs, learningRate: optimizer.learningRate)
        context.exampleKeys = batch.indices.map { UInt64($0) }
        context.globalMean = { [unowned self] in globalMean($0, share: share) }
        let sync = config.syncBN ? communicator : nil
        let trainables = method.trainables
        optimizer.zeroGrad()
        for t in trainables { t.optimizer.zeroGrad() }
        let out = withSynchronizedBatchNorm(sync) { method.step(student: student, x: x, labels: batch.labels, context: &context) }
        s.rng = context.rng
        var value = out.loss.item
        // The student's and the trainables' losses and gradients pass the same checks; one backward pass
        // computes them all (each trainable's loss sees the student's outputs detached).
        let stepped = trainables.filter { out.trainableLosses[$0.name] != nil }
        let nonFinite = [!value.isFinite] + stepped.map { !out.trainableLosses[$0.name]!.item.isFinite }
        var failure: String? = nonFinite.firstIndex(of: true).map { $0 == 0 ? "loss" : "loss of the \(stepped[$0 - 1].name)" }
        // In a data-parallel job every rank runs the backward (synchronised BN takes part in collectives there)
        // and the allreduce, whatever its own losses: the decision is taken on the summed buffer.
        if failure == nil || parallel {
            let total = stepped.reduce(out.loss) { $0 + out.trainableLosses[$1.name]! }
            withSynchronizedBatchNorm(sync) { (parallel ? share * total : total).backward() }
        }
        if parallel {
            let combined = combineAcrossRanks(loss: value, nonFinite: nonFinite, stepped: stepped, share: share)
            value = combined.loss
            failure = combined.failedLoss.map { $0 == 0 ? "loss" : "loss of the \(stepped[$0 - 1].name)" }
            if combined.stop { s.agreedStop = Interruption.received ?? SIGTERM }
        }
        if failure == nil {
            if !gradientsAreFinite(student) { failure = "gradient" }
            for t in stepped where failure == nil && !gradientsAreFinite(t.model) { failure = "gradient of the \(t.name)" }
        }
        let logs = gatherLogs(out.logs, share: share)
        if let what = failure {
            guard let snapshot else { throw TrainerError.nonFinite(what: what, epoch: epoch + 1, batch: b + 1) }
            snapshot.restore()
            optimizer.zeroGrad()
            for t in trainables { t.optimizer.zeroGrad() }
            s.state.skipped += 1
            progress.note("epoch \(epoch + 1), batch \(b + 1): non-finite \(what), batch skipped (\(s.state.skipped) in this epoch)")
            return
        }
        optimizer.step()
        for t in stepped { t.optimizer.step() }
        s.state.record(loss: value, logs: logs ?? out.logs, images: global.labels.count)
        try record(s.events, stepScalars(loss: value, logs: logs ?? out.logs), step: s.state.globalStep)
        s.images += global.labels.count
        let rate = Double(s.images) / max(Date().timeIntervalSince(s.epochStarted), 1e-9)
        progress.update(done: b + 1, info: String(format: "loss %.4f, %.0f img/s", value, rate))
    }

    /// After the last batch of `epoch`: its loss, the evaluation when one is due, its metrics line, and the
    /// checkpoints (best.safetensors when W-Robust improved). Returns `.interrupted` when a signal stopped
    /// the evaluation.
    ///
    /// What is evaluated is the method's `evaluatedModel` when it has one (PeerAiD's weight average), else the
    /// student; metrics.jsonl names the former in `eval_model`. best.safetensors holds the best evaluation of
    /// the model the run evaluates now: the first evaluation of a method's model replaces a best student
    /// whatever their W-Robust, so that once a method evaluates its own model, the run's best is chosen among
    /// that model's evaluations alone (as PeerAiD's authors keep the best of their SWA student's epochs).
    func finishEpoch(_ epoch: Int, _ s: inout TrainingSession) throws -> TrainingOutcome? {
        // Without a single trained batch there is no loss to report and nothing left to learn from.
        guard s.state.batchesDone > 0 else { throw TrainerError.everyBatchSkipped(epoch: epoch + 1, batches: s.batchesPerEpoch) }
        var metrics = epochMetrics(epoch, s)
        progress.end(String(format: "epoch %d: loss %.4f", epoch + 1, metrics.trainLoss)
                     + (s.state.skipped > 0 ? ", \(s.state.skipped) non-finite batch\(s.state.skipped == 1 ? "" : "es") skipped" : ""))
        if (epoch + 1) % config.eval.every == 0 || epoch + 1 == config.epochs {
            let started = Date()
            // A signal during the evaluation stops it within a batch; `--resume` then runs it again.
            var stoppedBy: Int32?
            guard let r = try evaluate(shouldStop: { stoppedBy = Interruption.received; return stoppedBy != nil }) else {
                // A data-parallel evaluation stops on every rank when one received the signal.
                return try interrupt(stoppedBy ?? SIGTERM, epoch: epoch, nextBatch: s.batchesPerEpoch, trained: s.trained, &s)
            }
            metrics.record(r, split: evalSplit, seconds: Date().timeIntervalSince(started))
            metrics.evalModel = method.evaluatedModel?.name
            progress.note(String(format: "epoch %d: clean %.2f%%, %@ %.2f%%, W-Robust %.2f%%", epoch + 1, 100 * r.clean.accuracy,
                                 metrics.robustAttack ?? "robust", 100 * (metrics.robustAccuracy ?? 0), 100 * r.wRobust)
                          + (metrics.evalModel.map { " (\($0))" } ?? ""))
        }
        metrics.seconds = metrics.trainSeconds + metrics.evalSeconds
        try appendMetrics(metrics)
        try record(s.events, metrics.scalars.map { (Self.epochTag($0.key), $0.value) }, step: s.state.globalStep)

        s.state.begin(epoch: epoch + 1, rng: s.rng)
        if let w = metrics.wRobust, w > (s.state.bestWRobust ?? -1) || metrics.evalModel != s.state.bestModel {
            s.state.bestWRobust = w
            s.state.bestModel = metrics.evalModel
            try saveCheckpoint(s.state, to: bestPath, includeOptimizer: false)
        }
        try saveCheckpoint(s.state, to: checkpointPath)
        return nil
    }

    /// The epoch's metrics line before evaluation: its losses, learning rate, time and balancer state.
    func epochMetrics(_ epoch: Int, _ s: TrainingSession) -> EpochMetrics {
        let batches = Double(s.state.batchesDone), trainSeconds = s.state.trainSeconds + s.trained
        var metrics = EpochMetrics(
            epoch: epoch + 1,
            lr: Double(config.schedule.learningRate(base: config.optimizer.lr, epoch: epoch, batch: s.batchesPerEpoch - 1,
                                                    batchesPerEpoch: s.batchesPerEpoch, epochs: config.epochs)),
            trainLoss: s.state.lossSum / batches,
            logs: s.state.logSums.mapValues { $0 / batches },
            seconds: 0, trainSeconds: trainSeconds, evalSeconds: 0,
            imagesPerSecond: Double(s.state.images) / max(trainSeconds, 1e-9),
            skippedBatches: s.state.skipped)
        if let b = method.state.balancer {
            metrics.tauNat = Double(b.tauNat); metrics.tauAdv = Double(b.tauAdv)
            metrics.wNat = Double(b.wNat); metrics.wAdv = Double(b.wAdv)
        }
        return metrics
    }

    /// Saves where the next batch would start, so that `--resume` runs exactly the batches not yet run
    /// (after the last batch: the evaluation). `trained`: this session's training time in the epoch.
    func interrupt(_ sig: Int32, epoch: Int, nextBatch: Int, trained: Double, _ s: inout TrainingSession) throws -> TrainingOutcome {
        s.state.epoch = epoch; s.state.batch = nextBatch; s.state.rng = s.rng.state
        s.state.trainSeconds += trained
        try saveCheckpoint(s.state, to: checkpointPath)
        progress.end(nextBatch < s.batchesPerEpoch
            ? "interrupted: checkpoint saved after \(nextBatch) of \(s.batchesPerEpoch) batches of epoch \(epoch + 1)"
            : "interrupted before the end of the evaluation of epoch \(epoch + 1): checkpoint saved after its \(s.batchesPerEpoch) batches")
        return .interrupted(signal: sig)
    }

    /// Whether every gradient `model`'s parameters hold is finite.
    func gradientsAreFinite(_ model: Model) -> Bool {
        for p in model.parameters {
            guard let g = p.grad else { continue }
            if !g.sumDouble().isFinite { return false }
        }
        return true
    }
}

/// BN running statistics (of the student and of the method's trainables) and the method's state before a
/// step, put back when the step is skipped. Weights need no copy: nothing is stepped before the checks.
struct StepSnapshot {
    let models: [Model]
    let buffers: [[[Float]]]
    let restoreMethod: () -> Void

    init(student: Model, method: any Method) {
        models = [student] + method.trainables.map(\.model)
        buffers = models.map { $0.state.filter { !$0.isParameter }.map(\.tensor.scalars) }
        restoreMethod = method.stateRestorer()
    }

    func restore() {
        for (model, saved) in zip(models, buffers) {
            for (entry, values) in zip(model.state.filter { !$0.isParameter }, saved) {
                values.withUnsafeBufferPointer { entry.tensor.data.update(from: $0.baseAddress!, count: values.count) }
            }
        }
        restoreMethod()
    }
}

extension EpochMetrics {
    /// The per-epoch evaluation: clean accuracy, the W-Robust attack's (else the first attack's), W-Robust.
    mutating func record(_ r: EvaluationResult, split: String, seconds: Double) {
        let robust = r.wRobustAttack ?? r.attacks.first
        evalSeconds = seconds
        cleanAccuracy = r.clean.accuracy
        robustAccuracy = robust?.accuracy
        robustAttack = robust?.name
        wRobust = r.wRobust
        evalExamples = r.count
        evalSplit = split
    }
}
