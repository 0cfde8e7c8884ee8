import Foundation
import NN
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM sent to a real `advdistill train`: it saves a checkpoint, says how to resume and exits
/// 128 + the signal; the command it prints continues the run to the same weights as a run never stopped.
@Suite struct Signals {
    /// SIGTERM's run is started with SIGINT and SIGTERM blocked, as Foundation's `Process` starts children:
    /// the CLI unblocks them, or the signal would stay pending and the run would go on to the end.
    @Test(arguments: [(SIGINT, Int32(130), [Int32]()), (SIGTERM, Int32(143), [SIGINT, SIGTERM])])
    func aSignalMidEpochSavesACheckpointAndTheResumeCommandFinishesTheSameRun(_ sig: Int32, _ status: Int32,
                                                                              _ blockedByParent: [Int32]) throws {
        // smallcnn, 20×20 images, 29 batches of 8 per epoch (230 training images: 26 of the 256 are held out
        // for validation): about 10 ms of CPU per batch.
        let workspace = try Workspace(side: 20, train: 256, test: 16)
        let config = try workspace.config("signal test", epochs: 2, batchSize: 8)   // a path a shell must quote
        let straight = try workspace.run(["train", "--config", config, "--threads", "1", "--output", workspace.sub("straight")])
        #expect(straight.exitStatus == 0, "\(straight.log)")

        let output = workspace.sub("stopped")
        let runDirectory = try workspace.runDirectory(output: output)
        let child = try workspace.launch(["train", "--config", config, "--threads", "1", "--output", output],
                                         blocking: blockedByParent)
        // The lock appears as training starts (the signal handlers are in place by then); 0.1 s of the run's
        // own CPU time later it is several batches into the epoch (of ~0.3 s), however busy the machine is.
        try #require(waitUntil(child) { FileManager.default.fileExists(atPath: runDirectory + "/.lock") }, "\(child.log)")
        let start = child.cpuSeconds
        try #require(waitUntil(child) { child.cpuSeconds - start >= 0.1 }, "\(child.log)")
        kill(child.pid, sig)
        child.waitForExit()

        let log = child.log
        #expect(child.exitStatus == status, "\(log)")
        let saved = try #require(log.firstMatch(of: /interrupted: checkpoint saved after (\d+) of 29 batches of epoch (\d+)/), "\(log)")
        let batch = try #require(Int(saved.output.1)), epoch = try #require(Int(saved.output.2))
        #expect(batch > 0 && batch < 29, "the signal came mid-epoch")
        let position = try checkpointPosition(runDirectory + "/checkpoint.safetensors")
        #expect(position.epoch == epoch - 1 && position.batch == batch)
        #expect(!FileManager.default.fileExists(atPath: runDirectory + "/.lock"), "the lock is released")

        // The printed command, pasted into a shell: the same arguments (the output directory too) + --resume.
        let hint = try #require(log.firstMatch(of: /stopped by signal (\d+); resume with: (.+)\n/), "\(log)")
        #expect(Int32(hint.output.1) == sig)
        #expect(hint.output.2 == "\(try CLI.require()) train --config '\(config)' --threads 1 --output \(output) --resume")
        let resumed = try workspace.launch(["-c", String(hint.output.2)], executable: "/bin/sh").waitForExit()
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(resumed.log.contains("resuming run at epoch \(epoch), batch \(batch + 1) of 29"), "\(resumed.log)")
        #expect(try metricsEpochs(runDirectory) == [1, 2])

        // And it went on exactly where it stopped: the final weights, BN statistics and optimizer state are
        // those of the run that was never interrupted, bit for bit.
        let a = try SafeTensorsFile.read(path: workspace.sub("straight/run/checkpoint.safetensors"))
        let b = try SafeTensorsFile.read(path: runDirectory + "/checkpoint.safetensors")
        #expect(a.entries.map(\.name) == b.entries.map(\.name))
        for (x, y) in zip(a.entries, b.entries) {
            #expect(x.values.map(\.bitPattern) == y.values.map(\.bitPattern), "\(x.name) differs")
        }
    }

