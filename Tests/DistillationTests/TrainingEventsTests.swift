import Foundation
import Testing
import TensorBoard
@testable import Distillation

extension TrainerRuns {
    /// The TensorBoard events a run writes: one per step with the method's numbers, one per epoch with its
    /// metrics.jsonl line, none with `"tensorboard": false`.
    @Suite struct TrainingEvents {
        @Test func everyNumberOfAMetricsLineBecomesAnEpochScalar() throws {
            var m = EpochMetrics(epoch: 3, lr: 0.05, trainLoss: 0.7, logs: ["loss_adv": 0.4, "tau_nat_used": 1.25],
                                 seconds: 9, trainSeconds: 7, evalSeconds: 2, imagesPerSecond: 123, skippedBatches: 1)
            m.cleanAccuracy = 0.8; m.robustAccuracy = 0.5; m.wRobust = 0.65; m.evalExamples = 100; m.robustAttack = "PGD-20"
            m.evalSplit = "validation"; m.tauNat = 1.5; m.tauAdv = 1; m.wNat = 0.4; m.wAdv = 0.6
            // The numbers of the encoded line, found independently of `scalars`.
            let line = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(m)) as? [String: Any])
            var numbers: [String: Double] = [:]
            for (k, v) in line where !(v is String) {
                if let logs = v as? [String: Any] { for (lk, lv) in logs { numbers[lk] = (lv as? NSNumber)?.doubleValue } }
                else { numbers[k] = (v as? NSNumber)?.doubleValue }
            }
            let scalars = Dictionary(uniqueKeysWithValues: m.scalars.map { ($0.key, $0.value) })
            #expect(Set(scalars.keys) == Set(numbers.keys))
            #expect(numbers.count == 18)   // 16 of its own, 2 logs
            #expect(scalars["w_robust"] == 0.65 && scalars["loss_adv"] == 0.4 && scalars["epoch"] == 3 && scalars["skipped_batches"] == 1)
        }

        @Test func aRunWritesStepAndEpochScalarsAtTheGlobalStep() throws {
            let dir = TempDir()
            let config = try loadConfig(try configObject(dir, method: "bmtard", epochs: 2), in: dir)
            let trainer = try Trainer(config: config)
            _ = try trainer.run()
            let files = EventFileWriter.files(in: trainer.runDirectory)
            #expect(files.count == 1)
            let events = try EventFileWriter.scalars(inFile: try #require(files.first))
            let stepsPerEpoch = 64 * 9 / 10 / 16 + (64 * 9 / 10 % 16 == 0 ? 0 : 1)   // 58 training images, batches of 16
            let perStep = events.filter { $0.scalars["train/loss"] != nil }
            #expect(perStep.map(\.step) == Array(1...2 * stepsPerEpoch))
            for tag in ["train/lr", "train/loss_adv", "train/loss_nat", "balancer/tau_nat", "balancer/w_adv"] {
                #expect(perStep.allSatisfy { $0.scalars[tag] != nil }, "\(tag) at every step")
            }
            #expect(perStep.allSatisfy { $0.scalars["train/lr"] == 0.05 })
            // The lines are decoded with JSONDecoder, which reads back the exact Double that was written;
            // JSONSerialization (swift-corelibs-foundation) is often an ulp off, enough to flip the Float of a
            // number near a Float rounding boundary (measured: train_loss 0.0018503024 against 0.0018503026).
            let text = try String(contentsOfFile: trainer.runDirectory + "/metrics.jsonl", encoding: .utf8)
            let metrics = try text.split(separator: "\n").map { try JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }
            let perEpoch = events.filter { $0.scalars["epoch/epoch"] != nil }
            #expect(perEpoch.map(\.step) == [stepsPerEpoch, 2 * stepsPerEpoch])
            for (event, line) in zip(perEpoch, metrics) {
                let fields: [(String, Double?)] = [("train_loss", line.trainLoss), ("clean_accuracy", line.cleanAccuracy),
                                                   ("w_robust", line.wRobust), ("tau_nat", line.tauNat), ("lr", line.lr)]
                for (key, value) in fields {
                    let expected = try #require(value, "\(key) in metrics.jsonl")
                    #expect(event.scalars["epoch/" + key] == Float(expected), "epoch/\(key)")
                }
            }
        }

        @Test func tensorboardFalseWritesNoEventFile() throws {
            let dir = TempDir()
            var object = try configObject(dir, epochs: 1)
            set(&object, "tensorboard", false)
            let trainer = try Trainer(config: try loadConfig(object, in: dir))
            _ = try trainer.run()
            #expect(EventFileWriter.files(in: trainer.runDirectory).isEmpty)
            #expect(FileManager.default.fileExists(atPath: trainer.runDirectory + "/metrics.jsonl"))
        }
    }
}
