import Foundation
import Testing

/// `advdistill report FOLDER` reads every run below the folder, as `tensorboard --logdir` does, through the CLI.
@Suite struct ReportOverFolders {
    /// A one-epoch natural run into `<output>/run`, with an evaluation of its best checkpoint.
    func train(_ workspace: Workspace, _ config: String, output: String, _ extra: [String] = []) throws -> String {
        let trained = try workspace.run(["train", "--config", config, "--threads", "1", "--output", output] + extra)
        try #require(trained.exitStatus == 0, "\(trained.log)")
        let run = output + "/run"
        let evaluated = try workspace.run(["eval", "--checkpoint", run + "/best.safetensors", "--data", workspace.data,
                                           "--attacks", "fgsm", "--eps", "0.1", "--limit", "8", "--threads", "1"])
        try #require(evaluated.exitStatus == 0, "\(evaluated.log)")
        return run
    }

    /// The directories of report.json's rows, in order.
    func rows(_ reportDirectory: String) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: reportDirectory + "/report.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let runs = try #require(object["runs"] as? [[String: Any]])
        return try runs.map { try #require(($0["provenance"] as? [String: Any])?["directory"] as? String) }
    }

    @Test func aFolderIsEveryRunBelowItInPathOrderWithPreviousRunsLeftOutUnlessAsked() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let config = try workspace.config(epochs: 1, arch: "tinycnn")
        let root = workspace.sub("runs")
        let solo = try train(workspace, config, output: root + "/solo")
        _ = try train(workspace, config, output: root + "/solo", ["--overwrite"])   // keeps the first in solo/run/previous
        let grouped = try train(workspace, config, output: root + "/group/g1")
        // A study directory among the runs: study.json and its runs under runs/.
        let study = root + "/group/study-x"
        let point = study + "/runs/p-seed1"
        try FileManager.default.createDirectory(atPath: study + "/runs", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: grouped, toPath: point)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: study + "/study.json"))

        let out = workspace.sub("report")
        let report = try workspace.run(["report", root, "--out", out, "--no-eval"])
        #expect(report.exitStatus == 0, "\(report.log)")
        #expect(try rows(out) == [grouped, point, solo], "every run below the folder, in path order, previous/ left out")
        #expect(report.log.contains("note: left out 1 earlier run kept aside by `train --overwrite` (\(solo)/previous); --include-previous shows them"),
                "\(report.log)")
        #expect(report.log.contains("note: \(study) is a study (it holds study.json): its 1 run is a row here; `advdistill report \(study)` shows its cells"),
                "\(report.log)")
        for run in [grouped, point, solo] { #expect(report.log.contains("\(run): numbers from \(run)/eval.json"), "\(report.log)") }

        let withPrevious = try workspace.run(["report", root, "--out", out, "--no-eval", "--include-previous"])
        #expect(withPrevious.exitStatus == 0, "\(withPrevious.log)")
        #expect(try rows(out) == [grouped, point, solo, solo + "/previous"])
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("run (\(solo)/previous)"), "the kept run's label names its directory")

        // A run named directly is read as before, and a folder with a broken run still shows the others.
        try FileManager.default.removeItem(atPath: point + "/metrics.jsonl")
        let partial = try workspace.run(["report", root, "--out", out, "--no-eval"])
        #expect(partial.exitStatus == 0, "\(partial.log)")
        #expect(try rows(out) == [grouped, solo])
        #expect(partial.log.contains("warning: \(point) is left out of the report: \(point)/metrics.jsonl: no such file"), "\(partial.log)")
    }

    @Test func aFolderWithoutRunsIsRefusedNamingIt() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let empty = workspace.sub("runs/empty/deeper")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let report = try workspace.run(["report", workspace.sub("runs"), "--no-eval"])
        #expect(report.exitStatus == 1, "\(report.log)")
        #expect(report.log.contains("Error: no run could be read:"), "\(report.log)")
        #expect(report.log.contains("\(workspace.sub("runs")): holds no run directory (a directory with config.json, written by `advdistill train`) at any depth"),
                "\(report.log)")
    }
}
