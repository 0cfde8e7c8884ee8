import Distillation
import Foundation
import NN

/// The report of a study (`advdistill report STUDY_DIR`): report.html (tables as mean ± sd, the
/// clean-vs-robust scatter, accuracy against budget with error bars, the differences from PGD-AT (or the method
/// `against` names) with Welch's t-test), report.md (the tables) and report.json (`StudyReportDocument`).
public struct StudyReport: Sendable, ReportFiles {
    public let document: StudyReportDocument

    public init(study: StudyFile, gitCommit: String = "unknown", created: Date = Date(),
                against reference: String = StudyReportDocument.defaultReference) {
        document = StudyReportDocument(study: study, gitCommit: gitCommit, created: created, against: reference)
    }

    /// The method labels of a study's cells, in grid order (what `--against` accepts).
    public static func methodLabels(_ study: StudyFile) -> [String] {
        study.cells.reduce(into: [String]()) { labels, c in if !labels.contains(c.methodLabel) { labels.append(c.methodLabel) } }
    }

    /// How the reference is named in headings: "PGD-AT" for pgd_at, else its label.
    var referenceName: String { document.reference == StudyReportDocument.defaultReference ? "PGD-AT" : document.reference }

    /// Whether `directory` holds a study (its study.json).
    public static func isStudy(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(StudyFile.fileName))
    }

    /// Reads `<directory>/study.json`.
    public static func load(directory: String) throws(ReportError) -> StudyFile {
        let path = (directory as NSString).appendingPathComponent(StudyFile.fileName)
        do { return try StudyFile.read(path) }
        catch { throw .malformed(path: path, line: nil, reason: "\(error)") }
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(document)
    }

    /// The best-checkpoint table as text (what `advdistill report` prints).
    public var comparisonText: String {
        let t = table(.best)
        return ([document.statement, t.header.joined(separator: " | ")] + t.rows.map { $0.joined(separator: " | ") }).joined(separator: "\n")
    }

    // MARK: Tables

    var study: StudyFile { document.study }

    /// The grid's axes other than seed and method, which get a column only when the grid varies them.
    private var axisColumns: [(title: String, value: (StudyFile.Cell) -> String)] {
        let g = study.settings.grid
        var out: [(String, (StudyFile.Cell) -> String)] = [("Epochs", { "\($0.epochs)" })]
        if g.trainLimit != nil { out.append(("Train images", { $0.trainLimit.map(String.init) ?? "all" })) }
        if g.eps != nil { out.append(("ε", { Numbers.eps($0.eps) })) }
        if g.teachers != nil { out.append(("Teachers", { $0.teachers ?? "—" })) }
        return out
    }

    /// "78.24 ± 0.53 (3)" in percent; "78.24 (1)" without spread.
    static func meanSD(_ s: Summary?) -> String {
        guard let s else { return "—" }
        return Numbers.percent(s.mean) + (s.sd.map { " ± " + Numbers.percent($0) } ?? "") + " (\(s.n))"
    }

    func table(_ proto: StudyProtocol) -> (header: [String], rows: [[String]]) {
        let header = ["Method"] + axisColumns.map(\.title) + ["n"] + study.metrics.map(StudyMetricName.of) + ["Train time / epoch"]
        let rows = study.cells.map { c in
            let values = proto == .best ? c.best : c.last
            return [c.methodLabel] + axisColumns.map { $0.value(c) } + ["\(c.n)"] + study.metrics.map { Self.meanSD(values[$0]) }
                + [c.timing.map { Self.seconds($0.secondsPerEpoch.mean) } ?? "—"]
        }
        return (header, rows)
    }

    func comparisonRows(_ view: StudyReportDocument.ProtocolView) -> [[String]] {
        view.comparisons.map { c in
            let t = c.test
            return [c.cell, c.reference, StudyMetricName.of(c.metric), String(format: "%+.2f", 100 * c.difference),
                    t.map { String(format: "%.2f", $0.t) } ?? "—", t.map { String(format: "%.1f", $0.degreesOfFreedom) } ?? "—",
                    t.map { Self.pValue($0.p) } ?? "—",
                    t == nil ? "not testable (fewer than 2 runs, or no spread)" : c.significant ? "larger than the spread" : "within the spread"]
        }
    }

    /// Wall times as `Numbers.duration`, with a decimal below 10 s (tiny studies train in fractions of a second).
    static func seconds(_ s: Double) -> String { s < 10 ? String(format: "%.1f s", s) : Numbers.duration(s) }

    static func pValue(_ p: Double) -> String { p < 0.001 ? "< 0.001" : String(format: "%.3f", p) }

    var testStatement: String {
        "Welch's two-sided t-test (unequal variances) over the seeds of two cells, each method against the \(referenceName) cell of "
            + "the same budget (and training-set size and ε): a difference counts as larger than its spread when p < "
            + "\(Numbers.short(document.alpha)). Δ is in accuracy points; ν are the Welch–Satterthwaite degrees of freedom; "
            + "p comes from Student's t distribution through the regularised incomplete beta function. With 3 seeds per cell "
            + "only differences several sd wide pass; a difference that does not pass is not shown to be absent."
    }

    // MARK: Markdown

    public func markdown() -> String {
        let d = document
        var out = ["# \(d.title)", "", "Generated \(d.created) · code at git commit `\(d.gitCommit)` · \(study.done) of \(study.total) runs done", "",
                   d.statement, ""]
        for n in d.notes { out += ["> Note: \(n)", ""] }
        for view in d.protocols {
            let t = table(view.name)
            out += ["## Mean ± sd over seeds: \(view.name.rawValue) checkpoint", "", "\(view.description). Accuracy in %; (n) runs.", ""]
            out.append(mdRow(t.header))
            out.append(mdRow(t.header.enumerated().map { $0.offset < 1 + axisColumns.count ? "---" : "---:" }))
            out += t.rows.map(mdRow)
            out.append("")
        }
        out += ["## Differences from \(referenceName)", "", testStatement, ""]
        for view in d.protocols {
            let rows = comparisonRows(view)
            guard !rows.isEmpty else { out += ["No \(referenceName) cell to compare with (\(view.name.rawValue) checkpoint).", ""]; continue }
            out += ["### \(view.name.rawValue) checkpoint", ""]
            out.append(mdRow(["Cell", "vs", "Metric", "Δ", "t", "ν", "p", "Verdict"]))
            out.append(mdRow(["---", "---", "---", "---:", "---:", "---:", "---:", "---"]))
            out += rows.map(mdRow)
            out.append("")
        }
        out += ["## Runs", ""]
        let r = robustKey
        out.append(mdRow(["Run", "Seed", "Status", "Best epoch", "Best clean", "Best \(StudyMetricName.of(r))", "Best W-Robust",
                          "Last clean", "Last \(StudyMetricName.of(r))", "Last W-Robust", "Train time"]))
        out.append(mdRow(["---", "---:", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]))
        for p in study.points { out.append(mdRow(runRow(p))) }
        out.append("")
        return out.joined(separator: "\n")
    }

    var robustKey: String { document.robustMetric }

    func runRow(_ p: StudyFile.Point) -> [String] {
        func v(_ m: StudyFile.Measurement?, _ k: String) -> String { m?.metrics[k].map(Numbers.percent) ?? "—" }
        return [p.run, "\(p.seed)", p.status, p.best?.epoch.map(String.init) ?? "—",
                v(p.best, "clean"), v(p.best, robustKey), v(p.best, "w_robust"),
                v(p.last, "clean"), v(p.last, robustKey), v(p.last, "w_robust"),
                p.timing.map { Self.seconds($0.trainSeconds) } ?? "—"]
    }

    private func mdRow(_ cells: [String]) -> String {
        "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |"
    }

    // MARK: HTML

    public func html() -> String {
        let d = document
        var body: [String] = [Markup.element("h1", [], Markup.escape(d.title)),
                              Markup.element("p", [("class", "meta")],
                                             "Generated \(Markup.escape(d.created)) · code at git commit " + Markup.element("code", [], Markup.escape(d.gitCommit))
                                             + " · \(study.done) of \(study.total) runs done · study file " + Markup.element("code", [], Markup.escape(study.settings.studyFile))),
                              Markup.element("p", [("class", "threat")], Markup.escape(d.statement))]
        body += d.notes.map { Markup.element("p", [("class", "note")], Markup.escape($0)) }
        for view in d.protocols {
            let t = table(view.name)
            let numeric = 1 + axisColumns.count
            let head = Markup.element("tr", [], t.header.map { Markup.element("th", [], Markup.escape($0)) }.joined())
            let rows = t.rows.map { row in
                Markup.element("tr", [], row.enumerated().map { i, v in
                    Markup.element("td", i < numeric ? [] : [("class", "num")], Markup.escape(v))
                }.joined())
            }.joined(separator: "\n")
            body.append(section("table-\(view.name.rawValue)", "Mean ± sd over seeds: \(view.name.rawValue) checkpoint",
                Markup.element("p", [("class", "meta")], Markup.escape("\(view.description). Accuracy in %; sample sd (n − 1); (n) runs."))
                + Markup.element("table", [("class", "comparison"), ("id", "study-table-\(view.name.rawValue)")],
                                 Markup.element("thead", [], head) + Markup.element("tbody", [], rows))))
        }
        body.append(significanceSection())
        body.append(scatterSection())
        body.append(budgetSection())
        body.append(runsSection())
        body.append(Markup.element("p", [("class", "meta")], "Written by " + Markup.element("code", [], "advdistill report")
                                   + " from study.json. The same numbers are in report.json; the tables in report.md."))
        return HTMLReport.page(title: d.title, extraCSS: "table.comparison td.num { white-space: nowrap; }", body: body)
    }

    func significanceSection() -> String {
        var parts = [Markup.element("p", [], Markup.escape(testStatement))]
        for view in document.protocols {
            let rows = comparisonRows(view)
            guard !rows.isEmpty else {
                parts.append(Markup.element("p", [("class", "meta")], Markup.escape("No \(referenceName) cell to compare with (\(view.name.rawValue) checkpoint).")))
                continue
            }
            let head = ["Cell", "vs", "Metric", "Δ (points)", "t", "ν", "p", "Verdict"].map { Markup.element("th", [], Markup.escape($0)) }.joined()
            let body = rows.map { row in
                Markup.element("tr", [], row.enumerated().map { i, v in
                    Markup.element("td", (3...6).contains(i) ? [("class", "num")] : i == 7 && v == "larger than the spread" ? [("class", "best")] : [],
                                   Markup.escape(v))
                }.joined())
            }.joined(separator: "\n")
            parts.append(Markup.element("h3", [], "\(Markup.escape(view.name.rawValue)) checkpoint"))
            parts.append(Markup.element("table", [("class", "comparison"), ("id", "welch-\(view.name.rawValue)")],
                                        Markup.element("thead", [], Markup.element("tr", [], head)) + Markup.element("tbody", [], body)))
        }
        return section("differences", "Differences from \(referenceName)", parts.joined(separator: "\n"))
    }

    /// One dot per finished run and a larger marker at each cell's mean, best checkpoint.
    func scatterSection() -> String {
        var series: [ChartSeries] = []
        for (i, c) in study.cells.enumerated() where c.n > 0 {
            let style = SeriesStyle.at(i)
            let runs = study.points.filter { $0.cell == c.cell }.compactMap(\.best).compactMap { m -> (x: Double, y: Double)? in
                guard let x = m.metrics["clean"], let y = m.metrics[robustKey] else { return nil }
                return (100 * x, 100 * y)
            }
            series.append(ChartSeries(name: c.cell + " runs", points: runs, style: style, line: false, markerRadius: 2.6, filled: true, inLegend: false))
            if let x = c.best["clean"]?.mean, let y = c.best[robustKey]?.mean {
                series.append(ChartSeries(name: c.cell, points: [(100 * x, 100 * y)], style: style, line: false, markerRadius: 7))
            }
        }
        guard !series.isEmpty else { return section("pareto", "Clean against robust accuracy", Markup.element("p", [("class", "meta")], "No finished runs yet.")) }
        let chart = LineChart(id: "chart-pareto", title: "Clean vs \(StudyMetricName.of(robustKey)) accuracy (best checkpoint)",
                              x: ChartAxis(label: "clean accuracy (%)"), y: ChartAxis(label: "\(StudyMetricName.of(robustKey)) accuracy (%)"),
                              series: series, width: 720, plotHeight: 320)
        return section("pareto", "Clean against robust accuracy",
                       Markup.element("p", [("class", "meta")], "Small dots: single runs; large markers: cell means. Up and to the right is better on both; a cell no other cell beats on both axes is on the Pareto front.")
                       + "\n" + chart.svg())
    }

    /// Accuracy against the student budget (epochs), mean ± sd per method.
    func budgetSection() -> String {
        let g = study.settings.grid
        func key(_ c: StudyFile.Cell) -> String {
            var parts = [c.methodLabel]
            if g.trainLimit != nil { parts.append("n" + (c.trainLimit.map(String.init) ?? "all")) }
            if g.eps != nil { parts.append("ε " + Numbers.eps(c.eps)) }
            if let t = c.teachers { parts.append(t) }
            return parts.joined(separator: ", ")
        }
        var keys: [String] = []
        for c in study.cells where !keys.contains(key(c)) { keys.append(key(c)) }
        let charts = ["clean", robustKey, "w_robust"].map { metric -> String in
            let series = keys.enumerated().map { i, k -> ChartSeries in
                let cells = study.cells.filter { key($0) == k && $0.best[metric] != nil }.sorted { $0.epochs < $1.epochs }
                return ChartSeries(name: k, points: cells.map { (Double($0.epochs), 100 * $0.best[metric]!.mean) }, style: .at(i),
                                   errors: cells.map { $0.best[metric]!.sd.map { 100 * $0 } })
            }
            return LineChart(id: "chart-budget-\(metric)", title: "\(StudyMetricName.of(metric)) against budget (best checkpoint, mean ± sd)",
                             x: ChartAxis(label: "student epochs", include: study.cells.map { Double($0.epochs) }, integerTicks: true),
                             y: ChartAxis(label: "\(StudyMetricName.of(metric)) accuracy (%)"), series: series).svg()
        }
        return section("budget", "Accuracy against student budget",
                       Markup.element("p", [("class", "meta")], "Each point is a cell's mean over its seeds; bars span ± one sample standard deviation.")
                       + "\n" + Markup.element("div", [("class", "charts")], charts.joined(separator: "\n")))
    }

    func runsSection() -> String {
        let head = ["Run", "Seed", "Status", "Best epoch", "Best clean", "Best \(StudyMetricName.of(robustKey))", "Best W-Robust",
                    "Last clean", "Last \(StudyMetricName.of(robustKey))", "Last W-Robust", "Train time"]
        let rows = study.points.map { p in
            Markup.element("tr", [], runRow(p).enumerated().map { i, v in
                Markup.element("td", i == 1 || i >= 3 ? [("class", "num")] : [], Markup.escape(v))
            }.joined())
        }.joined(separator: "\n")
        return section("runs", "Runs",
                       Markup.element("p", [("class", "meta")], "Every point of the grid; run directories are under " + Markup.element("code", [], Markup.escape(study.settings.output + "/runs")) + ".")
                       + Markup.element("table", [("class", "comparison"), ("id", "study-runs")],
                                        Markup.element("thead", [], Markup.element("tr", [], head.map { Markup.element("th", [], Markup.escape($0)) }.joined()))
                                        + Markup.element("tbody", [], rows)))
    }

    func section(_ id: String, _ title: String, _ content: String) -> String {
        Markup.element("section", [("id", id)], Markup.element("h2", [], Markup.escape(title)) + "\n" + content)
    }
}
