import Foundation
import TensorBoard

/// What a run writes for TensorBoard beside metrics.jsonl (`"tensorboard": true`, the default): one event per
/// optimizer step (`train/loss`, `train/lr`, the method's own logs as `train/<name>`, and for MTARD/B-MTARD
/// `balancer/tau_nat`, `balancer/tau_adv`, `balancer/w_nat`, `balancer/w_adv`) and one per epoch with every number
/// of its metrics.jsonl line as `epoch/<key>` (`epoch/clean_accuracy`, `epoch/w_robust`, …; the method's logs as
/// `epoch/<name>`). Both are at the global step (optimizer steps so far), so TensorBoard plots them on one axis.
extension Trainer {
    /// The event file of this session. A fresh run first removes event files that an earlier attempt without
    /// results left (a run with results has been moved aside by then); a resumed one drops what was written after
    /// its checkpoint (`state.globalStep`), and any epoch line the checkpoint has not reached (an evaluation cut
    /// short by a kill), exactly as metrics.jsonl keeps only the epochs the checkpoint has finished.
    func openEvents(resumed: Bool, state: TrainerState) throws -> EventFileWriter? {
        // Rank 0 alone writes event files (like metrics.jsonl); the other ranks of a data-parallel run write none.
        guard config.tensorboard, communicator.isRoot else { return nil }
        do throws(TensorBoardError) {
            guard resumed else {
                for file in EventFileWriter.files(in: runDirectory) { try? FileManager.default.removeItem(atPath: file) }
                return try EventFileWriter(directory: runDirectory)
            }
            let finished = state.epoch
            return try EventFileWriter.continueRun(in: runDirectory, after: state.globalStep) { _, scalars in
                scalars[Self.epochTag("epoch")].map { Int($0) > finished } ?? false
            }
        } catch { throw TrainerError.io(path: runDirectory, why: error.description) }
    }

    /// The scalars of one optimizer step: its loss, learning rate, the method's logs and the balancer after it.
    func stepScalars(loss: Float, logs: [String: Double]) -> [(tag: String, value: Double)] {
        var values: [(tag: String, value: Double)] = [("train/loss", Double(loss)), ("train/lr", Double(optimizer.learningRate))]
        values += logs.sorted { $0.key < $1.key }.map { ("train/" + $0.key, $0.value) }
        if let b = method.state.balancer {
            values += [("balancer/tau_nat", Double(b.tauNat)), ("balancer/tau_adv", Double(b.tauAdv)),
                       ("balancer/w_nat", Double(b.wNat)), ("balancer/w_adv", Double(b.wAdv))]
        }
        return values
    }

    static func epochTag(_ key: String) -> String { "epoch/" + key }

    /// Writes `values` at `step`, as a trainer error naming the file when it cannot.
    func record(_ events: EventFileWriter?, _ values: [(tag: String, value: Double)], step: Int) throws {
        guard let events else { return }
        do throws(TensorBoardError) { try events.scalars(values, step: step) }
        catch { throw TrainerError.io(path: events.path, why: error.description) }
    }
}

extension EpochMetrics {
    /// Every number of this epoch's metrics.jsonl line, keyed as in the file (the method's logs by their own
    /// names): what TensorBoard shows as `epoch/<key>`. Absent optional values are left out, as the line leaves
    /// them out. (`TrainingEventsTests` checks that these are exactly the numbers of the encoded line.)
    public var scalars: [(key: String, value: Double)] {
        let fields: [(CodingKeys, Double?)] = [
            (.epoch, Double(epoch)), (.lr, lr), (.trainLoss, trainLoss), (.cleanAccuracy, cleanAccuracy),
            (.robustAccuracy, robustAccuracy), (.wRobust, wRobust), (.evalExamples, evalExamples.map(Double.init)),
            (.tauNat, tauNat), (.tauAdv, tauAdv), (.wNat, wNat), (.wAdv, wAdv), (.seconds, seconds),
            (.trainSeconds, trainSeconds), (.evalSeconds, evalSeconds), (.imagesPerSecond, imagesPerSecond),
            (.skippedBatches, Double(skippedBatches)),
        ]
        let own = fields.compactMap { key, value in value.map { (key: key.rawValue, value: $0) } }
        return (own + logs.map { (key: $0.key, value: $0.value) }).sorted { $0.key < $1.key }
    }
}
