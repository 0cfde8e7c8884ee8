import Attacks
import Foundation

/// The MTARD paper's comparison table: one row per model, one column per attack, the best per column marked.
///
/// Columns come from eval.json's attack keys: "fgsm" → FGSM, "pgd20" → PGD_SAT, "pgd-trades" → PGD_TRADES,
/// "cw30" (else another "cw<N>") → CW∞, and the last *cumulative* attack (APGD-CE → APGD-T → Square) → AA.
/// "Worst" counts an image as robust only if every attack run failed on it. A column a run did not
/// evaluate is nil ("—").
public struct ComparisonTable: Codable, Sendable, Equatable {
    public struct Column: Codable, Sendable, Equatable {
        public var key: String
        public var title: String
        public var detail: String
    }

    public struct Row: Codable, Sendable, Equatable {
        /// The run's label in the report (its config name, made unique).
        public var run: String
        public var method: String
        public var arch: String
        public var eps: Double
        /// Accuracies as fractions in [0, 1], in column order; nil where the run did not evaluate the column.
        public var values: [Double?]
        /// Whether each value is the column's best (ties all marked; nothing is marked with fewer than two values).
        public var best: [Bool]
    }

    public var columns: [Column]
    public var rows: [Row]

    static let columns: [Column] = [
        .init(key: "clean", title: "Clean", detail: "accuracy on unperturbed images"),
        .init(key: "fgsm", title: "FGSM", detail: "one signed-gradient step of ε"),
        .init(key: "pgd_sat", title: "PGD_SAT", detail: "PGD-20, steps of 2/255 at ε = 8/255 (scaled with ε), uniform start"),
        .init(key: "pgd_trades", title: "PGD_TRADES", detail: "PGD-20, steps of 0.003 at ε = 8/255 (scaled with ε), start x + 0.001·N(0, 1)"),
        .init(key: "cw", title: "CW∞", detail: "PGD on the CW margin loss (κ = 50)"),
        .init(key: "aa", title: "AA", detail: "AutoAttack-style suite, cumulative: robust after the last of APGD-CE, APGD-T, Square"),
        .init(key: "worst", title: "Worst", detail: "robust only if every attack that was run failed"),
        .init(key: "w_robust", title: "W-Robust", detail: "(clean + PGD_SAT)/2, or (clean + worst)/2 without PGD_SAT"),
    ]

    /// The row values of one evaluation, in the order of `columns`.
    static func values(of r: EvaluationResult) -> [Double?] {
        func attack(_ key: String) -> Double? { r.attacks.first { $0.key == key }?.accuracy }
        let cw = attack("cw30") ?? r.attacks.first { $0.key.hasPrefix("cw") && Int($0.key.dropFirst(2)) != nil }?.accuracy
        let aa = r.attacks.last { $0.mode == AttackRegistry.Mode.cumulative.rawValue }?.accuracy
        return [r.clean.accuracy, attack("fgsm"), r.wRobustAttack?.accuracy, attack("pgd-trades"), cw, aa,
                r.attacks.isEmpty ? nil : r.worstCase.accuracy, r.wRobust]
    }

    init(runs: [(label: String, record: RunRecord)]) {
        columns = Self.columns
        rows = runs.map { label, record in
            Row(run: label, method: record.config.method.name, arch: record.evaluation.model.arch,
                eps: record.evaluation.eps, values: Self.values(of: record.evaluation), best: [])
        }
        // Best as displayed (0.01 %), so that two values printed alike are both marked or neither.
        for c in columns.indices {
            let shown = rows.map { $0.values[c].map { ($0 * 10_000).rounded() } }
            let present = shown.compactMap { $0 }
            let top = present.count >= 2 ? present.max() : nil
            for r in rows.indices { rows[r].best.append(top != nil && shown[r] == top) }
        }
    }

    /// The distinct ε of the rows, in first-seen order (one, unless runs were evaluated differently).
    var epsValues: [Double] {
        rows.reduce(into: [Double]()) { acc, r in if !acc.contains(where: { abs($0 - r.eps) < 1e-9 }) { acc.append(r.eps) } }
    }

    /// Plain-text table for the terminal: accuracies in %, "—" where not evaluated, "*" after the best.
    public func text() -> String {
        let showEps = epsValues.count > 1
        var header = ["model"] + (showEps ? ["ε"] : []) + columns.map(\.title)
        let body: [[String]] = rows.map { row in
            [row.run] + (showEps ? [Numbers.short(row.eps)] : [])
                + zip(row.values, row.best).map { v, b in v.map { Numbers.percent($0) + (b ? "*" : " ") } ?? "— " }
        }
        header = header.enumerated().map { $0.offset == 0 ? $0.element : $0.element + " " }
        let widths = header.indices.map { c in ([header[c]] + body.map { $0[c] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, s in
                let pad = String(repeating: " ", count: widths[c] - s.count)
                return c == 0 ? s + pad : pad + s
            }.joined(separator: "  ")
        }
        return ([line(header)] + body.map(line)).joined(separator: "\n")
            + "\naccuracy in %; * best per column; — not evaluated"
    }
}
