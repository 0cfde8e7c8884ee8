import Foundation
import Testing

/// Re-running a command never replaces a result the user did not ask it to replace, proven through the CLI:
/// a refused `train` or `eval` leaves every file of the earlier run byte for byte as it was and says how to go
/// on; `--resume` and `--overwrite` do what they say; a run's best and last evaluations never share a file;
/// `report` says which evaluation each row comes from.
@Suite struct NoSilentOverwrite {
    /// Every file under `directory`, by path relative to it, with its bytes.
    func snapshot(_ directory: String) -> [String: Data] {
        let fm = FileManager.default
        var files: [String: Data] = [:]
        for case let relative as String in fm.enumerator(atPath: directory) ?? FileManager.DirectoryEnumerator() {
            var isDirectory: ObjCBool = false
            let path = directory + "/" + relative
            if fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { files[relative] = fm.contents(atPath: path) }
        }
        return files
    }

    /// The files of a snapshot that lie under `prefix`/, by path relative to it.
    func under(_ prefix: String, _ files: [String: Data]) -> [String: Data] {
        Dictionary(uniqueKeysWithValues: files.compactMap { key, value in
            key.hasPrefix(prefix + "/") ? (String(key.dropFirst(prefix.count + 1)), value) : nil
        })
    }

    /// A finished one-epoch natural run in `runs/run` (or under `output`), with an evaluation of its best checkpoint.
    func trainedRun(_ workspace: Workspace, output: String? = nil) throws -> (config: String, run: String) {
        let config = try workspace.config(epochs: 1, arch: "tinycnn")
        let run = try workspace.runDirectory(output: output)
        let trained = try workspace.run(["train", "--config", config, "--threads", "1"] + (output.map { ["--output", $0] } ?? []))
        try #require(trained.exitStatus == 0, "\(trained.log)")
        let evaluated = try workspace.run(["eval", "--checkpoint", run + "/best.safetensors", "--data", workspace.data,
                                           "--attacks", "fgsm", "--eps", "0.1", "--limit", "8", "--threads", "1"])
        try #require(evaluated.exitStatus == 0, "\(evaluated.log)")
        return (config, run)
    }

    /// SHA-256 by the system's sha256sum: an independent account of the bytes.
    func sha256sum(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sha256sum", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(out.prefix(64))
    }

    @Test func trainingAgainIntoARunRefusesNamingItAndResumeStillContinuesIt() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let (config, run) = try trainedRun(workspace)
        let before = snapshot(run)

        // The everyday slip: the same command again, say with another seed.
        let again = try workspace.run(["train", "--config", config, "--threads", "1", "--seed", "8"])
        #expect(again.exitStatus == 1, "\(again.log)")
        for line in [
            "Error: \(run) already holds a run (natural, 1 of 1 epochs done, last written ",
            "; files: best.safetensors, checkpoint.safetensors, config.json, eval.json, metrics.jsonl, 1 TensorBoard event file); nothing was changed. Choose one:",
            "  --resume      continue that run (with --epochs N to train it longer)",
            "  --output DIR  (or another \"name\" in the config) start this run in another directory",
            "  --overwrite   start over here, first moving the earlier run's files into \(run)/previous/",
        ] {
            #expect(again.log.contains(line), "\(again.log)")
        }
        #expect(snapshot(run) == before, "the first run's files are as they were, byte for byte")

        let both = try workspace.run(["train", "--config", config, "--threads", "1", "--resume", "--overwrite"])
        #expect(both.exitStatus != 0 && both.log.contains("--resume continues the run and --overwrite starts it over; pass one of them"), "\(both.log)")
        #expect(snapshot(run) == before)