    /// Per-epoch evaluations can take minutes (PGD-20 on a thousand images); a signal during one is
    /// honoured within an evaluation batch, and `--resume` runs just the evaluation.
    @Test func aSignalDuringTheEvaluationStopsItAndResumeRunsOnlyTheEvaluation() throws {
        // 8 training batches, then PGD-20 on 1000 test images (several seconds of CPU): with val_fraction 0 the
        // per-epoch evaluation runs on the test split. The signal goes once the epoch's loss line is out, that is
        // once the evaluation has begun (a fixed 0.3 s of CPU after the lock sometimes still fell in the training
        // batches on a slow, loaded VM).
        let workspace = try Workspace(side: 20, train: 64, test: 1000)
        let config = try workspace.config(epochs: 1, batchSize: 8, changes: ["eval.attacks": "pgd20", "eval.limit": 1000,
                                                                              "data.val_fraction": 0])
        let runDirectory = try workspace.runDirectory()
        let child = try workspace.launch(["train", "--config", config, "--threads", "1"])
        try #require(waitUntil(child) { child.log.contains("epoch 1: loss") }, "\(child.log)")
        kill(child.pid, SIGTERM)
        child.waitForExit()

        #expect(child.exitStatus == 143, "\(child.log)")
        #expect(child.log.contains("interrupted before the end of the evaluation of epoch 1: checkpoint saved after its 8 batches"), "\(child.log)")
        let position = try checkpointPosition(runDirectory + "/checkpoint.safetensors")
        #expect(position.epoch == 0 && position.batch == 8, "positioned at the evaluation")
        #expect(!FileManager.default.fileExists(atPath: runDirectory + "/metrics.jsonl"), "no metrics line without an evaluation")

        // A resumed run may evaluate differently (here on 32 images): the evaluation is not part of the trajectory.
        let quick = try workspace.config("quick", epochs: 1, batchSize: 8, changes: ["eval.attacks": "pgd20", "eval.limit": 32,
                                                                                      "data.val_fraction": 0])
        let resumed = try workspace.run(["train", "--config", quick, "--threads", "1", "--resume"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(resumed.log.contains("resuming run at the evaluation of epoch 1"), "\(resumed.log)")
        let lines = try metricsLines(runDirectory)
        #expect(lines.count == 1 && lines.first?["eval_examples"] as? Int == 32)
        let final = try checkpointPosition(runDirectory + "/checkpoint.safetensors")
        #expect(final.epoch == 1 && final.batch == 0)
    }
}

/// `advdistill eval` keeps its finished attacks beside its output (eval.json.partial) while it runs: killed
/// outright (SIGKILL: no handler runs) or stopped by SIGINT (within one batch, exit 130, saying how to resume) during
/// its second attack, it resumes after the first when run again, says so, and writes the evaluation an uninterrupted
/// run writes; the journal is then gone.
@Suite struct EvaluationJournalThroughTheCLI {
    @Test(arguments: [SIGKILL, SIGINT])
    func anInterruptedEvaluationResumesAfterItsFinishedAttacks(_ signal: Int32) throws {
        let workspace = try Workspace(side: 12, train: 32, test: 100)
        let config = try workspace.config(epochs: 1, batchSize: 16, arch: "tinycnn")
        let trained = try workspace.run(["train", "--config", config, "--threads", "1"])
        try #require(trained.exitStatus == 0, "\(trained.log)")
        let checkpoint = try workspace.runDirectory() + "/best.safetensors"
        func eval(_ json: String) -> [String] {
            // Batches of 10, so that a stop asked during Square is honoured before its last batch.
            ["eval", "--checkpoint", checkpoint, "--data", workspace.data, "--eps", "0.1", "--attacks", "fgsm,square",
             "--batch-size", "10", "--threads", "1", "--json", workspace.sub(json)]
        }
        let whole = try workspace.run(eval("whole.json"))
        try #require(whole.exitStatus == 0, "\(whole.log)")

        let journal = workspace.sub("cut.json.partial")
        let child = try workspace.launch(eval("cut.json"))
        try #require(waitUntil(child) { FileManager.default.fileExists(atPath: journal) }, "\(child.log)")
        kill(child.pid, signal)
        child.waitForExit()
        try #require(!FileManager.default.fileExists(atPath: workspace.sub("cut.json")), "stopped before it finished: \(child.log)")
        if signal == SIGKILL {
            #expect(child.killedBy == SIGKILL, "\(child.log)")
        } else {
            #expect(child.killedBy == nil && child.exitStatus == 130, "\(child.log)")
            #expect(child.log.contains("interrupted by signal \(SIGINT): nothing written to \(workspace.sub("cut.json")); the attacks it finished are kept in \(journal)"),
                    "\(child.log)")
            #expect(FileManager.default.fileExists(atPath: journal))
        }

        let resumed = try workspace.run(eval("cut.json"))
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(resumed.log.contains("FGSM: ") && resumed.log.contains("kept from the interrupted evaluation"), "\(resumed.log)")
        #expect(!FileManager.default.fileExists(atPath: journal), "the journal is removed once the evaluation is written")
        func attacks(_ json: String) throws -> [[String: AnyHashable]] {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: workspace.sub(json))))
            let list = (object as? [String: Any])?["attacks"] as? [[String: Any]] ?? []
            return list.map { a in ["key": a["key"] as? String, "accuracy": a["accuracy"] as? Double, "robust": a["robust"] as? String] }
        }
        let (expected, got) = (try attacks("whole.json"), try attacks("cut.json"))
        #expect(expected.count == 2 && got == expected, "\(got) vs \(expected)")
    }
}
