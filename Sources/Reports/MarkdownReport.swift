import Foundation

/// report.md: the report's tables in GitHub-flavoured Markdown, for a README or a pull request.
/// The charts stay in report.html; their numbers are in report.json.
struct MarkdownReport {
    let document: ReportDocument

    func render() -> String {
        let d = document
        var out: [String] = ["# \(d.title)", "",
                             "Generated \(d.created) · code at git commit `\(d.gitCommit)` · runs: \(d.runs.map(\.run).joined(separator: ", "))", ""]
        for n in d.notes { out += ["> Note: \(cell(n))", ""] }
        for f in d.failures { out += ["> **Run `\(f.directory)` is not in this report:** \(cell(f.message))", ""] }

        // Comparison.
        let t = d.comparison
        let showEps = t.epsValues.count > 1
        out += ["## Comparison", "", d.threatModel.statement, ""]
        out.append(row(["Model", "Method"] + (showEps ? ["ε"] : []) + t.columns.map(\.title)))
        out.append(row(["---", "---"] + (showEps ? ["---:"] : []) + t.columns.map { _ in "---:" }))
        for r in t.rows {
            out.append(row([r.run, r.method] + (showEps ? [Numbers.eps(r.eps)] : [])
                           + zip(r.values, r.best).map { v, b in v.map { b ? "**\(Numbers.percent($0))**" : Numbers.percent($0) } ?? "—" }))
        }
        out += ["", "Accuracy in %; **bold**: best in its column; —: not evaluated.", ""]
        out += t.columns.map { "- **\($0.title)**: \($0.detail)" }
        out.append("")
        for r in d.runs where !r.warnings.isEmpty {
            out += r.warnings.map { "> **Gradient-masking check, \(r.run):** \(cell($0))" }
            out.append("")
        }

        // ε sweep: one column per run, one row per ε.
        if !d.epsSweep.isEmpty {
            out += ["## Robust accuracy against ε", "", "PGD-20 at each ε (steps scaled with ε); accuracy in %.", ""]
            let eps = Array(Set(d.epsSweep.flatMap { $0.points.map(\.eps) })).sorted()
            out.append(row(["ε"] + d.epsSweep.map(\.run)))
            out.append(row(["---:"] + d.epsSweep.map { _ in "---:" }))
            for e in eps {
                out.append(row([Numbers.short(e)] + d.epsSweep.map { l in
                    l.points.first { abs($0.eps - e) < 1e-12 }.map { Numbers.percent($0.accuracy) } ?? "—"
                }))
            }
            out.append("")
        }

        // Last recorded epoch of each run (the curves are in report.html).
        out += ["## Training (last epoch)", ""]
        out.append(row(["Run", "Epoch", "Loss", "Clean", "Robust", "τ_nat", "τ_adv", "w_nat", "w_adv", "Wall time"]))
        out.append(row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]))
        for r in d.runs {
            guard let e = r.epochs.last else { out.append(row([r.run, "—", "—", "—", "—", "—", "—", "—", "—", "—"])); continue }
            func opt(_ v: Double?, _ f: (Double) -> String) -> String { v.map(f) ?? "—" }
            out.append(row([r.run, "\(e.epoch)", Numbers.short(e.trainLoss), opt(e.cleanAccuracy, Numbers.percent),
                            opt(e.robustAccuracy, Numbers.percent), opt(e.tauNat) { Numbers.short($0) }, opt(e.tauAdv) { Numbers.short($0) },
                            opt(e.wNat) { Numbers.short($0) }, opt(e.wAdv) { Numbers.short($0) },
                            Numbers.duration(r.provenance.trainingSeconds)]))
        }
        out.append("")

        // Per-class accuracy, one table per class list.
        out += ["## Per-class accuracy", "", "Clean on every test image; robust = worst case over every attack, on the attacked images. Accuracy in %.", ""]
        var groups: [(names: [String], runs: [ReportDocument.Run])] = []
        for r in d.runs {
            if let g = groups.firstIndex(where: { $0.names == r.perClass.classNames }) { groups[g].runs.append(r) }
            else { groups.append((r.perClass.classNames, [r])) }
        }
        for group in groups {
            out.append(row(["Class"] + group.runs.flatMap { ["\($0.run) clean", "\($0.run) robust"] }))
            out.append(row(["---"] + group.runs.flatMap { _ in ["---:", "---:"] }))
            for (k, name) in group.names.enumerated() {
                out.append(row([name] + group.runs.flatMap { r in
                    [k < r.perClass.clean.count ? Numbers.percent(r.perClass.clean[k]) : "—",
                     r.perClass.robust.flatMap { k < $0.count ? Numbers.percent($0[k]) : nil } ?? "—"]
                }))
            }
            out.append("")
        }

        // Provenance.
        out += ["## Provenance", ""]
        out.append(row(["Run", "Method", "Arch", "Seed", "Data (train / test)", "Teachers (clean / robust)", "Epochs", "Checkpoint", "Evaluation file", "Machine", "Train time", "Eval time"]))
        out.append(row(Array(repeating: "---", count: 12)))
        for r in d.runs {
            let p = r.provenance
            out.append(row([p.name, p.method, p.arch, "\(p.seed)", "\(p.trainData) / \(p.testData)",
                            "\(p.naturalTeacher ?? "—") / \(p.robustTeacher ?? "—")", "\(p.epochsRecorded)/\(p.epochsConfigured)",
                            p.checkpoint + (p.measured.map { " (\($0))" } ?? ""), p.evaluationFile, p.machine, Numbers.duration(p.trainingSeconds), Numbers.duration(p.evaluationSeconds)]))
        }
        out.append("")
        let checks = d.runs.flatMap { r in r.provenance.teacherChecks.map { "- \(r.run): \($0)" } }
        if !checks.isEmpty { out += ["Teachers as measured when training loaded them (teachers.json):", ""] + checks + [""] }
        return out.joined(separator: "\n")
    }

    /// A table row; `|` and line breaks inside cells are escaped so they cannot split the row.
    private func row(_ cells: [String]) -> String { "| " + cells.map(cell).joined(separator: " | ") + " |" }

    private func cell(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
