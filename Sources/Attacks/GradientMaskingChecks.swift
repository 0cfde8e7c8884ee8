/// Sanity checks that reveal gradient masking (Athalye et al. 2018; Carlini et al. 2019), written as
/// warnings into `eval.json` and the report. Tolerance: one example or 0.5 %, whichever is larger.
public enum GradientMaskingChecks {
    public static func warnings(for r: EvaluationResult, attackCount m: Int) -> [String] {
        let tol = max(0.005, 1.0 / Double(max(m, 1)))
        var out: [String] = []
        // Accuracy must not rise as ε grows.
        let sweep = r.epsSweep.sorted { $0.eps < $1.eps }
        for (a, b) in zip(sweep, sweep.dropFirst()) where b.accuracy > a.accuracy + tol {
            out.append(String(format: "accuracy rises with ε (%.1f%% at ε=%.4g, %.1f%% at ε=%.4g): gradient masking?",
                              100 * a.accuracy, a.eps, 100 * b.accuracy, b.eps))
        }
        let byKey = Dictionary(r.attacks.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        // More PGD steps must not raise accuracy.
        let pgds = r.attacks.filter { $0.key.hasPrefix("pgd") && Int($0.key.dropFirst(3)) != nil }
            .sorted { Int($0.key.dropFirst(3))! < Int($1.key.dropFirst(3))! }
        for (a, b) in zip(pgds, pgds.dropFirst()) where b.accuracy > a.accuracy + tol {
            out.append(String(format: "%@ is weaker than %@ (%.1f%% vs %.1f%%): more steps should not help the model",
                              b.name, a.name, 100 * b.accuracy, 100 * a.accuracy))
        }
        // A single step must not beat an iterative attack.
        if let f = byKey["fgsm"] {
            for p in pgds where f.accuracy + tol < p.accuracy {
                out.append(String(format: "FGSM (%.1f%%) is stronger than %@ (%.1f%%): gradient masking?",
                                  100 * f.accuracy, p.name, 100 * p.accuracy))
            }
        }
        // Black-box must not beat white-box: Square should find (almost) nothing the gradient attacks missed.
        if let sq = byKey["square"], let idx = r.attacks.firstIndex(where: { $0.key == "square" }), idx > 0 {
            let before = r.attacks[idx - 1]
            if before.mode == "cumulative", sq.accuracy + tol < before.accuracy {
                out.append(String(format: "the black-box Square attack lowered accuracy from %.1f%% to %.1f%% after the white-box attacks: gradients may be masked",
                                  100 * before.accuracy, 100 * sq.accuracy))
            }
        }
        return out
    }
}
