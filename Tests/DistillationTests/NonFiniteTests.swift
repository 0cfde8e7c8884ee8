import Engine
import Foundation
import NN
import Testing
@testable import Distillation

extension TrainerRuns {
    @Suite struct NonFinite {
        /// Puts a NaN into one pixel of batch `batch` of epoch `epoch`. Batch-norm statistics spread it over
        /// the batch and ReLU maps NaN to 0, so the loss stays finite and the NaN shows in the gradient.
        static func poison(_ trainer: Trainer, epoch: Int, batch: Int, also: ((Int, Int) -> Void)? = nil) {
            trainer.beforeStep = { e, b, x in
                also?(e, b)
                if e == epoch && b == batch { x.data[5] = .nan }
            }
        }

        @Test func explodingLearningRateStopsAtTheFirstNonFiniteLoss() throws {
            // lr 1e30: the first step sends the weights to ~1e29, the next logits overflow to ±∞.
            let dir = TempDir()
            var object = try configObject(dir, epochs: 1)
            set(&object, "optimizer.lr", 1e30)
            let trainer = try Trainer(config: try loadConfig(object, in: dir))
            let error = try #require(throws: TrainerError.self) { try trainer.run() }
            guard case let .nonFinite(what, epoch, batch) = error else { Issue.record("\(error)"); return }
            #expect(what == "loss" && epoch == 1 && batch == 2, "\(error)")
            #expect(!FileManager.default.fileExists(atPath: trainer.checkpointPath), "no checkpoint of a broken model")
            #expect(!FileManager.default.fileExists(atPath: trainer.runDirectory + "/.lock"))
        }

        @Test func nanGradientStopsTheRunNamingEpochAndBatchAndKeepsTheLastCheckpoint() throws {
            let dir = TempDir()
            let trainer = try Trainer(config: try loadConfig(try configObject(dir, epochs: 2), in: dir))
            var checkpointAfterEpoch1: Data?
            Self.poison(trainer, epoch: 1, batch: 2) { e, b in
                if e == 1 && b == 0 { checkpointAfterEpoch1 = FileManager.default.contents(atPath: trainer.checkpointPath) }
            }
            let error = try #require(throws: TrainerError.self) { try trainer.run() }
            guard case let .nonFinite(what, epoch, batch) = error else { Issue.record("\(error)"); return }
            #expect(what == "gradient" && epoch == 2 && batch == 3, "1-based, as the progress lines count: \(error)")
            #expect(error.description.contains("epoch 2, batch 3") && error.description.contains("nan_policy"))
            let saved = try #require(checkpointAfterEpoch1)
            #expect(FileManager.default.contents(atPath: trainer.checkpointPath) == saved, "the checkpoint of epoch 1 is intact")
            #expect(try trainerState(try SafeTensorsFile.read(path: trainer.checkpointPath)).epoch == 1)
            #expect(try metricsLines(trainer.runDirectory).count == 1)
            #expect(!FileManager.default.fileExists(atPath: trainer.runDirectory + "/.lock"), "the lock goes with the error")
        }

        /// The check behind "gradient": any NaN or ±∞ in any parameter's gradient (an overflow to ∞ need not
        /// come with a NaN, and +∞ and -∞ in one tensor sum to NaN, so each case is its own).
        @Test(arguments: [Float.infinity, -Float.infinity, Float.nan])
        func aNonFiniteValueInAnyGradientIsCaught(_ bad: Float) throws {
            let dir = TempDir()
            let trainer = try Trainer(config: try loadConfig(try configObject(dir, epochs: 1), in: dir))
            let parameters = trainer.student.parameters
            for p in parameters { p.grad = Tensor(shape: p.shape, scalars: [Float](repeating: 0.5, count: p.count)) }
            #expect(trainer.gradientsAreFinite(trainer.student))
            let last = try #require(parameters.last?.grad)
            last.data[last.count - 1] = bad
            #expect(!trainer.gradientsAreFinite(trainer.student))
        }

