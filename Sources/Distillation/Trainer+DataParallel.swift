import Datasets
import Engine
import Foundation
import NN

/// Data-parallel training (`mpirun -np N advdistill train`): `batch_size` is the global batch. Every rank
/// builds the same global batches (same seed, same order as one process) and takes its consecutive slice
/// (`shardRange`); the example keys of the training attack's noise are the examples' indices in the data, so
/// an example gets the same noise whatever the rank count.
///
/// Gradients: rank r differentiates (n_r/N)·L_r, its slice's mean loss weighted by its share of the batch, so
/// that the sum over ranks is the global batch's mean loss even when the last batch divides unevenly; one
/// `allreduceSum` over a flat buffer then sums, per step:
///   [stop signal, non-finite losses (student, then each stepped trainable), (n_r/N)·loss,
///    ∂ of the student's parameters, ∂ of each stepped trainable's parameters,
///    (n_r/N)·BN running statistics (per-rank BN only)]
/// and every rank applies the identical optimizer step to identical weights. NaN detection is on the summed
/// buffer, so one rank's NaN stops or skips the step on every rank.
///
/// Batch norm: per-rank batch statistics by default (as DDP); `sync_bn` normalises with the global batch's
/// (`withSynchronizedBatchNorm`, forward and backward), whose running statistics are then identical on every
/// rank by construction. With per-rank BN the running statistics are averaged (weighted by share) in the same
/// allreduce every step, so they are identical on every rank at every step, hence at every checkpoint and
/// evaluation. (PyTorch DDP instead broadcasts rank 0's buffers, which keeps only rank 0's slice in them;
/// since the running update is linear, the average equals what tracking the whole batch's per-rank means
/// gives, and for the mean with equal slices exactly the global batch's mean.)
extension Trainer {
    /// Every rank needs at least one example of every global batch: `batch_size` ≥ ranks, and the last,
    /// smaller batch of an epoch too.
    static func checkShards(batchSize: Int, examples: Int, ranks: Int) throws {
        guard ranks > 1 else { return }
        guard examples >= ranks else {
            throw ConfigError.invalid(field: "data.train", message: "\(examples) training examples cannot be shared by \(ranks) ranks (each needs at least one); use fewer ranks")
        }
        guard batchSize >= ranks else {
            throw ConfigError.invalid(field: "batch_size", message: "the global batch of \(batchSize) examples cannot be split over \(ranks) ranks (each needs at least one); raise batch_size or use fewer ranks")
        }
        let last = examples % batchSize
        guard last == 0 || last >= ranks else {
            throw ConfigError.invalid(field: "batch_size", message: "the last batch of each epoch has \(last) of the \(examples) training examples, fewer than the \(ranks) ranks (each needs at least one); choose a batch_size that leaves 0 or at least \(ranks), or use fewer ranks")
        }
    }

    /// This rank's rows of a global batch and its share n_r/N (the batch itself and 1 in one process).
    func shard(_ batch: Batch) -> (batch: Batch, share: Float) {
        guard communicator.size > 1 else { return (batch, 1) }
        let rows = shardRange(count: batch.labels.count, rank: communicator.rank, size: communicator.size)
        let local = Batch(images: batch.images.gatherBatch(Array(rows)), labels: Array(batch.labels[rows]),
                          indices: Array(batch.indices[rows]))
        return (local, Float(rows.count) / Float(batch.labels.count))
    }

    /// Σ_r share_r·values_r: the global batch's mean of per-example means computed on each rank's slice.
    func globalMean(_ values: [Double], share: Float) -> [Double] {
        guard communicator.size > 1 else { return values }
        var weighted = values.map { $0 * Double(share) }
        communicator.allreduceSum(&weighted)
        return weighted
    }

    /// The one allreduce of a step (layout in the type's comment). `nonFinite`: which of this rank's losses
    /// (student, then `stepped`) were not finite. Returns the global loss, which losses were non-finite on
    /// some rank (nil: none), and whether some rank received a stop signal. Gradients and BN statistics are
    /// written back summed.
    func combineAcrossRanks(loss: Float, nonFinite: [Bool], stepped: [Trainable], share: Float)
        -> (loss: Float, failedLoss: Int?, stop: Bool) {
        let models = [student] + stepped.map(\.model)
        let grads = models.flatMap { $0.parameters.compactMap(\.grad) }
        // Running means and variances (num_batches_tracked counts the same on every rank).
        let buffers = config.syncBN ? [] : models.flatMap { m in
            m.state.filter { !$0.isParameter && !$0.key.hasSuffix("num_batches_tracked") }.map(\.tensor)
        }
        let head = 2 + nonFinite.count
        var flat = [Float](repeating: 0, count: head + grads.reduce(0) { $0 + $1.count } + buffers.reduce(0) { $0 + $1.count })
        flat[0] = Interruption.received == nil ? 0 : 1
        for (i, bad) in nonFinite.enumerated() { flat[1 + i] = bad ? 1 : 0 }
        flat[head - 1] = loss.isFinite ? share * loss : 0
        flat.withUnsafeMutableBufferPointer { f in
            var at = head
            for g in grads { (f.baseAddress! + at).update(from: g.data, count: g.count); at += g.count }
            for b in buffers {
                for i in 0..<b.count { f[at + i] = share * b.data[i] }
                at += b.count
            }
            communicator.allreduceSum(f)
            at = head
            for t in grads + buffers { t.data.update(from: f.baseAddress! + at, count: t.count); at += t.count }
        }
        let failed = (0..<nonFinite.count).first { flat[1 + $0] > 0 }
        return (flat[head - 1], failed, flat[0] > 0)
    }

    /// The step's logs on rank 0: each key's mean over the ranks that logged it, weighted by their shares.
    /// Nil on the other ranks (they keep no metrics).
    func gatherLogs(_ logs: [String: Double], share: Float) -> [String: Double]? {
        guard communicator.size > 1 else { return logs }
        let mine = (try? JSONEncoder().encode(LogShare(share: Double(share), logs: logs))) ?? Data()
        guard let all = communicator.gather(Array(mine), root: 0) else { return nil }
        var sums: [String: Double] = [:], weights: [String: Double] = [:]
        for bytes in all {
            guard let part = try? JSONDecoder().decode(LogShare.self, from: Data(bytes)) else { continue }
            for (k, v) in part.logs { sums[k, default: 0] += part.share * v; weights[k, default: 0] += part.share }
        }
        return sums.reduce(into: [:]) { $0[$1.key] = $1.value / max(weights[$1.key]!, 1e-30) }
    }

    /// The signal that stops training before the next batch: this process's in one process; in a
    /// data-parallel job the one every rank agreed on in the last step's allreduce (so they stop together).
    func stopSignal(_ s: TrainingSession) -> Int32? {
        communicator.size > 1 ? s.agreedStop : Interruption.received
    }
}

private struct LogShare: Codable {
    var share: Double
    var logs: [String: Double]
}
