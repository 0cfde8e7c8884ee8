import Foundation
import Testing
@testable import Distillation
@testable import Reports

/// A study of PGD-AT and B-MTARD at 2 and 5 epochs, 3 seeds each, with hand-chosen accuracies.
func fixtureStudy() throws -> StudyFile {
    let grid = try JSONDecoder().decode(StudyGrid.self, from: Data(#"{"seeds": [1, 2, 3], "epochs": [2, 5], "methods": [{"name": "pgd_at"}, {"name": "bmtard"}]}"#.utf8))
    let settings = StudyFile.Settings(studyFile: "Configs/study-fixture.json", baseFile: "Configs/demo/bmtard.json",
                                      base: try fixtureConfig(name: "base", method: "bmtard", teachers: true), grid: grid,
                                      evaluation: try JSONDecoder().decode(StudyEvaluation.self, from: Data(#"{"attacks": "fgsm,pgd20"}"#.utf8)),
                                      output: "runs/study-fixture")
    // (method, epochs) → clean and PGD-20 accuracy of seeds 1, 2, 3.
    let values: [String: (clean: [Double], pgd: [Double])] = [
        "pgd_at-e2": ([0.76, 0.77, 0.75], [0.60, 0.62, 0.61]), "bmtard-e2": ([0.78, 0.79, 0.785], [0.50, 0.52, 0.49]),
        "pgd_at-e5": ([0.80, 0.81, 0.79], [0.66, 0.67, 0.68]), "bmtard-e5": ([0.83, 0.84, 0.845], [0.64, 0.70, 0.58]),
    ]
    var points: [StudyFile.Point] = []
    for seed in 1...3 {
        for epochs in [2, 5] {
            for method in ["pgd_at", "bmtard"] {
                let cell = "\(method)-e\(epochs)", v = values[cell]!
                let metrics = ["clean": v.clean[seed - 1], "fgsm": v.pgd[seed - 1] + 0.05, "pgd20": v.pgd[seed - 1],
                               "worst_case": v.pgd[seed - 1], "w_robust": (v.clean[seed - 1] + v.pgd[seed - 1]) / 2]
                let m = StudyFile.Measurement(checkpoint: "runs/\(cell)-seed\(seed)/best.safetensors", measured: "best",
                                              epoch: epochs, selectedOn: "validation", metrics: metrics)
                points.append(StudyFile.Point(run: "\(cell)-seed\(seed)", cell: cell, seed: UInt64(seed), method: method, methodLabel: method,
                                              epochs: epochs, trainLimit: 2000, eps: 0.1, teachers: nil, directory: "runs/\(cell)-seed\(seed)",
                                              status: "done", best: m, last: m,
                                              timing: .init(trainSeconds: 10, secondsPerEpoch: 5, validationSeconds: 1, evaluationSeconds: 2)))
            }
        }
    }
    return StudyFile(settings: settings, metrics: ["clean", "fgsm", "pgd20", "worst_case", "w_robust"], points: points)
}

@Suite struct StudyReportContent {
    @Test func theTableShowsEachCellsMeanAndSampleSDOverItsSeeds() throws {
        let report = StudyReport(study: try fixtureStudy())
        let root = try #require(XMLTreeBuilder.parse(report.html()).root, "report.html is well-formed XML")
        let table = try #require(root.first(id: "study-table-best"))
        let rows = table.all("tr").map { $0.all("td").map(\.allText) }.filter { !$0.isEmpty }
        #expect(rows.map { $0.first } == ["pgd_at", "bmtard", "pgd_at", "bmtard"], "cells in grid order")
        // bmtard-e2 clean: mean 78.5, sd √((0.5² + 0.5² + 0²)/2) = 0.5; PGD-20: mean 50.33, sd √((0.333² + 1.667² + 1.333²)/2) = 1.53.
        #expect(rows[1].contains("78.50 ± 0.50 (3)") && rows[1].contains("50.33 ± 1.53 (3)"), "\(rows[1])")
        // bmtard-e5 PGD-20: mean 64, sd √((0² + 6² + 6²)/2) = 6.
        #expect(rows[3].contains("64.00 ± 6.00 (3)"), "\(rows[3])")
    }

    /// Against `scipy.stats.ttest_ind(a, b, equal_var=False)`: bmtard-e2 vs pgd_at-e2 clean, t 3.8730, p 0.0316
    /// (larger than the spread); bmtard-e5 vs pgd_at-e5 PGD-20, t −0.8542, ν 2.11, p 0.4789 (within it).
    @Test func eachMethodIsComparedWithPGDATOfTheSameBudgetByWelchsTest() throws {
        let report = StudyReport(study: try fixtureStudy())
        let best = try #require(report.document.protocols.first { $0.name == .best })
        #expect(Set(best.comparisons.map(\.reference)) == ["pgd_at-e2", "pgd_at-e5"])
        let clean = try #require(best.comparisons.first { $0.cell == "bmtard-e2" && $0.metric == "clean" })
        #expect(clean.reference == "pgd_at-e2" && abs(clean.difference - 0.025) < 1e-12)
        #expect(abs(try #require(clean.test).t - 3.8729833462073997) < 1e-9 && abs(clean.test!.p - 0.03156223162567884) < 1e-9)
        #expect(clean.significant)
        let pgd = try #require(best.comparisons.first { $0.cell == "bmtard-e5" && $0.metric == "pgd20" })
        #expect(abs(try #require(pgd.test).degreesOfFreedom - 2.1110254433307634) < 1e-9 && abs(pgd.test!.p - 0.4788509820398164) < 1e-9)
        #expect(!pgd.significant)
        let root = try #require(XMLTreeBuilder.parse(report.html()).root)
        let welch = try #require(root.first(id: "welch-best")).allText
        #expect(welch.contains("bmtard-e2") && welch.contains("0.032") && welch.contains("larger than the spread") && welch.contains("within the spread"))
        #expect(try #require(root.first(id: "differences")).allText.contains("Welch's two-sided t-test"), "the page says how it decides")
    }

    /// `--against bmtard`: the same Welch tests with the roles swapped (Δ and t change sign, ν and p do not), PGD-AT
    /// is now a compared cell, and every heading names the reference.
    @Test func anotherMethodCanBeTheReference() throws {
        let study = try fixtureStudy()
        #expect(StudyReport.methodLabels(study) == ["pgd_at", "bmtard"])
        let report = StudyReport(study: study, against: "bmtard")
        #expect(report.document.reference == "bmtard")
        let best = try #require(report.document.protocols.first { $0.name == .best })
        #expect(Set(best.comparisons.map(\.reference)) == ["bmtard-e2", "bmtard-e5"])
        #expect(Set(best.comparisons.map(\.cell)) == ["pgd_at-e2", "pgd_at-e5"])
        let clean = try #require(best.comparisons.first { $0.cell == "pgd_at-e2" && $0.metric == "clean" })
        #expect(abs(clean.difference + 0.025) < 1e-12)
        #expect(abs(try #require(clean.test).t + 3.8729833462073997) < 1e-9 && abs(clean.test!.p - 0.03156223162567884) < 1e-9)
        let markdown = report.markdown()
        #expect(markdown.contains("## Differences from bmtard") && !markdown.contains("Differences from PGD-AT"))
        #expect(markdown.contains("each method against the bmtard cell"))
        let root = try #require(XMLTreeBuilder.parse(report.html()).root)
        #expect(try #require(root.first(id: "differences")).allText.contains("Differences from bmtard"))
        // The default is PGD-AT, named so.
        #expect(StudyReport(study: study).markdown().contains("## Differences from PGD-AT"))
    }

    /// By default the PGD-AT cells are the reference whatever their label (a grid may label its PGD-AT entry).
    @Test func pgdATCellsWithALabelOfTheirOwnAreStillTheDefaultReference() throws {
        var study = try fixtureStudy()
        for i in study.cells.indices where study.cells[i].method == "pgd_at" { study.cells[i].methodLabel = "madry" }
        let best = try #require(StudyReport(study: study).document.protocols.first { $0.name == .best })
        #expect(Set(best.comparisons.map(\.reference)) == ["pgd_at-e2", "pgd_at-e5"])
        #expect(Set(best.comparisons.map(\.cell)) == ["bmtard-e2", "bmtard-e5"])
        // So `--against pgd_at`, which names that default, is accepted as well as the label; an unknown name is not.
        #expect(StudyReportDocument.names("pgd_at", in: study) && StudyReportDocument.names("madry", in: study))
        #expect(!StudyReportDocument.names("trades", in: study))
    }

    @Test func chartsShowEveryRunEachCellsMeanAndErrorBarsAgainstBudget() throws {
        let report = StudyReport(study: try fixtureStudy())
        let root = try #require(XMLTreeBuilder.parse(report.html()).root)
        let pareto = try #require(root.first(id: "chart-pareto"))
        let series = pareto.all("g", class: "series")
        // One group of run dots and one cell-mean marker per cell.
        #expect(series.count == 8)
        #expect(series.filter { ($0["data-series"] ?? "").hasSuffix(" runs") }.map(\.children.count) == [3, 3, 3, 3], "a marker per run")
        #expect(series.filter { !($0["data-series"] ?? "").hasSuffix(" runs") }.map(\.children.count) == [1, 1, 1, 1], "a marker per cell mean")
        let budget = try #require(root.first(id: "chart-budget-w_robust"))
        #expect(budget.all("g", class: "series").map { $0["data-series"] } == ["pgd_at", "bmtard"])
        #expect(budget.all("path", class: "error-bar").count == 4, "a ±sd bar at each method's two budgets")
        let markdown = report.markdown()
        // bmtard-e5 clean: mean 83.83, deviations −0.83, 0.17, 0.67 points: sd √(1.1667/2) = 0.76.
        #expect(markdown.contains("| bmtard | 5 | 3 | 83.83 ± 0.76 (3) |"), "\(markdown)")
    }
}
