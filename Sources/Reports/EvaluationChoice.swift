import Attacks
import Foundation

/// Which of a run's evaluation files a report shows, when a run has several (eval.json for its best
/// checkpoint, eval-checkpoint.json for its last, others written there with `--json`).
///
/// The report's threat model is the one (ε and the images attacked) under which the most runs have an
/// evaluation; on a tie, the one of the earliest run's eval.json. Each run is shown with its first file under
/// that threat model (eval.json when it qualifies), or with its first file when none qualifies, and a note
/// says so: rows measured under different threat models are not comparable.
enum EvaluationChoice {
    static func choose(_ runs: [RunRecord]) -> (runs: [RunRecord], notes: [String]) {
        guard !runs.isEmpty else { return (runs, []) }
        // Every readable evaluation of each run, the one already loaded (its first file) first.
        let candidates: [[(path: String, settings: EvaluationSettings, result: EvaluationResult)]] = runs.map { r in
            let others = RunRecord.evaluationFiles(in: r.directory).filter { $0 != r.evaluationPath }.compactMap { path in
                (try? RunRecord.loadEvaluation(path: path)).map { (path, EvaluationSettings($0), $0) }
            }
            return [(r.evaluationPath, EvaluationSettings(r.evaluation), r.evaluation)] + others
        }
        // Threat models in order of appearance: each run's first file, then the other files.
        var models: [EvaluationSettings] = []
        for s in candidates.map({ $0[0].settings }) + candidates.flatMap({ $0.dropFirst().map(\.settings) })
        where !models.contains(where: { $0.sameThreatModel(as: s) }) {
            models.append(s)
        }
        let support = models.map { m in candidates.filter { $0.contains { $0.settings.sameThreatModel(as: m) } }.count }
        let reference = models[support.indices.max { support[$0] < support[$1] }!]

        var chosen: [RunRecord] = [], notes: [String] = []
        for (run, files) in zip(runs, candidates) {
            let first = files[0]
            if first.settings.sameThreatModel(as: reference) { chosen.append(run); continue }
            if let match = files.first(where: { $0.settings.sameThreatModel(as: reference) }) {
                chosen.append(run.with(evaluation: match.result, from: match.path))
                notes.append("\(run.directory) is shown with \(match.path), its evaluation under this report's threat model "
                             + "(\(reference.threatModel)); \(first.path) was made under another (\(first.settings.threatModel)).")
            } else {
                chosen.append(run)
                notes.append("No evaluation of \(run.directory) is under this report's threat model (\(reference.threatModel)): "
                             + "it is shown with \(first.path) (\(first.settings.threatModel)), so its row is not directly comparable.")
            }
        }
        return (chosen, notes)
    }
}
