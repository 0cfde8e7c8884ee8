import Foundation
import Testing
@testable import Reports

@Test func aMissingRunFileIsAnErrorNamingTheFile() throws {
    for file in ["config.json", "metrics.jsonl", "eval.json"] {
        let runs = try ThreeRuns()
        let path = runs.dirs[0] + "/" + file
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: ReportError.self) { try RunRecord.load(directory: runs.dirs[0]) }
        do { _ = try RunRecord.load(directory: runs.dirs[0]) }
        catch {
            guard case .missingFile(let p, _) = error else { Issue.record("expected missingFile, got \(error)"); continue }
            #expect(p == path)
            #expect(error.description.hasPrefix(path + ": no such file"))
        }
    }
    let runs = try ThreeRuns()
    do { _ = try RunRecord.load(directory: runs.root.sub("nowhere")); Issue.record("loaded a missing directory") }
    catch { #expect(error == .notADirectory(path: runs.root.sub("nowhere"))) }
}

@Test func aMalformedMetricsLineIsReportedWithItsLineNumber() throws {
    let runs = try ThreeRuns()
    let path = runs.dirs[0] + "/metrics.jsonl"
    var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    lines[1] = lines[1].replacingOccurrences(of: "\"train_loss\"", with: "\"trainloss\"")
    try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    do { _ = try RunRecord.load(directory: runs.dirs[0]); Issue.record("loaded a broken metrics.jsonl") }
    catch {
        guard case let .malformed(p, line, reason) = error else { Issue.record("\(error)"); return }
        #expect(p == path && line == 2)
        #expect(reason.contains("train_loss"), "the reason names the missing key: \(reason)")
        #expect(error.description.hasPrefix(path + ", line 2: "))
    }
    // Epochs out of order.
    try [lines[0], lines[0]].joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    do { _ = try RunRecord.load(directory: runs.dirs[0]); Issue.record("loaded repeated epochs") }
    catch { #expect(error == .malformed(path: path, line: 2, reason: "epoch 1 follows epoch 1; epochs must increase")) }
}

@Test func malformedEvalJSONAndConfigAreErrorsNamingTheFile() throws {
    let runs = try ThreeRuns()
    let evalPath = runs.dirs[1] + "/eval.json"
    try Data("{ \"clean\": ".utf8).write(to: URL(fileURLWithPath: evalPath))
    do { _ = try RunRecord.load(directory: runs.dirs[1]); Issue.record("loaded truncated JSON") }
    catch { #expect(error.description.hasPrefix(evalPath + ": not a valid eval.json: not valid JSON")) }

    // Valid JSON with an impossible value: an accuracy above 1.
    var e = runs.evaluations[1]
    e.attacks[1].accuracy = 41.88
    try writeRun(runs.dirs[1], config: try fixtureConfig(name: "t", method: "trades", teachers: false), metrics: [], evaluation: e)
    do { _ = try RunRecord.load(directory: runs.dirs[1]); Issue.record("loaded an accuracy of 41.88") }
    catch { #expect(error == .malformed(path: evalPath, line: nil, reason: "attacks[pgd20].accuracy is 41.88; accuracies are fractions in [0, 1]")) }

    // An example whose bytes do not fill its shape.
    var f = runs.evaluations[0]
    f.examples[0].adversarial.removeLast()
    try writeRun(runs.dirs[0], config: try fixtureConfig(name: "b", method: "bmtard", teachers: true), metrics: [], evaluation: f)
    do { _ = try RunRecord.load(directory: runs.dirs[0]); Issue.record("loaded a short example") }
    catch { #expect(error.description.contains("eval.json: examples[0] holds 16 clean and 15 adversarial bytes")) }

    // A config with an unknown key (configs are strict).
    let configPath = runs.dirs[2] + "/config.json"
    try Data(#"{"name": "x", "epochs": 1, "colour": "red"}"#.utf8).write(to: URL(fileURLWithPath: configPath))
    do { _ = try RunRecord.load(directory: runs.dirs[2]); Issue.record("loaded a bad config") }
    catch {
        guard case let .malformed(p, nil, reason) = error else { Issue.record("\(error)"); return }
        #expect(p == configPath && reason.contains("colour"))
        #expect(error.description.components(separatedBy: configPath).count == 2, "the path is named once: \(error)")
    }
}

@Test func oneBadRunAmongSeveralIsNotedAndTheOthersRender() throws {
    let runs = try ThreeRuns()
    try FileManager.default.removeItem(atPath: runs.dirs[1] + "/eval.json")
    let loaded = Report.load(directories: runs.dirs)
    #expect(loaded.runs.map(\.config.name) == ["bmtard-small", "natural<&>'\""])
    #expect(loaded.failures.count == 1)
    #expect(loaded.failures.first?.directory == runs.dirs[1])
    #expect(loaded.failures.first?.message.hasPrefix(runs.dirs[1] + "/eval.json: no such file") == true)

    let report = try Report(runs: loaded.runs, failures: loaded.failures)
    let root = try #require(XMLTreeBuilder.parse(report.html()).root)
    let notes = try #require(root.first(id: "notes")).all("p", class: "warning").map(\.allText)
    #expect(notes.count == 1 && notes[0].contains(runs.dirs[1]) && notes[0].contains("eval.json: no such file"))
    #expect(try #require(root.first(id: "comparison-table")).all("tr").count == 3)
    #expect(report.markdown().contains("**Run `\(runs.dirs[1])` is not in this report:**"))
}

@Test func noReadableRunIsAnErrorListingEveryFailure() throws {
    let failures = [RunFailure(directory: "runs/a", message: "runs/a/eval.json: no such file")]
    #expect(throws: ReportError.noUsableRuns(failures: ["runs/a: runs/a/eval.json: no such file"])) {
        try Report(runs: [], failures: failures)
    }
}

@Test func runsSharingANameAreToldApartByDirectory() throws {
    let runs = try ThreeRuns()
    let copy = runs.root.sub("copy")
    try FileManager.default.copyItem(atPath: runs.dirs[1], toPath: copy)
    let report = try Report(runs: Report.load(directories: [runs.dirs[1], copy]).runs)
    #expect(report.document.comparison.rows.map(\.run) == ["trades-small (\(runs.dirs[1]))", "trades-small (\(copy))"])
}

@Test func writeProducesTheThreeFiles() throws {
    let runs = try ThreeRuns()
    let report = try Report(runs: Report.load(directories: runs.dirs).runs)
    let out = runs.root.sub("report/nested")
    let paths = try report.write(to: out)
    #expect(paths == ["report.html", "report.md", "report.json"].map { out + "/" + $0 })
    #expect(try String(contentsOfFile: paths[0], encoding: .utf8) == report.html())
    #expect(try String(contentsOfFile: paths[1], encoding: .utf8) == report.markdown())
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains(".tmp") }
    #expect(leftovers.isEmpty)
}
