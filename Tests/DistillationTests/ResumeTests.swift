import Engine
import Foundation
import NN
import Testing
@testable import Distillation
#if canImport(Glibc)
import Glibc
#endif

extension TrainerRuns {
    @Suite struct Resume {
        /// B-MTARD on the synthetic data: the method with the most state (two balancers, attack noise).
        func config(_ dir: TempDir, epochs: Int, output: String) throws -> RunConfig {
            var object = try configObject(dir, method: "bmtard", epochs: epochs, output: output)
            set(&object, "method.eta", 0.01)
            set(&object, "data.augmentation", ["random_crop_padding": 1, "horizontal_flip": true])
            return try loadConfig(object, in: dir)
        }

        /// Asserts two checkpoints hold the same training state bit for bit: every tensor (weights, BN
        /// statistics, optimizer buffers), the balancers, the random generator and the position.
        func expectSameTrajectory(_ a: String, _ b: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let fa = try SafeTensorsFile.read(path: a), fb = try SafeTensorsFile.read(path: b)
            #expect(fa.entries.map(\.name).sorted() == fb.entries.map(\.name).sorted(), sourceLocation: sourceLocation)
            #expect(fa.entries.contains { $0.name.hasPrefix(Trainer.optimizerPrefix) }, "optimizer state saved", sourceLocation: sourceLocation)
            for e in fa.entries {
                let other = try #require(fb[e.name])
                let differing = zip(e.values, other.values).filter { $0.bitPattern != $1.bitPattern }.count
                #expect(e.values.count == other.values.count && differing == 0,
                        "\(e.name): \(differing) of \(e.values.count) values differ", sourceLocation: sourceLocation)
            }
            var sa = try trainerState(fa), sb = try trainerState(fb)
            sa.trainSeconds = 0; sb.trainSeconds = 0    // wall-clock time (0 anyway at an epoch boundary)
            #expect(sa == sb, sourceLocation: sourceLocation)
            #expect(sa.method["loss_adv_0"] != nil && (sa.method["tau_nat"] != 1 || sa.method["tau_adv"] != 1), "balancer state moved", sourceLocation: sourceLocation)
        }

        /// metrics.jsonl lines without the timing fields, which differ between any two runs.
        func untimedMetrics(_ run: String) throws -> [NSDictionary] {
            try metricsLines(run).map { line in
                var l = line
                for key in ["seconds", "train_seconds", "eval_seconds", "images_per_second"] { l[key] = nil }
                return l as NSDictionary
            }
        }

        @Test func oneEpochThenResumeEqualsTwoEpochs() throws {
            let dir = TempDir()
            let straight = try Trainer(config: try config(dir, epochs: 2, output: "a"))
            #expect(try straight.run() == .finished)

            let first = try Trainer(config: try config(dir, epochs: 1, output: "b"))
            #expect(try first.run() == .finished)
            // `--epochs 2 --resume`: a new process, the same run directory.
            let progress = RecordingProgress()
            let second = try Trainer(config: try config(dir, epochs: 2, output: "b"), progress: progress)
            #expect(try second.run(resume: true) == .finished)
            #expect(progress.notes.contains { $0.contains("resuming run at epoch 2, batch 1 of 4") })

            try expectSameTrajectory(straight.checkpointPath, second.checkpointPath)
            #expect(try untimedMetrics(straight.runDirectory) == untimedMetrics(second.runDirectory))
            // config.json now says what the run became.
            #expect(try RunConfig.load(path: second.runDirectory + "/config.json").epochs == 2)
        }