        @Test func skippedBatchesAreCountedPerEpoch() throws {
            let dir = TempDir()
            var object = try configObject(dir, epochs: 2)
            set(&object, "nan_policy", "skip")
            let progress = RecordingProgress()
            let trainer = try Trainer(config: try loadConfig(object, in: dir), progress: progress)
            trainer.beforeStep = { e, b, x in if (e, b) == (0, 1) || (e, b) == (1, 3) { x.data[5] = .nan } }
            #expect(try trainer.run() == .finished)
            #expect(try metricsLines(trainer.runDirectory).map { $0["skipped_batches"] as? Int } == [1, 1])
            #expect(progress.notes.contains { $0.contains("epoch 2, batch 4") && $0.contains("(1 in this epoch)") })
        }

        @Test func skipPolicyStopsWhenEveryBatchOfAnEpochIsSkipped() throws {
            // lr 1e30: after the first step every loss overflows, so epoch 2 has no batch left to train on.
            let dir = TempDir()
            var object = try configObject(dir, epochs: 3)
            set(&object, "nan_policy", "skip")
            set(&object, "optimizer.lr", 1e30)
            let trainer = try Trainer(config: try loadConfig(object, in: dir))
            let error = try #require(throws: TrainerError.self) { try trainer.run() }
            guard case let .everyBatchSkipped(epoch, batches) = error else { Issue.record("\(error)"); return }
            #expect(epoch == 2 && batches == 4)
            #expect(error.description.contains("all 4 batches of epoch 2") && error.description.contains("diverged"))
            #expect(try metricsLines(trainer.runDirectory).map { $0["skipped_batches"] as? Int } == [3])
            #expect(try trainerState(try SafeTensorsFile.read(path: trainer.checkpointPath)).epoch == 1)
            #expect(!FileManager.default.fileExists(atPath: trainer.runDirectory + "/.lock"))
        }

        @Test func skipPolicyDropsTheBatchCountsItAndLeavesNoTrace() throws {
            let dir = TempDir()
            var object = try configObject(dir, method: "bmtard", epochs: 1)
            set(&object, "nan_policy", "skip")
            let progress = RecordingProgress()
            let trainer = try Trainer(config: try loadConfig(object, in: dir), progress: progress)
            // The very first batch: B-MTARD would otherwise take its NaN losses as L(0) for good.
            Self.poison(trainer, epoch: 0, batch: 0)
            #expect(try trainer.run() == .finished)

            let line = try #require(try metricsLines(trainer.runDirectory).first)
            #expect(line["skipped_batches"] as? Int == 1)
            #expect((line["train_loss"] as? Double)?.isFinite == true)
            let seconds = try #require(line["train_seconds"] as? Double), rate = try #require(line["images_per_second"] as? Double)
            #expect(abs(rate * seconds - 42) < 1e-6 * 42, "3 of the 4 batches (16, 16, 16, 10 of the 58 images not held out) were trained on")
            #expect(progress.notes.contains { $0.contains("epoch 1, batch 1") && $0.contains("skipped") })

            let file = try SafeTensorsFile.read(path: trainer.checkpointPath)
            let state = try trainerState(file)
            // The count is per epoch: epoch 1's is in its metrics line, the checkpoint starts epoch 2 at 0.
            #expect(state.optimizerSteps == 3 && state.skipped == 0)
            // BN running statistics saw only the three good batches (B-MTARD runs the student in training
            // mode twice per batch, on x′ and on x): num_batches_tracked is 6, and nothing is NaN.
            #expect(file["bn1.num_batches_tracked"]?.values == [6])
            for e in file.entries { #expect(e.values.allSatisfy { $0.isFinite }, "\(e.name) holds a non-finite value") }
            // The balancer's L(0) comes from the first *trained* batch, so the weights still move.
            #expect(state.method["loss_adv_0"]?.isFinite == true && state.method["w_adv"] != 0.5)
            #expect((line["clean_accuracy"] as? Double).map { $0 >= 0 && $0 <= 1 } == true)
        }
    }
}
