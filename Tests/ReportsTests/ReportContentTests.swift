import Foundation
import Testing
@_spi(Parsing) @testable import Datasets
@testable import Reports

/// Builds the report of the three fixture runs and parses its HTML as XML.
func renderThreeRuns() throws -> (runs: ThreeRuns, report: Report, html: String, root: Element) {
    let runs = try ThreeRuns()
    let loaded = Report.load(directories: runs.dirs)
    #expect(loaded.failures.isEmpty, "\(loaded.failures)")
    let report = try Report(runs: loaded.runs, gitCommit: "0123abcd")
    let html = report.html()
    let parsed = XMLTreeBuilder.parse(html)
    let root = try #require(parsed.root, "report.html is not well-formed XML: \(parsed.error ?? "")")
    return (runs, report, html, root)
}

@Test func comparisonTableShowsEachRunsEvalNumbersAndMarksTheBestPerColumn() throws {
    let (_, report, _, root) = try renderThreeRuns()
    let table = try #require(root.first(id: "comparison-table"))
    #expect(table.all("th").map(\.allText) == ["Model", "Method", "Clean", "FGSM", "PGD_SAT", "PGD_TRADES", "CW∞", "AA", "Worst", "W-Robust"])
    // Expected cells written out by hand from the fixtures' eval.json values (accuracy × 100, two decimals).
    let expected = [
        ["bmtard-small", "bmtard", "74.31", "46.22", "41.05", "42.87", "39.50", "38.70", "37.90", "57.68"],
        ["trades-small", "trades", "77.02", "45.11", "41.88", "43.01", "38.07", "—", "37.02", "59.45"],
        ["natural<&>'\"", "natural", "85.30", "—", "1.00", "—", "—", "—", "1.00", "43.15"],
    ]
    let rows = table.all("tr").dropFirst()
    #expect(rows.map { $0.all("td").map(\.allText) } == expected)
    // Best: clean natural; FGSM, CW∞ and Worst B-MTARD; PGD_SAT, PGD_TRADES and W-Robust TRADES; AA has one value only.
    let best = rows.map { $0.all("td").map { $0.hasClass("best") } }
    let f = false, t = true
    #expect(best == [[f, f, f, t, f, f, t, f, t, f],
                     [f, f, f, f, t, t, f, f, f, t],
                     [f, f, t, f, f, f, f, f, f, f]])
    // The threat model is stated above the table.
    let statement = try #require(root.first(id: "comparison")?.all("p", class: "threat").first?.allText)
    #expect(statement.contains("L∞") && statement.contains("ε = 0.1") && statement.contains("first 1000 of 10000"))
    // The natural run's gradient-masking warning is flagged next to the table.
    let flagged = try #require(root.first(id: "comparison")).all("p", class: "warning").map(\.allText)
    #expect(flagged.count == 1 && flagged[0].contains("natural<&>'\" (1)") && !flagged[0].contains("bmtard"))
    // The terminal table carries the same numbers and marks.
    let text = report.comparisonText
    #expect(text.contains("74.31 ") && text.contains("77.02 ") && text.contains("85.30*") && text.contains("59.45*"))
}

@Test func markdownAndJSONCarryTheSameNumbers() throws {
    let (runs, report, _, _) = try renderThreeRuns()
    let md = report.markdown()
    #expect(md.contains("| bmtard-small | bmtard | 74.31 | **46.22** | 41.05 | 42.87 | **39.50** | 38.70 | **37.90** | 57.68 |"))
    #expect(md.contains("| trades-small | trades | 77.02 | 45.11 | **41.88** | **43.01** | 38.07 | — | 37.02 | **59.45** |"))
    #expect(md.contains("| natural<&>'\" | natural | **85.30** | — | 1.00 | — | — | — | 1.00 | 43.15 |"))
    #expect(md.contains("accuracy rises with ε"))

    let json = try #require(try JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
    let rows = try #require((json["comparison"] as? [String: Any])?["rows"] as? [[String: Any]])
    #expect(rows.count == 3)
    let first = try #require(rows[0]["values"] as? [Any])
    let e = runs.evaluations[0]
    #expect(first.compactMap { $0 as? Double } == [e.clean.accuracy, 0.4622, 0.4105, 0.4287, 0.3950, 0.3870, 0.3790, 0.5768])
    #expect(first.count == 8)
    let secondValues = try #require(rows[1]["values"] as? [Any])
    #expect(secondValues[5] is NSNull, "TRADES ran no AA attack")
    let jsonRuns = try #require(json["runs"] as? [[String: Any]])
    let epochs = try #require(jsonRuns[0]["epochs"] as? [[String: Any]])
    #expect(epochs.map { $0["tau_nat"] as? Double } == runs.metrics[0].map(\.tauNat))
    #expect(epochs.map { $0["train_loss"] as? Double } == runs.metrics[0].map(\.trainLoss))
    #expect(jsonRuns.map { $0["has_balancer"] as? Bool } == [true, false, false])
}

