import Foundation

/// The chart sections: robust accuracy against ε, training curves, and the B-MTARD balancer.
extension HTMLReport {
    /// Epoch axes of a run's charts all span the run's recorded epochs, so they line up even where a line
    /// starts later (no validation at the first epochs).
    static func epochAxis(_ r: ReportDocument.Run) -> ChartAxis {
        ChartAxis(label: "epoch", include: r.epochs.map { Double($0.epoch) }, integerTicks: true)
    }
    static func percentAxis(_ label: String) -> ChartAxis { ChartAxis(label: label, domain: 0...100) }

    func sweepSection() -> String {
        let lines = document.epsSweep
        guard !lines.isEmpty else {
            return section("eps-sweep", "Robust accuracy against ε",
                           Markup.element("p", [("class", "meta")], "No run has an ε sweep in its eval.json (advdistill eval --eps-sweep …)."))
        }
        let index = Dictionary(document.runs.enumerated().map { ($0.element.run, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let chart = LineChart(
            id: "chart-eps-sweep", title: "Robust accuracy against ε (\(Set(lines.map(\.attack)).sorted().joined(separator: ", ")))",
            x: ChartAxis(label: "ε (L∞ radius, inputs on a [0, 1] scale)", include: [0]),
            y: Self.percentAxis("robust accuracy (%)"),
            series: lines.map { l in
                ChartSeries(name: l.run, points: l.points.map { ($0.eps, 100 * $0.accuracy) }, style: .at(index[l.run] ?? 0))
            },
            width: 640, plotHeight: 260)
        let missing = document.runs.filter { r in !lines.contains { $0.run == r.run } }.map(\.run)
        let note = missing.isEmpty ? "" : Markup.element("p", [("class", "meta")],
            "Without an ε sweep: " + Markup.escape(missing.joined(separator: ", ")) + ".")
        return section("eps-sweep", "Robust accuracy against ε",
            Markup.element("p", [("class", "meta")], "Each point attacks the same images with PGD-20 at that ε (steps scaled with ε); ε = 0 is the clean accuracy on those images. A curve that rises with ε points to gradient masking.")
            + "\n" + chart.svg() + note)
    }

    func trainingSection() -> String {
        let parts = document.runs.enumerated().map { i, r -> String in
            let heading = Markup.element("h3", [], Markup.escape(r.run) + " " + Markup.element("span", [("class", "meta")],
                "(\(Markup.escape(r.provenance.method)), \(Markup.escape(r.provenance.arch)))"))
            guard !r.epochs.isEmpty else {
                return Markup.element("section", [("class", "run")], heading + Markup.element("p", [("class", "meta")], "No epochs recorded in metrics.jsonl."))
            }
            return Markup.element("section", [("class", "run")], heading
                + Markup.element("div", [("class", "charts")], lossChart(i, r).svg() + accuracyChart(i, r).svg()))
        }
        return section("training", "Training curves",
            Markup.element("p", [("class", "meta")], "Per epoch, from metrics.jsonl: the mean training loss (and the method's loss terms), and clean and robust accuracy on the validation split (the test split when the run holds none out).")
            + "\n" + parts.joined(separator: "\n"))
    }

    func lossChart(_ i: Int, _ r: ReportDocument.Run) -> LineChart {
        var series = [ChartSeries(name: "training loss", points: r.epochs.map { (Double($0.epoch), $0.trainLoss) }, style: .at(0))]
        // Loss terms only when there are several: a single term is the training loss again.
        let terms = Set(r.epochs.flatMap { $0.lossTerms.keys }).sorted()
        if terms.count > 1 {
            for (k, term) in terms.enumerated() {
                series.append(ChartSeries(name: term, points: r.epochs.compactMap { e in e.lossTerms[term].map { (Double(e.epoch), $0) } },
                                          style: .at(k + 1)))
            }
        }
        return LineChart(id: "chart-run\(i)-loss", title: "\(r.run): loss", x: Self.epochAxis(r),
                         y: ChartAxis(label: "loss (mean per batch)", include: [0]), series: series)
    }

    func accuracyChart(_ i: Int, _ r: ReportDocument.Run) -> LineChart {
        let attack = r.epochs.compactMap(\.robustAttack).last ?? "attack"
        // Runs with val_fraction 0 evaluated their epochs on the test split: the title says so.
        let split = r.epochs.compactMap(\.evalSplit).last == "test" ? "test-split" : "validation"
        return LineChart(id: "chart-run\(i)-accuracy", title: "\(r.run): \(split) accuracy", x: Self.epochAxis(r),
                         y: Self.percentAxis("accuracy (%)"),
                         series: [
                            ChartSeries(name: "clean", points: r.epochs.compactMap { e in e.cleanAccuracy.map { (Double(e.epoch), 100 * $0) } }, style: .at(0)),
                            ChartSeries(name: "robust (\(attack))", points: r.epochs.compactMap { e in e.robustAccuracy.map { (Double(e.epoch), 100 * $0) } }, style: .at(1)),
                         ])
    }

    func balancerSection() -> String {
        let runs = document.runs.enumerated().filter { $0.element.hasBalancer }
        guard !runs.isEmpty else { return "" }
        let intro = """
        B-MTARD balances its two teachers in two ways, updated every batch. Entropy-Based Balance softens the more \
        confident teacher and sharpens the other: τ_adv ← clip(τ_adv − η·sign(H_adv/H_nat − 1), 1, 10), and \
        symmetrically for τ_nat. Normalization Loss Balance moves weight towards the teacher whose distillation loss \
        has fallen less, relative to its first batch: w_adv ← r_w·r_adv + (1 − r_w)·w_adv, w_nat = 1 − w_adv. \
        MTARD keeps τ at 1. Values at the end of each epoch, from metrics.jsonl.
        """
        let parts = runs.map { i, r in
            Markup.element("section", [("class", "run")],
                Markup.element("h3", [], Markup.escape(r.run))
                + Markup.element("div", [("class", "charts")], temperatureChart(i, r).svg() + weightChart(i, r).svg()))
        }
        return section("balancer", "B-MTARD balancer", Markup.element("p", [], Markup.escape(intro)) + "\n" + parts.joined(separator: "\n"))
    }

    func temperatureChart(_ i: Int, _ r: ReportDocument.Run) -> LineChart {
        LineChart(id: "chart-run\(i)-tau", title: "\(r.run): teacher temperatures", x: Self.epochAxis(r),
                  y: ChartAxis(label: "temperature τ", include: [1]),
                  series: [
                    ChartSeries(name: "τ_nat (clean teacher)", points: r.epochs.compactMap { e in e.tauNat.map { (Double(e.epoch), $0) } }, style: .at(0)),
                    ChartSeries(name: "τ_adv (robust teacher)", points: r.epochs.compactMap { e in e.tauAdv.map { (Double(e.epoch), $0) } }, style: .at(1)),
                  ])
    }

    func weightChart(_ i: Int, _ r: ReportDocument.Run) -> LineChart {
        LineChart(id: "chart-run\(i)-weights", title: "\(r.run): loss weights", x: Self.epochAxis(r),
                  y: ChartAxis(label: "loss weight w", domain: 0...1),
                  series: [
                    ChartSeries(name: "w_nat (clean teacher)", points: r.epochs.compactMap { e in e.wNat.map { (Double(e.epoch), $0) } }, style: .at(0)),
                    ChartSeries(name: "w_adv (robust teacher)", points: r.epochs.compactMap { e in e.wAdv.map { (Double(e.epoch), $0) } }, style: .at(1)),
                  ])
    }
}