        let resumed = try workspace.run(["train", "--config", config, "--threads", "1", "--resume", "--epochs", "2"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(resumed.log.contains("resuming run at epoch 2"), "\(resumed.log)")
        #expect(try metricsEpochs(run) == [1, 2])
        #expect(snapshot(run)["eval.json"] == before["eval.json"], "resuming leaves the evaluation alone")
    }

    @Test func overwriteKeepsTheEarlierRunAsideAndNeverMoreThanOne() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let (config, run) = try trainedRun(workspace)
        let first = snapshot(run)

        let second = try workspace.run(["train", "--config", config, "--threads", "1", "--seed", "8", "--overwrite"])
        #expect(second.exitStatus == 0, "\(second.log)")
        #expect(second.log.contains("--overwrite: moved the earlier run (natural, 1 of 1 epochs done, last written "), "\(second.log)")
        #expect(second.log.contains("into \(run)/previous/; `advdistill report \(run)/previous` still shows it"), "\(second.log)")
        let afterSecond = snapshot(run)
        #expect(under("previous", afterSecond) == first, "the first run, whole, in previous/")
        #expect(afterSecond["eval.json"] == nil, "its evaluation went with it: it describes the first model")
        #expect(afterSecond["checkpoint.safetensors"] != first["checkpoint.safetensors"], "a new run (seed 8)")
        // previous/ is a run directory that report reads as it is.
        let report = try workspace.run(["report", run + "/previous", "--out", workspace.sub("previous-report"), "--no-eval"])
        #expect(report.exitStatus == 0, "\(report.log)")

        // A third run with one --overwrite would have to drop the first run: it refuses.
        let third = try workspace.run(["train", "--config", config, "--threads", "1", "--overwrite"])
        #expect(third.exitStatus == 1, "\(third.log)")
        #expect(third.log.contains("Error: --overwrite would move the run in \(run) (natural, 1 of 1 epochs done"), "\(third.log)")
        #expect(third.log.contains("into \(run)/previous/, which still holds the run kept aside before (natural, 1 of 1 epochs done"), "\(third.log)")
        #expect(third.log.contains("nothing was changed. Pass --overwrite twice to delete that older run and keep this one in its place, or move \(run)/previous elsewhere first."), "\(third.log)")
        #expect(snapshot(run) == afterSecond)

        // Twice: the first run goes, the second is kept aside, and nothing piles up.
        let fourth = try workspace.run(["train", "--config", config, "--threads", "1", "--overwrite", "--overwrite"])
        #expect(fourth.exitStatus == 0, "\(fourth.log)")
        #expect(fourth.log.contains("--overwrite twice: deleted the run kept in \(run)/previous/ (natural, 1 of 1 epochs done"), "\(fourth.log)")
        let afterFourth = snapshot(run)
        #expect(under("previous", afterFourth) == afterSecond.filter { !$0.key.hasPrefix("previous/") })
        #expect(!afterFourth.keys.contains { $0.hasPrefix("previous/previous") })
    }

    @Test func evaluatingAgainRefusesBeforeAttackingAndBestAndLastDoNotCollide() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let (_, run) = try trainedRun(workspace)
        let best = run + "/best.safetensors", last = run + "/checkpoint.safetensors"
        let evalJSON = run + "/eval.json"
        let bestEvaluation = try #require(FileManager.default.contents(atPath: evalJSON))
        let recorded = try #require(try JSONSerialization.jsonObject(with: bestEvaluation) as? [String: Any])
        #expect(recorded["checkpoint"] as? String == best)
        #expect(recorded["checkpoint_sha256"] as? String == (try sha256sum(best)))
        let bestSize = try #require(try FileManager.default.attributesOfItem(atPath: best)[.size] as? Int)
        #expect(recorded["checkpoint_bytes"] as? Int == bestSize)

        // The last checkpoint's evaluation goes to its own file.
        let lastRun = try workspace.run(["eval", "--checkpoint", last, "--data", workspace.data, "--attacks", "fgsm", "--eps", "0.1", "--limit", "8", "--threads", "1"])
        #expect(lastRun.exitStatus == 0, "\(lastRun.log)")
        #expect(lastRun.log.contains("wrote \(run)/eval-checkpoint.json"), "\(lastRun.log)")
        let lastEvaluation = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/eval-checkpoint.json"))) as? [String: Any])
        #expect(lastEvaluation["checkpoint_sha256"] as? String == (try sha256sum(last)))
        #expect(FileManager.default.contents(atPath: evalJSON) == bestEvaluation, "eval.json (best) untouched")

