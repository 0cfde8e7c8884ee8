import Foundation

/// The per-class heat table, the gallery of adversarial examples and each run's provenance.
extension HTMLReport {
    /// Background of a heat cell: lighter for low accuracy, darker for high, so grey-scale prints keep the order.
    static func heatStyle(_ v: Double) -> String {
        let lightness = 97 - 57 * min(max(v, 0), 1)
        return String(format: "background: hsl(210, 50%%, %.0f%%); color: %@", lightness, lightness < 58 ? "#fff" : "#111")
    }

    func perClassSection() -> String {
        // Runs on different data sets (different class lists) get a table each.
        var groups: [(names: [String], runs: [ReportDocument.Run])] = []
        for r in document.runs {
            if let g = groups.firstIndex(where: { $0.names == r.perClass.classNames }) { groups[g].runs.append(r) }
            else { groups.append((r.perClass.classNames, [r])) }
        }
        let tables = groups.enumerated().map { g, group in
            let head1 = Markup.element("th", [("rowspan", "2")], "Class")
                + group.runs.map { Markup.element("th", [("colspan", "2")], Markup.escape($0.run)) }.joined()
            let head2 = group.runs.map { _ in Markup.element("th", [], "clean") + Markup.element("th", [], "robust") }.joined()
            let rows = group.names.enumerated().map { k, name in
                Markup.element("tr", [], Markup.element("td", [], Markup.escape(name)) + group.runs.map { r in
                    cell(k < r.perClass.clean.count ? r.perClass.clean[k] : nil)
                        + cell(r.perClass.robust.flatMap { k < $0.count ? $0[k] : nil })
                }.joined())
            }
            return Markup.element("table", [("class", "heat"), ("id", "per-class-\(g)")],
                Markup.element("thead", [], Markup.element("tr", [], head1) + Markup.element("tr", [], head2))
                + Markup.element("tbody", [], rows.joined(separator: "\n")))
        }
        return section("per-class", "Per-class accuracy",
            Markup.element("p", [("class", "meta")], "Accuracy in % per true class, from eval.json. Clean: every test image; robust: the worst case over every attack run, on the attacked images. Darker is higher.")
            + "\n" + tables.joined(separator: "\n"))
    }

    private func cell(_ v: Double?) -> String {
        guard let v else { return Markup.element("td", [("class", "missing")], "—") }
        return Markup.element("td", [("class", "num"), ("style", Self.heatStyle(v))], Numbers.percent(v))
    }

    func gallerySection() -> String {
        let parts = zip(document.runs, galleries).compactMap { r, items -> String? in
            guard !items.isEmpty else { return nil }
            let gain = r.perturbationGain
            let eps = 0.5 / gain
            let figures = zip(r.examples, items).map { e, g in
                func image(_ uri: String, _ alt: String, _ caption: String) -> String {
                    Markup.element("div", [], Markup.empty("img", [("src", uri), ("alt", alt)]) + Markup.element("span", [], caption))
                }
                let fooled = e.adversarialPrediction != e.label
                let caption = "#\(e.index) · true: \(Markup.escape(e.label)) · clean → \(Markup.escape(e.cleanPrediction)) · "
                    + "\(Markup.escape(e.attack)) → " + (fooled ? Markup.element("strong", [], Markup.escape(e.adversarialPrediction))
                                                                : Markup.escape(e.adversarialPrediction))
                    + String(format: " · ‖δ‖∞ = %.4g", e.linf)
                return Markup.element("figure", [],
                    Markup.element("div", [("class", "triple")],
                        image(g.clean, "clean test image \(e.index), true class \(e.label)", "clean")
                        + image(g.perturbation, "perturbation of image \(e.index), amplified", "δ ×\(Numbers.short(gain, digits: 3))")
                        + image(g.adversarial, "adversarial image \(e.index), predicted \(e.adversarialPrediction)", "adversarial"))
                    + Markup.element("figcaption", [], caption))
            }
            return Markup.element("section", [("class", "run")],
                Markup.element("h3", [], Markup.escape(r.run))
                + Markup.element("p", [("class", "meta")],
                    "Perturbation δ = x′ − x drawn about mid-grey and amplified ×\(Numbers.short(gain, digits: 3)): black is −ε, white +ε (ε = \(Markup.escape(Numbers.eps(eps)))). Bold: the attack changed the prediction away from the true class.")
                + Markup.element("div", [("class", "gallery")], figures.joined(separator: "\n")))
        }
        guard !parts.isEmpty else { return "" }
        return section("gallery", "Adversarial examples", parts.joined(separator: "\n"))
    }

    func provenanceSection() -> String {
        let parts = document.runs.map { r -> String in
            let p = r.provenance
            var rows: [(String, String)] = [
                ("run", p.name), ("directory", p.directory), ("method", p.method), ("architecture", p.arch), ("seed", "\(p.seed)"),
                ("training data", p.trainData), ("test data", p.testData),
            ]
            if let t = p.naturalTeacher { rows.append(("clean teacher", t)) }
            if let t = p.robustTeacher { rows.append(("robust teacher", t)) }
            rows += p.teacherChecks.map { ("teacher check on load", $0) }
            rows += [
                ("training", "\(p.epochsRecorded) of \(p.epochsConfigured) epochs, batch \(p.batchSize), \(p.optimizer), training ε = \(Numbers.eps(p.trainingEps))"),
                ("training wall time", Numbers.duration(p.trainingSeconds) + " (sum over recorded epochs)"),
                ("evaluated checkpoint", p.checkpoint + (p.measured.map { ": \($0)" } ?? "")),
                ("evaluation file", p.evaluationFile),
                ("evaluation", "\(p.evaluatedData): \(p.evaluatedImages) images" + (p.attackedImages.map { ", attacks on the first \($0)" } ?? "")
                    + ", seed \(p.evaluationSeed), \(p.evaluated)"),
                ("evaluation wall time", Numbers.duration(p.evaluationSeconds)),
                ("attacks", r.attacks.map { "\($0.name) \(Numbers.percent($0.accuracy))% (\($0.mode), \($0.steps) step\($0.steps == 1 ? "" : "s"), \(Numbers.duration($0.seconds)))" }.joined(separator: "; ")),
                ("machine", p.machine),
                ("code", document.gitCommit + " (commit at report time; runs do not record theirs)"),
            ]
            let list = Markup.element("dl", [("class", "prov")],
                rows.map { Markup.element("dt", [], Markup.escape($0.0)) + Markup.element("dd", [], Markup.escape($0.1)) }.joined())
            let warnings = r.warnings.map { Markup.element("p", [("class", "warning")], "Gradient-masking check: " + Markup.escape($0)) }.joined()
            return Markup.element("section", [("class", "run")], Markup.element("h3", [], Markup.escape(r.run)) + list + warnings)
        }
        return section("provenance", "Provenance", parts.joined(separator: "\n"))
    }
}