        @Test func interruptedRunsResumeToTheUninterruptedTrajectory() throws {
            let dir = TempDir()
            let straight = try Trainer(config: try config(dir, epochs: 2, output: "a"))
            #expect(try straight.run() == .finished)
            defer { Interruption.reset() }

            // A signal during batch 2 of epoch 1: the batch finishes, the checkpoint says "next: batch 3".
            let first = try Trainer(config: try config(dir, epochs: 2, output: "c"))
            first.beforeStep = { epoch, batch, _ in if epoch == 0 && batch == 1 { Interruption.simulate(SIGINT) } }
            #expect(try first.run() == .interrupted(signal: SIGINT))
            let stopped = try trainerState(try SafeTensorsFile.read(path: first.checkpointPath))
            #expect(stopped.epoch == 0 && stopped.batch == 2 && stopped.batchesDone == 2 && stopped.optimizerSteps == 2)
            #expect(!FileManager.default.fileExists(atPath: first.runDirectory + "/metrics.jsonl"))
            #expect(!FileManager.default.fileExists(atPath: first.runDirectory + "/.lock"))
            Interruption.reset()

            // Resumed; this time a signal during the last batch of epoch 2 stops before the evaluation.
            let second = try Trainer(config: try config(dir, epochs: 2, output: "c"))
            var batchesSeen: [[Int]] = []
            second.beforeStep = { epoch, batch, _ in
                batchesSeen.append([epoch, batch])
                if epoch == 1 && batch == 3 { Interruption.simulate(SIGTERM) }
            }
            #expect(try second.run(resume: true) == .interrupted(signal: SIGTERM))
            #expect(batchesSeen == [[0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3]])
            #expect(try metricsLines(second.runDirectory).count == 1)
            Interruption.reset()

            let progress = RecordingProgress()
            let third = try Trainer(config: try config(dir, epochs: 2, output: "c"), progress: progress)
            var moreBatches = 0
            third.beforeStep = { _, _, _ in moreBatches += 1 }
            #expect(try third.run(resume: true) == .finished)
            #expect(moreBatches == 0, "only the evaluation of epoch 2 was left")
            #expect(progress.notes.contains { $0.contains("at the evaluation of epoch 2") })

            try expectSameTrajectory(straight.checkpointPath, third.checkpointPath)
            #expect(try untimedMetrics(straight.runDirectory) == untimedMetrics(third.runDirectory))
        }

        @Test func resumeKeepsOneMetricsLinePerEpoch() throws {
            // A crash after a metrics line but before its checkpoint leaves a line the resumed run rewrites.
            let dir = TempDir()
            let first = try Trainer(config: try config(dir, epochs: 1, output: "d"))
            #expect(try first.run() == .finished)
            let metrics = first.runDirectory + "/metrics.jsonl"
            var text = try String(contentsOfFile: metrics, encoding: .utf8)
            text += text.replacingOccurrences(of: "\"epoch\":1", with: "\"epoch\":2")
            try text.write(toFile: metrics, atomically: true, encoding: .utf8)
            #expect(try metricsLines(first.runDirectory).count == 2)
            let second = try Trainer(config: try config(dir, epochs: 2, output: "d"))
            #expect(try second.run(resume: true) == .finished)
            #expect(try metricsLines(second.runDirectory).map { $0["epoch"] as? Int } == [1, 2])
        }

        @Test func resumeRefusesAConfigThatTrainsDifferently() throws {
            let dir = TempDir()
            let first = try Trainer(config: try config(dir, epochs: 1, output: "e"))
            #expect(try first.run() == .finished)
            var object = try configObject(dir, method: "bmtard", epochs: 2, output: "e")
            set(&object, "method.eta", 0.01)
            set(&object, "data.augmentation", ["random_crop_padding": 1, "horizontal_flip": true])
            set(&object, "seed", 8)
            set(&object, "optimizer.lr", 0.02)
            let changed = try Trainer(config: try loadConfig(object, in: dir))
            let error = try #require(throws: TrainerError.self) { try changed.run(resume: true) }
            guard case .resumeMismatch(_, let why) = error else { Issue.record("\(error)"); return }
            #expect(why.contains("seed, optimizer"), "\(why)")
            // Nothing that differs only in what is reported (evaluation, epochs) is refused.
            set(&object, "seed", 7)
            set(&object, "optimizer.lr", 0.05)
            set(&object, "eval.limit", 8)
            #expect(try Trainer(config: try loadConfig(object, in: dir)).run(resume: true) == .finished)
            // And resuming a finished run does nothing.
            let progress = RecordingProgress()
            #expect(try Trainer(config: try loadConfig(object, in: dir), progress: progress).run(resume: true) == .finished)
            #expect(progress.notes.contains { $0.contains("nothing to do") })
        }

        @Test func resumeWithoutACheckpointSaysSo() throws {
            let dir = TempDir()
            let trainer = try Trainer(config: try config(dir, epochs: 1, output: "f"))
            #expect(throws: TrainerError.self) { try trainer.run(resume: true) }
            #expect(!FileManager.default.fileExists(atPath: trainer.runDirectory + "/.lock"))
        }
    }
}