        let same = try workspace.run(["eval", "--checkpoint", best, "--data", workspace.data, "--attacks", "fgsm", "--eps", "0.1", "--limit", "8", "--threads", "1"])
        #expect(same.exitStatus == 1, "\(same.log)")
        #expect(same.log.contains("Error: \(evalJSON) already holds this evaluation (of \(best) (sha256 \(try sha256sum(best).prefix(12))…), L∞ ε = 0.1, attacks fgsm on the first 8 of 16 images, made "), "\(same.log)")
        #expect(same.log.contains("); nothing was written. Pass --overwrite to evaluate again and replace it, or --json PATH to keep both."), "\(same.log)")
        #expect(!same.log.contains("clean"), "refused before any evaluation ran: \(same.log)")

        let quick = ["eval", "--checkpoint", best, "--data", workspace.data, "--attacks", "pgd20", "--limit", "4", "--eps", "0.05", "--threads", "1"]
        let other = try workspace.run(quick)
        #expect(other.exitStatus == 1, "\(other.log)")
        #expect(other.log.contains("Error: \(evalJSON) already holds another evaluation (of \(best) "), "\(other.log)")
        #expect(other.log.contains("L∞ ε = 0.1, attacks fgsm on the first 8 of 16 images, made "), "\(other.log)")
        #expect(other.log.contains("); this one would be of \(best) (sha256 "), "\(other.log)")
        #expect(other.log.contains("L∞ ε = 0.05, attacks pgd20 on the first 4 of 16 images; nothing was written. Pass --json PATH to write it beside the other"), "\(other.log)")
        // Naming the file does not make replacing it silent either.
        let named = try workspace.run(quick + ["--json", evalJSON])
        #expect(named.exitStatus == 1 && named.log.contains("Error: \(evalJSON) already holds another evaluation"), "\(named.log)")
        #expect(FileManager.default.contents(atPath: evalJSON) == bestEvaluation, "eval.json as it was, byte for byte")

        let replaced = try workspace.run(quick + ["--overwrite"])
        #expect(replaced.exitStatus == 0, "\(replaced.log)")
        let now = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: evalJSON))) as? [String: Any])
        #expect((now["attacks"] as? [[String: Any]])?.map { $0["key"] as? String } == ["pgd20"])
    }

    @Test func reportShowsTheEvaluationUnderItsThreatModelAndSaysWhichFile() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let (_, a) = try trainedRun(workspace, output: workspace.sub("a"))
        let (_, b) = try trainedRun(workspace, output: workspace.sub("b"))
        // b's eval.json is now a quick PGD check; its fgsm evaluation was kept under another name.
        try FileManager.default.moveItem(atPath: b + "/eval.json", toPath: b + "/eval-fgsm.json")
        let quick = try workspace.run(["eval", "--checkpoint", b + "/best.safetensors", "--data", workspace.data,
                                       "--attacks", "pgd20", "--eps", "0.1", "--limit", "4", "--threads", "1"])
        try #require(quick.exitStatus == 0, "\(quick.log)")

        let out = workspace.sub("report")
        for round in 1...2 {   // report files are derived: a second report replaces them without asking
            let report = try workspace.run(["report", a, b, "--out", out, "--no-eval"])
            #expect(report.exitStatus == 0, "round \(round): \(report.log)")
            #expect(report.log.contains("\(a): numbers from \(a)/eval.json"), "\(report.log)")
            #expect(report.log.contains("\(b): numbers from \(b)/eval-fgsm.json"), "\(report.log)")
            #expect(report.log.contains("note: \(b) is shown with \(b)/eval-fgsm.json, its evaluation under this report's threat model (L∞ ε = 0.1, attacks on the first 8 of 16 images); \(b)/eval.json was made under another (L∞ ε = 0.1, attacks on the first 4 of 16 images)."), "\(report.log)")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let runs = try #require(json["runs"] as? [[String: Any]])
        #expect(runs.compactMap { ($0["provenance"] as? [String: Any])?["evaluation_file"] as? String } == [a + "/eval.json", b + "/eval-fgsm.json"])
        #expect(try String(contentsOfFile: out + "/report.html", encoding: .utf8).contains(b + "/eval-fgsm.json"))
    }
}