/// A chart read back from its SVG: every polyline vertex turned into the value the axes say it has, by
/// linear interpolation between the first and last tick (their label text and their tick-mark position).
struct ReadChart {
    var series: [String: [(x: Double, y: Double)]] = [:]
    var xSpan = 0.0, ySpan = 0.0

    init(_ svg: Element) throws {
        func ticks(_ cls: String, _ coordinate: String) throws -> [(value: Double, position: Double)] {
            try svg.all("g", class: cls).map { g in
                (try #require(Double(g.all("text").first?.allText ?? "")), try #require(Double(g.all("line").first?[coordinate] ?? "")))
            }
        }
        let xt = try ticks("x-tick", "x1"), yt = try ticks("y-tick", "y1")
        try #require(xt.count >= 2 && yt.count >= 2)
        func map(_ t: [(value: Double, position: Double)]) -> (Double) -> Double {
            let a = t.first!, b = t.last!
            return { a.value + ($0 - a.position) * (b.value - a.value) / (b.position - a.position) }
        }
        let fx = map(xt), fy = map(yt)
        // The axis is linear: every tick label sits where the first and last ticks put its value.
        for t in xt { #expect(abs(fx(t.position) - t.value) < 1e-3 * (xt.last!.value - xt.first!.value)) }
        for t in yt { #expect(abs(fy(t.position) - t.value) < 1e-3 * (yt.last!.value - yt.first!.value)) }
        xSpan = xt.last!.value - xt.first!.value
        ySpan = yt.last!.value - yt.first!.value
        for g in svg.all("g", class: "series") {
            let points = try #require(g.all("polyline").first?["points"])
            series[try #require(g["data-series"])] = points.split(separator: " ").map { pair in
                let xy = pair.split(separator: ",").map { Double($0)! }
                return (fx(xy[0]), fy(xy[1]))
            }
        }
    }

    /// Whether series `name` has exactly `expected` points, each within 0.1 % of the axis span.
    func matches(_ name: String, _ expected: [(Double, Double)]) -> Bool {
        guard let got = series[name], got.count == expected.count else { return false }
        return zip(got, expected).allSatisfy { abs($0.x - $1.0) <= 1e-3 * xSpan && abs($0.y - $1.1) <= 1e-3 * ySpan }
    }
}

@Test func everyChartPointLiesWhereTheAxesSayTheRunFilesValueIs() throws {
    let (runs, _, _, root) = try renderThreeRuns()
    let m = runs.metrics, ev = runs.evaluations

    // Robust accuracy against ε: one line per run that has a sweep, in %.
    let sweep = try ReadChart(try #require(root.first(id: "chart-eps-sweep")))
    #expect(sweep.series.count == 2)
    #expect(sweep.matches("bmtard-small", ev[0].epsSweep.map { ($0.eps, 100 * $0.accuracy) }))
    #expect(sweep.matches("trades-small", [(0, 77), (0.1, 41.88)]))

    // Training curves: loss (with the method's loss terms) and clean/robust accuracy per epoch.
    let loss0 = try ReadChart(try #require(root.first(id: "chart-run0-loss")))
    #expect(loss0.matches("training loss", [(1, 0.92), (2, 0.71), (3, 0.64)]))
    #expect(loss0.matches("loss_adv", [(1, 1.10), (2, 0.90), (3, 0.83)]))
    #expect(loss0.matches("loss_nat", [(1, 0.74), (2, 0.52), (3, 0.45)]))
    #expect(loss0.series["entropy_adv"] == nil)
    let accuracy0 = try ReadChart(try #require(root.first(id: "chart-run0-accuracy")))
    #expect(accuracy0.matches("clean", m[0].map { (Double($0.epoch), 100 * $0.cleanAccuracy!) }))
    #expect(accuracy0.matches("robust (PGD-20)", [(1, 32), (2, 38), (3, 41)]))
    // TRADES was not evaluated at epoch 1: its accuracy lines start at epoch 2.
    let accuracy1 = try ReadChart(try #require(root.first(id: "chart-run1-accuracy")))
    #expect(accuracy1.matches("clean", [(2, 72), (3, 77)]))
    #expect(accuracy1.matches("robust (PGD-20)", [(2, 39), (3, 42)]))
    // A single epoch still draws (one point, a centred axis).
    let loss2 = try ReadChart(try #require(root.first(id: "chart-run2-loss")))
    #expect(loss2.matches("training loss", [(1, 0.55)]))
    #expect(loss2.series.count == 1, "one loss term is the training loss again, not a second line")

    // The balancer: τ and w per epoch.
    let tau = try ReadChart(try #require(root.first(id: "chart-run0-tau")))
    #expect(tau.matches("τ_nat (clean teacher)", [(1, 1.05), (2, 1.11), (3, 1.16)]))
    #expect(tau.matches("τ_adv (robust teacher)", [(1, 1), (2, 1), (3, 1)]))
    let w = try ReadChart(try #require(root.first(id: "chart-run0-weights")))
    #expect(w.matches("w_nat (clean teacher)", [(1, 0.48), (2, 0.46), (3, 0.455)]))
    #expect(w.matches("w_adv (robust teacher)", [(1, 0.52), (2, 0.54), (3, 0.545)]))
}

@Test func baselineRunsHaveNoBalancerChart() throws {
    let (_, _, _, root) = try renderThreeRuns()
    #expect(root.first(id: "balancer") != nil)
    #expect(root.first(id: "chart-run0-tau") != nil)
    for i in 1...2 {
        #expect(root.first(id: "chart-run\(i)-tau") == nil && root.first(id: "chart-run\(i)-weights") == nil)
    }
    // With only baselines there is no balancer section at all.
    let runs = try ThreeRuns()
    let loaded = Report.load(directories: Array(runs.dirs.dropFirst()))
    let html = try Report(runs: loaded.runs).html()
    let root2 = try #require(XMLTreeBuilder.parse(html).root)
    #expect(root2.first(id: "balancer") == nil)
    #expect(!html.contains("τ_nat"))
}

@Test func htmlIsWellFormedSelfContainedAndScriptFree() throws {
    let (_, _, html, root) = try renderThreeRuns()
    #expect(root.name == "html")
    #expect(root.all("svg").count >= 8)
    let lower = html.lowercased()
    for banned in ["<script", "javascript:", "http://", "https://", "url(", "@import", "@font-face", "<link", "<iframe"] {
        #expect(!lower.contains(banned), "report.html contains \(banned)")
    }
    for img in root.all("img") {
        #expect(img["src"]?.hasPrefix("data:image/png;base64,") == true)
        #expect(img["alt"]?.isEmpty == false)
    }
    // The run name with markup characters comes through as text, not markup.
    #expect(root.first(id: "comparison-table")!.allText.contains("natural<&>'\""))
}

@Test func perClassHeatTableShowsEvalPerClassAccuracyUnderTheClassNames() throws {
    let (_, _, _, root) = try renderThreeRuns()
    let table = try #require(root.first(id: "per-class-0"))
    let rows = table.all("tbody").first!.all("tr").map { $0.all("td").map(\.allText) }
    // Class name, then clean | robust (worst case) per run, from the fixtures' per_class arrays.
    #expect(rows == [
        ["T-shirt/top", "90.00", "40.00", "81.00", "35.00", "90.00", "40.00"],
        ["Trouser", "95.00", "80.00", "97.00", "77.00", "95.00", "80.00"],
        ["Pullover", "60.00", "20.00", "52.00", "10.00", "60.00", "20.00"],
    ])
    // Darker background for higher accuracy (what keeps the heat readable in grey-scale print).
    let cells = table.all("td", class: "num")
    func lightness(_ e: Element) -> Double {
        let style = e["style"]!
        let l = style.split(separator: ",")[2].split(separator: "%")[0]
        return Double(l.trimmingCharacters(in: .whitespaces))!
    }
    let byValue = cells.map { (Double($0.allText)!, lightness($0)) }.sorted { $0.0 < $1.0 }
    for (a, b) in zip(byValue, byValue.dropFirst()) where b.0 > a.0 { #expect(b.1 <= a.1) }
}

@Test func galleryImagesAreThePNGsOfTheExamplesWithThePerturbationAmplifiedByOneOverTwoEps() throws {
    let (_, _, _, root) = try renderThreeRuns()
    let figures = try #require(root.first(id: "gallery")).all("figure")
    #expect(figures.count == 2)
    func pixels(_ img: Element) throws -> (DecodedImage) {
        let uri = try #require(img["src"])
        let data = try #require(Data(base64Encoded: String(uri.dropFirst("data:image/png;base64,".count))))
        return try decodeImage([UInt8](data), channels: 0)
    }
    // Grey example: clean and adversarial bytes as written; perturbation 127.5 + 255·5·δ/255 (ε = 0.1 → ×5).
    let g = ThreeRuns.greyExample
    let grey = figures[0].all("img")
    let clean = try pixels(grey[0]), delta = try pixels(grey[1]), adv = try pixels(grey[2])
    #expect(clean.width == 4 && clean.height == 4 && clean.channels == 1)
    #expect(clean.pixels == g.clean && adv.pixels == g.adversarial)
    for i in 0..<16 {
        let expected = min(255, max(0, 127.5 + 5 * (Double(g.adversarial[i]) - Double(g.clean[i]))))
        #expect(abs(Double(delta.pixels[i]) - expected) <= 0.5)
    }
    let caption = figures[0].all("figcaption").first!.allText
    #expect(caption.contains("true: Pullover") && caption.contains("PGD-20 → T-shirt/top"))
    #expect(figures[0].all("span").map(\.allText) == ["clean", "δ ×5", "adversarial"])
    // RGB example: CHW planes become interleaved RGB rows.
    let rgb = try pixels(figures[1].all("img")[0])
    #expect(rgb.width == 3 && rgb.height == 2 && rgb.channels == 3)
    let r = ThreeRuns.rgbExample.clean
    #expect(Array(rgb.pixels.prefix(6)) == [r[0], r[6], r[12], r[1], r[7], r[13]])
}

@Test func provenanceNamesConfigMachineTimesCommitAndWarnings() throws {
    let (runs, _, _, root) = try renderThreeRuns()
    let prov = try #require(root.first(id: "provenance")).all("section", class: "run")
    #expect(prov.count == 3)
    let first = prov[0].allText
    for needle in ["bmtard-small", "bmtard", "smallcnn", "7", "runs/nat/best.safetensors", "runs/at/best.safetensors",
                   "Data/fashion-mnist (train, first 2000)", "AMD EPYC test CPU", "0123abcd", "96 s"] {
        #expect(first.contains(needle), "provenance lacks \(needle)")
    }
    // Training wall time is the sum of the epochs' seconds (3 × 30 s).
    #expect(runs.metrics[0].reduce(0) { $0 + $1.seconds } == 90 && first.contains("90 s (sum over recorded epochs)"))
    #expect(prov[2].all("p", class: "warning").map(\.allText) == ["Gradient-masking check: accuracy rises with ε (1.0% at ε=0.05, 3.0% at ε=0.1): gradient masking?"])
    #expect(prov[0].all("p", class: "warning").isEmpty)
}
