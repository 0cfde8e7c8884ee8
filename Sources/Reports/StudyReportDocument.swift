import Attacks
import Distillation
import Foundation

/// What a study report shows, as numbers (report.json of a study): the aggregate per cell for both
/// protocols, and each method's differences from a reference method (PGD-AT unless the user names another) at the
/// same budget with Welch's t-test.
public struct StudyReportDocument: Codable, Sendable {
    /// Welch's t-test between one cell and the reference method's cell of the same budget (and training-set size, ε).
    public struct Comparison: Codable, Sendable, Equatable {
        public var cell: String
        public var reference: String
        public var metric: String
        /// mean(cell) − mean(reference), as a fraction.
        public var difference: Double
        /// nil when a cell has fewer than two runs (or neither has any spread): the test is undefined.
        public var test: WelchTest?
        /// p < α: the difference is larger than the seed-to-seed spread explains.
        public var significant: Bool
    }

    public struct ProtocolView: Codable, Sendable {
        public var name: StudyProtocol
        /// How its checkpoint was chosen, in words.
        public var description: String
        public var comparisons: [Comparison]
    }

    public var title: String
    public var created: String
    public var gitCommit: String
    /// The evaluation in one sentence (attacks, ε, images; the test split).
    public var statement: String
    /// The accuracy plotted against clean accuracy and compared: pgd20 when evaluated, else another PGD-N, else worst_case.
    public var robustMetric: String
    /// The method label every other cell is compared with (`pgd_at` unless `advdistill report --against` names another).
    public var reference: String
    /// Significance level of the two-sided Welch test.
    public var alpha: Double
    public var notes: [String]
    public var protocols: [ProtocolView]
    public var study: StudyFile

    public static let alpha = 0.05

    /// The method compared with when none is named.
    public static let defaultReference = "pgd_at"

    init(study: StudyFile, gitCommit: String, created: Date, against reference: String = defaultReference) {
        self.study = study
        self.reference = reference
        self.gitCommit = gitCommit
        self.created = ISO8601DateFormatter().string(from: created)
        title = "AdvDistill study: " + ((study.settings.studyFile as NSString).lastPathComponent as NSString).deletingPathExtension
        alpha = Self.alpha
        robustMetric = study.metrics.contains(AttackRegistry.wRobustAttack) ? AttackRegistry.wRobustAttack
            : study.metrics.first { $0.hasPrefix("pgd") && Int($0.dropFirst(3)) != nil } ?? "worst_case"
        let e = study.settings.evaluation
        // ε as the study config wrote it ("8/255"). (Spelt with `if let`: `e.eps.map { … }` on the computed
        // property crashes the Swift 6 optimiser's ownership verifier in release builds.)
        var eps = "each run's training ε"
        if let epsilon = e.epsilon { eps = epsilon.text }
        statement = "Each run is evaluated on the test split (\(study.settings.base.data.test.path)): clean accuracy on every image, "
            + "the attacks '\(e.attacks)' at L∞ ε = \(eps) on the first \(e.limit.map(String.init) ?? "all") images. "
            + "The best checkpoint is selected during training on the held-out validation split; the test split is used only here."
        var notes: [String] = []
        if study.done < study.total {
            notes.append("Partial study: \(study.done) of \(study.total) runs are done; cells aggregate the finished runs only (n says how many).")
        }
        let onTest = study.points.filter { $0.best?.selectedOn == "test" }.map(\.run)
        if !onTest.isEmpty {
            notes.append("\(onTest.count) run\(onTest.count == 1 ? "" : "s") selected best.safetensors on the test split (data.val_fraction 0): their 'best' numbers are optimistic (\(onTest.prefix(4).joined(separator: ", "))\(onTest.count > 4 ? ", …" : "")).")
        }
        self.notes = notes
        let compared = ["clean", robustMetric] + (study.metrics.contains("aa") ? ["aa"] : []) + ["w_robust"]
        protocols = StudyProtocol.allCases.map { proto in
            ProtocolView(name: proto,
                         description: proto == .best ? "best.safetensors: the epoch with the highest W-Robust on the validation split"
                             : "checkpoint.safetensors: the last epoch",
                         comparisons: Self.comparisons(study, proto, metrics: compared, against: reference))
        }
    }

    /// Whether `study` has cells `reference` names (`referenceCells`): what `advdistill report --against` accepts.
    public static func names(_ reference: String, in study: StudyFile) -> Bool {
        study.cells.contains(where: referenceCells(reference, in: study))
    }

    /// Which of `study`'s cells `reference` names: those labelled `reference`; when no cell is, those of the method of
    /// that name (the default, pgd_at, then still finds PGD-AT cells that carry labels of their own).
    static func referenceCells(_ reference: String, in study: StudyFile) -> (StudyFile.Cell) -> Bool {
        let byLabel = study.cells.contains { $0.methodLabel == reference }
        return { byLabel ? $0.methodLabel == reference : $0.method == reference }
    }

    /// Each other cell against the reference cell (`referenceCells`) with the same epochs, training-set size and ε.
    static func comparisons(_ study: StudyFile, _ proto: StudyProtocol, metrics: [String], against reference: String) -> [Comparison] {
        func values(_ cell: StudyFile.Cell, _ metric: String) -> [Double] {
            study.points.filter { $0.cell == cell.cell && $0.status == "done" }
                .compactMap { (proto == .best ? $0.best : $0.last)?.metrics[metric] }
        }
        let isReference = referenceCells(reference, in: study)
        var out: [Comparison] = []
        for cell in study.cells where !isReference(cell) {
            guard let base = study.cells.first(where: {
                isReference($0) && $0.epochs == cell.epochs && $0.trainLimit == cell.trainLimit && $0.eps == cell.eps
            }) else { continue }
            for metric in metrics {
                let a = values(cell, metric), b = values(base, metric)
                guard let ma = Summary(a)?.mean, let mb = Summary(b)?.mean else { continue }
                let test = WelchTest(a, b)
                out.append(Comparison(cell: cell.cell, reference: base.cell, metric: metric, difference: ma - mb,
                                      test: test, significant: test.map { $0.p < alpha } ?? false))
            }
        }
        return out
    }
}

/// Display names of study metrics.
enum StudyMetricName {
    static func of(_ key: String) -> String {
        switch key {
        case "clean": "Clean"
        case "fgsm": "FGSM"
        case "pgd-trades": "PGD-TRADES"
        case "aa": "AA"
        case "worst_case": "Worst case"
        case "w_robust": "W-Robust"
        case "apgd-ce": "APGD-CE"
        case "apgd-t": "APGD-T"
        case "apgd-dlr": "APGD-DLR"
        case "square": "Square"
        default:
            if key.hasPrefix("pgdl2-") { "PGD-L2-" + key.dropFirst(6) }
            else if key.hasPrefix("pgd") { "PGD-" + key.dropFirst(3) }
            else if key.hasPrefix("cw") { "CW∞-" + key.dropFirst(2) }
            else { key }
        }
    }
}
