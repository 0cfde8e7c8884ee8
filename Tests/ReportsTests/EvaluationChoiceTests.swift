import Attacks
import Foundation
import Testing
@testable import Reports

/// A run with several evaluation files is shown with the one under the threat model most runs share, and the
/// report says so; a run with none under it keeps its eval.json and is marked as not directly comparable.
@Suite struct EvaluationChoiceTests {
    @Test func aRunIsShownWithItsEvaluationUnderTheSharedThreatModel() throws {
        let runs = try ThreeRuns()
        // The natural run's eval.json becomes a quick check at another ε; its full evaluation is kept aside.
        let natural = runs.dirs[2]
        try FileManager.default.moveItem(atPath: natural + "/eval.json", toPath: natural + "/eval-full.json")
        var quick = runs.evaluations[2]
        quick.eps = 0.05
        try EvaluationFile.write(quick, to: natural + "/eval.json")

        let loaded = Report.load(directories: runs.dirs)
        #expect(loaded.runs.map(\.evaluationPath) == [runs.dirs[0] + "/eval.json", runs.dirs[1] + "/eval.json", natural + "/eval-full.json"])
        #expect(loaded.runs[2].evaluation.eps == 0.1)
        #expect(loaded.notes == ["\(natural) is shown with \(natural)/eval-full.json, its evaluation under this report's threat model "
                                 + "(L∞ ε = 0.1, attacks on the first 1000 of 10000 images); \(natural)/eval.json was made under another "
                                 + "(L∞ ε = 0.05, attacks on the first 1000 of 10000 images)."])
        let report = try Report(runs: loaded.runs)
        #expect(report.document.runs.map(\.provenance.evaluationFile) == loaded.runs.map(\.evaluationPath))

        // Without the full evaluation, nothing of this run is under the shared threat model.
        try FileManager.default.removeItem(atPath: natural + "/eval-full.json")
        let alone = Report.load(directories: runs.dirs)
        #expect(alone.runs[2].evaluationPath == natural + "/eval.json")
        #expect(alone.notes == ["No evaluation of \(natural) is under this report's threat model (L∞ ε = 0.1, attacks on the first 1000 "
                                + "of 10000 images): it is shown with \(natural)/eval.json (L∞ ε = 0.05, attacks on the first 1000 of "
                                + "10000 images), so its row is not directly comparable."])
    }

    @Test func differentAttackListsAreOneThreatModelAndNeedNoNote() throws {
        // The three fixture runs ran different attacks (7, 4 and 1) at one ε on the same images.
        let runs = try ThreeRuns()
        let loaded = Report.load(directories: runs.dirs)
        #expect(loaded.failures.isEmpty && loaded.notes.isEmpty)
    }

    @Test func aRunWithOnlyItsLastCheckpointsEvaluationIsShownWithIt() throws {
        let runs = try ThreeRuns()
        try FileManager.default.moveItem(atPath: runs.dirs[1] + "/eval.json", toPath: runs.dirs[1] + "/eval-checkpoint.json")
        let loaded = Report.load(directories: runs.dirs)
        #expect(loaded.failures.isEmpty)
        #expect(loaded.runs[1].evaluationPath == runs.dirs[1] + "/eval-checkpoint.json")
    }
}
