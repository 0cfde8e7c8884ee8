import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `advdistill study` through the real CLI: stopped with SIGTERM in the middle of a point and started
/// again, it ends with the study.json of a study never stopped; a study config with a mistake is refused
/// naming the file and the field.
@Suite struct StudyCLI {
    /// A study of two seeds of natural smallcnn training (20×20 images, 32 batches of 8 per epoch, 2 epochs),
    /// evaluated with FGSM and PGD-5 on the first 16 test images; returns the study file.
    func writeStudy(_ workspace: Workspace, changes: [String: Any] = [:], name: String = "study") throws -> String {
        let base = try workspace.config("base", epochs: 2, batchSize: 8)
        var study: [String: Any] = [
            "base": (base as NSString).lastPathComponent,
            "grid": ["seeds": [1, 2], "methods": [["name": "natural"]]],
            "evaluation": ["attacks": "fgsm,pgd5", "limit": 16, "batch_size": 16],
            "output": workspace.sub("study"),
        ]
        for (key, value) in changes { set(&study, key, value) }
        let path = workspace.sub("\(name).json")
        try JSONSerialization.data(withJSONObject: study, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// study.json without what may differ between two runs of one study: the date and the wall times.
    func deterministicPart(_ path: String) throws -> NSDictionary {
        func strip(_ value: Any) -> Any {
            if let d = value as? [String: Any] {
                return d.filter { $0.key != "timing" && $0.key != "updated" }.mapValues(strip)
            }
            if let a = value as? [Any] { return a.map(strip) }
            return value
        }
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        return try #require(strip(object) as? [String: Any]) as NSDictionary
    }

    @Test func aStudyStoppedMidPointAndStartedAgainEndsWithTheStudyJSONOfOneNeverStopped() throws {
        let workspace = try Workspace(side: 20, train: 256, test: 32)
        let study = try writeStudy(workspace)
        let output = workspace.sub("study")

        let straight = try workspace.run(["study", "--config", study, "--threads", "1"])
        #expect(straight.exitStatus == 0, "\(straight.log)")
        let expected = try deterministicPart(output + "/study.json")
        #expect((expected["done"] as? Int) == 2)
        try FileManager.default.moveItem(atPath: output, toPath: workspace.sub("straight"))

        // Stopped while training the second point (the first is done by then).
        let second = output + "/runs/natural-seed2"
        let child = try workspace.launch(["study", "--config", study, "--threads", "1"])
        try #require(waitUntil(child) { FileManager.default.fileExists(atPath: second + "/.lock") }, "\(child.log)")
        let start = child.cpuSeconds
        try #require(waitUntil(child) { child.cpuSeconds - start >= 0.1 }, "\(child.log)")
        kill(child.pid, SIGTERM)
        child.waitForExit()
        let log = child.log
        #expect(child.exitStatus == 143, "\(log)")
        #expect(log.contains("interrupted: checkpoint saved after"), "\(log)")
        #expect(log.contains("stopped by signal 15 in natural-seed2 (its checkpoint is saved); continue with: \(try CLI.require()) study --config \(study) --threads 1"), "\(log)")
        let partial = try deterministicPart(output + "/study.json")
        #expect((partial["done"] as? Int) == 1, "study.json shows the progress made before the signal")
        #expect(((partial["points"] as? [[String: Any]])?.map { $0["status"] as? String }) == ["done", "pending"])

        let resumed = try workspace.run(["study", "--config", study, "--threads", "1"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(resumed.log.contains("natural-seed1: done earlier, skipped"), "\(resumed.log)")
        #expect(resumed.log.contains("resuming natural-seed2 at epoch"), "\(resumed.log)")
        #expect(try deterministicPart(output + "/study.json") == expected)
    }

    /// Stopped during a point's evaluation, after its first attack: started again, the study takes that attack from
    /// the evaluation's journal (eval-best.json.partial) instead of running it again, and ends with the study.json
    /// of a study never stopped.
    @Test func aStudyStoppedDuringAnEvaluationResumesAfterItsFinishedAttacks() throws {
        let workspace = try Workspace(side: 12, train: 64, test: 32)
        let study = try writeStudy(workspace, changes: ["grid.seeds": [1], "evaluation.attacks": "fgsm,square",
                                                        "evaluation.limit": 32])
        let output = workspace.sub("study")
        let straight = try workspace.run(["study", "--config", study, "--threads", "1"])
        #expect(straight.exitStatus == 0, "\(straight.log)")
        let expected = try deterministicPart(output + "/study.json")
        try FileManager.default.moveItem(atPath: output, toPath: workspace.sub("straight"))

        let journal = output + "/runs/natural-seed1/eval-best.json.partial"
        let child = try workspace.launch(["study", "--config", study, "--threads", "1"])
        try #require(waitUntil(child) { FileManager.default.fileExists(atPath: journal) }, "\(child.log)")
        kill(child.pid, SIGTERM)
        child.waitForExit()
        #expect(child.exitStatus == 143, "\(child.log)")

        let resumed = try workspace.run(["study", "--config", study, "--threads", "1"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(resumed.log.contains("FGSM: ") && resumed.log.contains("kept from the interrupted evaluation"), "\(resumed.log)")
        #expect(!FileManager.default.fileExists(atPath: journal))
        #expect(try deterministicPart(output + "/study.json") == expected)
    }

    @Test func aStudyConfigWithAMistakeIsRefusedNamingTheFileAndTheField() throws {
        let workspace = try Workspace(side: 8, train: 16, test: 8)
        let cases: [(changes: [String: Any], message: String)] = [
            (["grid.seed": [1]], "unknown config key 'grid.seed' — did you mean 'grid.seeds'?"),
            (["grid.epochs": [Int]()], "config field 'grid.epochs': is empty"),
            (["grid.methods": [["name": "bmtard"]],
              "grid.teachers": [["label": "t", "natural": ["checkpoint": workspace.sub("none.safetensors")],
                                 "robust": ["checkpoint": workspace.sub("none.safetensors")]]]],
             "config field 'grid.teachers[0].natural.checkpoint': no such file: \(workspace.sub("none.safetensors"))"),
        ]
        for (i, c) in cases.enumerated() {
            let study = try writeStudy(workspace, changes: c.changes, name: "bad-\(i)")
            let child = try workspace.run(["study", "--config", study])
            #expect(child.killedBy == nil && child.exitStatus == 1, "\(child.log)")
            #expect(child.log.hasPrefix("Error: \(study): \(c.message)"), "\(child.log)")
            #expect(!FileManager.default.fileExists(atPath: workspace.sub("study")), "nothing ran")
        }
    }

    /// `report --against` names the method every other one is tested against; a method the study does not have is
    /// refused naming the study and listing its methods, and the option is refused for run directories.
    @Test func reportAgainstAnotherMethodAndItsMistakes() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 8)
        let study = try writeStudy(workspace, changes: ["grid.methods": [["name": "natural"], ["name": "pgd_at"]],
                                                        "grid.seeds": [1, 2]])
        let trained = try workspace.run(["study", "--config", study, "--threads", "1"])
        try #require(trained.exitStatus == 0, "\(trained.log)")
        let output = workspace.sub("study")

        let unknown = try workspace.run(["report", output, "--against", "trades"])
        #expect(unknown.exitStatus == 64, "\(unknown.log)")
        #expect(unknown.log.contains("--against trades: \(output) has no cell of that method; its methods: natural, pgd_at"), "\(unknown.log)")

        let runs = try workspace.run(["report", output + "/runs/natural-seed1", "--against", "natural"])
        #expect(runs.exitStatus == 64 && runs.log.contains("give one study directory"), "\(runs.log)")

        let against = try workspace.run(["report", output, "--against", "natural", "--out", workspace.sub("vs-natural")])
        #expect(against.exitStatus == 0, "\(against.log)")
        let markdown = try String(contentsOfFile: workspace.sub("vs-natural/report.md"), encoding: .utf8)
        #expect(markdown.contains("## Differences from natural"), "\(markdown)")
        #expect(markdown.contains("| pgd_at | natural | Clean |"), "PGD-AT is now the compared cell: \(markdown)")
    }
}

/// Every evaluation says which checkpoint it measured, so a number can be traced to its protocol.
@Suite struct MeasuredCheckpointCLI {
    @Test func evalRecordsWhetherItMeasuredTheCheckpointSelectedOnValidationOrTheLast() throws {
        let workspace = try Workspace(side: 8, train: 64, test: 16)
        let config = try workspace.config(epochs: 2, arch: "tinycnn")
        let trained = try workspace.run(["train", "--config", config, "--threads", "1"])
        try #require(trained.exitStatus == 0, "\(trained.log)")
        let run = try workspace.runDirectory()
        for (file, role) in [("best", "best"), ("checkpoint", "last")] {
            let out = workspace.sub("eval-\(file).json")
            let child = try workspace.run(["eval", "--checkpoint", "\(run)/\(file).safetensors", "--data", workspace.data,
                                           "--eps", "0.1", "--attacks", "fgsm", "--json", out, "--threads", "1"])
            #expect(child.exitStatus == 0, "\(child.log)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
            let measured = try #require(json["measured"] as? [String: Any], "\(json.keys.sorted())")
            #expect(measured["role"] as? String == role && measured["path"] as? String == "\(run)/\(file).safetensors")
            if role == "best" {
                #expect(measured["selected_on"] as? String == "validation")
                #expect(child.log.contains("checkpoint: best by W-Robust on the validation split (epoch "), "\(child.log)")
            } else {
                #expect(measured["epoch"] as? Int == 2 && child.log.contains("checkpoint: last (epoch 2)"), "\(child.log)")
            }
        }
    }
}
