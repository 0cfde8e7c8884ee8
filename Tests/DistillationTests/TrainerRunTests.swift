import Engine
import Foundation
import NN
import Testing
@testable import Distillation

extension TrainerRuns {
    @Suite struct ShortRuns {
        /// Keys every metrics line has (DESIGN.md "Files a run writes"), and those of an evaluated epoch.
        static let alwaysKeys = ["epoch", "lr", "train_loss", "logs", "seconds", "train_seconds", "eval_seconds",
                                 "images_per_second", "skipped_batches"]
        static let evalKeys = ["clean_accuracy", "robust_accuracy", "robust_attack", "w_robust", "eval_examples"]
        static let balancerKeys = ["tau_nat", "tau_adv", "w_nat", "w_adv"]

        @Test(arguments: ["natural", "pgd_at", "bmtard"])
        func shortRunLowersTheLossAndWritesEveryFile(method: String) throws {
            let dir = TempDir()
            var object = try configObject(dir, method: method, epochs: 3)
            if method == "bmtard" {
                // The learning rate drops ×0.1 for the last epoch, and η and r_w with it.
                set(&object, "schedule", ["name": "multistep", "milestones": [2]])
                set(&object, "method.eta", 0.01)
            }
            let config = try loadConfig(object, in: dir)
            let trainer = try Trainer(config: config)
            #expect(try trainer.run() == .finished)
            let run = trainer.runDirectory

            let lines = try metricsLines(run)
            #expect(lines.map { $0["epoch"] as? Int } == [1, 2, 3])
            for line in lines {
                for key in Self.alwaysKeys + Self.evalKeys { #expect(line[key] != nil, "metrics line lacks \(key)") }
                for key in Self.balancerKeys { #expect((line[key] != nil) == (method == "bmtard"), "\(key) for \(method)") }
                // By default 6 of the 64 training images are held out for validation (val_fraction 0.1): 58 images
                // per epoch, none skipped, and the evaluation sees the 6.
                #expect(line["skipped_batches"] as? Int == 0)
                #expect(line["eval_examples"] as? Int == 6 && line["eval_split"] as? String == "validation")
                let seconds = try #require(line["train_seconds"] as? Double)
                let rate = try #require(line["images_per_second"] as? Double)
                #expect(abs(rate * seconds - 58) < 1e-6 * 58, "images/s × seconds = the 58 training images")
            }
            let losses = lines.compactMap { $0["train_loss"] as? Double }
            #expect(losses.count == 3 && losses.allSatisfy(\.isFinite))
            #expect(losses[2] < losses[0], "training loss \(losses) did not fall")

            // config.json is the config with every default filled in: it loads back to the same values.
            let written = try RunConfig.load(path: run + "/config.json")
            #expect(written == config)
            let raw = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as? [String: Any])
            #expect(raw["nan_policy"] as? String == "stop")
            #expect((raw["optimizer"] as? [String: Any])?["nesterov"] as? Bool == false)

            // Both checkpoints load as models; the last one is the student's final state.
            for name in ["checkpoint", "best"] {
                let (model, file) = try Checkpoint.loadModel(path: "\(run)/\(name).safetensors")
                #expect(model.spec.numClasses == 10 && model.spec.inputSize == side)
                #expect(file.metadata[Trainer.methodMetadataKey] == method)
            }
            let last = try SafeTensorsFile.read(path: run + "/checkpoint.safetensors")
            for entry in trainer.student.state {
                #expect(last[entry.key]?.values == entry.tensor.scalars, "\(entry.key)")
            }
            let state = try trainerState(last)
            #expect(state.epoch == 3 && state.batch == 0 && state.optimizerSteps == 12)
            // best.safetensors is the epoch with the highest W-Robust (the first of equals).
            let wRobust = lines.compactMap { $0["w_robust"] as? Double }
            let bestEpoch = wRobust.indices.max { wRobust[$0] < wRobust[$1] || (wRobust[$0] == wRobust[$1] && $0 > $1) }!
            let bestFile = try SafeTensorsFile.read(path: run + "/best.safetensors")
            let best = try trainerState(bestFile)
            #expect(best.epoch == bestEpoch + 1 && best.bestWRobust == wRobust[bestEpoch])
            // The best model is for evaluation and teaching: no optimizer tensors; the resumable one has them.
            #expect(!bestFile.entries.contains { $0.name.hasPrefix(Checkpoint.reservedPrefix) })
            #expect(last.entries.contains { $0.name.hasPrefix(Checkpoint.reservedPrefix) })
            #expect(!FileManager.default.fileExists(atPath: run + "/.lock"))

            if method == "bmtard" {
                let lr = lines.compactMap { $0["lr"] as? Double }
                // (Foundation's JSON round trip is exact to ~1e-16 only, hence the tolerances.)
                #expect(abs(lr[0] - 0.05) < 1e-8 && lr[1] == lr[0] && abs(lr[2] / lr[0] - 0.1) < 1e-6, "\(lr)")
                #expect(abs(state.method["eta"]! - 0.001) < 1e-9, "η = 0.01 × 0.1 after the milestone")
                #expect(abs(state.method["weight_rate"]! - 0.0025) < 1e-9, "r_w = 0.025 × 0.1 after the milestone")
                let tauNat = lines.compactMap { $0["tau_nat"] as? Double }, wAdv = lines.compactMap { $0["w_adv"] as? Double }
                #expect(tauNat.allSatisfy { (1...10).contains($0) } && wAdv.allSatisfy { $0 > 0 && $0 < 1 })
            }
        }

        /// CIARD's schedule from the config to the optimizer: 3 epochs holding the rate for 1, then cosine × exp per
        /// epoch, p = (epoch + 1 − 1)/(3 − 1): the rates metrics.jsonl records are 0.05, 0.05·(1 + cos(π/2))/2·e^(−0.01/4)
        /// and 0 (the script's last epoch).
        @Test func holdCosineExpScheduleIsTheRateTheRunTrainsWith() throws {
            let dir = TempDir()
            var object = try configObject(dir, epochs: 3)
            set(&object, "schedule", ["name": "hold_cosine_exp", "hold_epochs": 1])
            let trainer = try Trainer(config: try loadConfig(object, in: dir))
            #expect(try trainer.run() == .finished)
            let lr = try metricsLines(trainer.runDirectory).compactMap { $0["lr"] as? Double }
            let expected = [0.05, 0.05 * (1 + cos(Double.pi / 2)) / 2 * exp(-0.01 / 4), 0]
            #expect(lr.count == 3 && zip(lr, expected).allSatisfy { abs($0 - $1) <= 1e-8 }, "\(lr)")
        }

        @Test func validationSplitIsWhatTheRunEvaluates() throws {
            // With val_fraction 0.25, 16 of the 64 training images are held out and every epoch evaluates
            // them, not the 32 test images; training sees the other 48.
            let dir = TempDir()
            var object = try configObject(dir, epochs: 1)
            set(&object, "data.val_fraction", 0.25)
            set(&object, "eval.limit", nil)
            let trainer = try Trainer(config: try loadConfig(object, in: dir))
            #expect(try trainer.run() == .finished)
            let line = try #require(try metricsLines(trainer.runDirectory).first)
            #expect(line["eval_examples"] as? Int == 16)
            let seconds = try #require(line["train_seconds"] as? Double), rate = try #require(line["images_per_second"] as? Double)
            #expect(abs(rate * seconds - 48) < 1e-6 * 48)
        }

        /// A directory holding an earlier run's best.safetensors and metrics.jsonl, and a trainer for it.
        func runOverAnEarlierOne(_ dir: TempDir, progress: RecordingProgress) throws -> Trainer {
            let trainer = try Trainer(config: try loadConfig(try configObject(dir, epochs: 1), in: dir), progress: progress)
            try FileManager.default.createDirectory(atPath: trainer.runDirectory, withIntermediateDirectories: true)
            try Data("old".utf8).write(to: URL(fileURLWithPath: trainer.runDirectory + "/best.safetensors"))
            try Data("{\"epoch\": 7}\n".utf8).write(to: URL(fileURLWithPath: trainer.runDirectory + "/metrics.jsonl"))
            return trainer
        }

        @Test func freshRunRefusesToTrainOverAnEarlierRunAndLeavesIt() throws {
            let dir = TempDir()
            let trainer = try runOverAnEarlierOne(dir, progress: RecordingProgress())
            let run = trainer.runDirectory
            let error = try #require(throws: TrainerError.self) { try trainer.run() }
            guard case let .runExists(summary, setAside) = error else { Issue.record("\(error)"); return }
            #expect(summary.files == ["best.safetensors", "metrics.jsonl"] && setAside == run + "/previous")
            #expect(error.description.contains("--resume") && error.description.contains("--overwrite"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: run).sorted() == ["best.safetensors", "metrics.jsonl"])
            #expect(FileManager.default.contents(atPath: run + "/best.safetensors") == Data("old".utf8))
        }

        @Test func overwriteMovesTheEarlierRunAsideBeforeTraining() throws {
            // A stale best.safetensors would otherwise pass for the new run's best epoch until it has one.
            let dir = TempDir()
            let progress = RecordingProgress()
            let trainer = try runOverAnEarlierOne(dir, progress: progress)
            let run = trainer.runDirectory
            var leftAtFirstBatch: [String] = []
            trainer.beforeStep = { epoch, batch, _ in
                guard epoch == 0, batch == 0 else { return }
                leftAtFirstBatch = ["best.safetensors", "metrics.jsonl"].filter { FileManager.default.fileExists(atPath: run + "/" + $0) }
            }
            #expect(try trainer.run(overwrite: .setAside) == .finished)
            #expect(leftAtFirstBatch.isEmpty)
            #expect(FileManager.default.contents(atPath: run + "/previous/best.safetensors") == Data("old".utf8))
            #expect(FileManager.default.contents(atPath: run + "/previous/metrics.jsonl") == Data("{\"epoch\": 7}\n".utf8))
            #expect(progress.notes.contains { $0.contains("best.safetensors") && $0.contains(run + "/previous/") })
            #expect(try metricsLines(run).map { $0["epoch"] as? Int } == [1])
        }

        @Test func aConfigAloneIsNoRunToKeep() throws {
            // What a run that failed in its first epoch leaves: the resolved config, rewritten by the next run.
            let dir = TempDir()
            let trainer = try Trainer(config: try loadConfig(try configObject(dir, epochs: 1), in: dir))
            try FileManager.default.createDirectory(atPath: trainer.runDirectory, withIntermediateDirectories: true)
            try Data("{}".utf8).write(to: URL(fileURLWithPath: trainer.runDirectory + "/config.json"))
            #expect(try trainer.run() == .finished)
            #expect(!FileManager.default.fileExists(atPath: trainer.runDirectory + "/previous"))
        }
    }
}

extension TrainerRuns {
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: fashionMNIST + "/train-labels-idx1-ubyte.gz"),
                   "Debian's dataset-fashion-mnist is installed"))
    func naturalTrainingLearnsRealFashionMNIST() throws {
        // 512 real images, two epochs of tinycnn: far above the 10 % of chance on 200 test images.
        let dir = TempDir()
        var object = try configObject(dir, epochs: 2)
        set(&object, "data", ["train": ["path": Self.fashionMNIST, "limit": 512],
                              "test": ["path": Self.fashionMNIST, "split": "test", "limit": 200]])
        set(&object, "batch_size", 32)
        set(&object, "optimizer.lr", 0.02)
        set(&object, "eval", ["attacks": "fgsm", "every": 2, "batch_size": 200])
        let trainer = try Trainer(config: try loadConfig(object, in: dir))
        #expect(try trainer.run() == .finished)
        let last = try #require(try metricsLines(trainer.runDirectory).last)
        let clean = try #require(last["clean_accuracy"] as? Double), robust = try #require(last["robust_accuracy"] as? Double)
        #expect(clean > 0.5, "clean accuracy \(clean)")
        #expect(robust <= clean, "FGSM cannot raise accuracy")
    }
}
