import Engine

/// CLI names → attacks. Adding an attack is one file plus one case here.
///
/// Step sizes are given for the paper's ε = 8/255 and **scale linearly with ε** otherwise:
/// step(ε) = step(8/255) · ε / (8/255). So at Fashion-MNIST's ε = 0.1, PGD_SAT's 2/255 becomes 0.025 and
/// PGD_TRADES' 0.003 becomes 0.0096; the number of steps never changes. APGD and Square need no step size.
public enum AttackRegistry {
    public static let referenceEps: Float = 8.0 / 255.0

    /// How a suite's attacks combine: `independent` attacks each run on every clean-correct example
    /// (the paper's table reports each); `cumulative` ones run only on examples still robust (AutoAttack).
    public enum Mode: String, Codable, Sendable { case independent, cumulative }

    public struct Entry {
        public let key: String
        public let attack: Attack
        public let mode: Mode
    }

    public static let names = ["fgsm", "pgd<N> (e.g. pgd20: PGD_SAT, N steps of 2/255)", "pgd-trades (20 steps of 0.003)",
                               "cw<N> (e.g. cw30)", "pgdl2-<N>", "apgd-ce", "apgd-dlr", "apgd-t", "square",
                               "paper (= fgsm, pgd20, pgd-trades, cw30)", "aa (= apgd-ce, apgd-t, square)"]

    /// Expands a comma-separated list of names and suites into attacks at `eps`, in order, without duplicates.
    public static func parse(_ list: String, eps: Float) throws -> [Entry] {
        guard eps >= 0, eps.isFinite else { throw AttackError.invalidEps(eps) }
        let scale = eps / referenceEps
        var out: [Entry] = []
        func add(_ key: String, _ a: Attack, _ mode: Mode = .independent) {
            if !out.contains(where: { $0.key == key }) { out.append(Entry(key: key, attack: a, mode: mode)) }
        }
        for raw in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !raw.isEmpty {
            switch raw {
            case "fgsm": add("fgsm", FGSM(eps: eps))
            case "paper":
                add("fgsm", FGSM(eps: eps))
                add("pgd20", pgdSAT(eps: eps, steps: 20, scale: scale))
                add("pgd-trades", pgdTRADES(eps: eps, scale: scale))
                add("cw30", CWLinf(eps: eps, stepSize: 2 / 255 * scale, steps: 30))
            case "pgd-trades": add("pgd-trades", pgdTRADES(eps: eps, scale: scale))
            case "apgd-ce": add("apgd-ce", APGD(eps: eps, steps: 100, loss: .crossEntropy), .cumulative)
            case "apgd-dlr": add("apgd-dlr", APGD(eps: eps, steps: 100, loss: .dlr), .cumulative)
            case "apgd-t": add("apgd-t", APGD(eps: eps, steps: 100, loss: .targetedDLR), .cumulative)
            case "square": add("square", SquareAttack(eps: eps, queries: 1000), .cumulative)
            case "aa":
                add("apgd-ce", APGD(eps: eps, steps: 100, loss: .crossEntropy), .cumulative)
                add("apgd-t", APGD(eps: eps, steps: 100, loss: .targetedDLR), .cumulative)
                add("square", SquareAttack(eps: eps, queries: 1000), .cumulative)
            default:
                if raw.hasPrefix("pgdl2-"), let n = Int(raw.dropFirst(6)), n > 0 {
                    add(raw, PGDL2(eps: eps, stepSize: eps / 4, steps: n))
                } else if raw.hasPrefix("pgd"), let n = Int(raw.dropFirst(3)), n > 0 {
                    add(raw, pgdSAT(eps: eps, steps: n, scale: scale))
                } else if raw.hasPrefix("cw"), let n = Int(raw.dropFirst(2)), n > 0 {
                    add(raw, CWLinf(eps: eps, stepSize: 2 / 255 * scale, steps: n))
                } else {
                    throw AttackError.unknownAttack(raw)
                }
            }
        }
        guard !out.isEmpty else { throw AttackError.unknownAttack(list) }
        return out
    }

    /// PGD_SAT: `steps` steps of 2/255 (scaled), uniform start.
    public static func pgdSAT(eps: Float, steps: Int, scale: Float) -> PGD {
        PGD(eps: eps, stepSize: 2 / 255 * scale, steps: steps, start: .uniform)
    }

    /// PGD_TRADES: 20 steps of 0.003 (scaled) from x + 0.001·N(0, 1).
    public static func pgdTRADES(eps: Float, scale: Float) -> PGD {
        var p = PGD(eps: eps, stepSize: 0.003 * scale, steps: 20, start: .gaussian(sigma: 0.001))
        p.label = "PGD-TRADES"
        return p
    }
}

public enum AttackError: Error, CustomStringConvertible, Equatable {
    case unknownAttack(String)
    case invalidEps(Float)
    case invalidOption(String)
    /// An evaluation file is already at `path` (`existing`: what it holds, nil when unreadable), and
    /// `requested` would replace it.
    case evaluationExists(path: String, existing: EvaluationSettings?, requested: EvaluationSettings)

    public var description: String {
        switch self {
        case .unknownAttack(let name):
            "unknown attack '\(name)'; known: \(AttackRegistry.names.joined(separator: ", "))"
        case .invalidEps(let e): "ε must be a finite number ≥ 0, got \(e)"
        case .invalidOption(let why): why
        case let .evaluationExists(path, existing?, requested) where existing.sameEvaluation(as: requested):
            "\(path) already holds this evaluation (\(existing)); nothing was written. Pass --overwrite to evaluate again and replace it, or --json PATH to keep both."
        case let .evaluationExists(path, existing?, requested):
            "\(path) already holds another evaluation (\(existing)); this one would be \(requested); nothing was written. "
                + "Pass --json PATH to write it beside the other (a report picks the evaluation that matches its threat model), or --overwrite to replace it."
        case let .evaluationExists(path, nil, _):
            "\(path) already exists and is not an evaluation this version can read; nothing was written. Pass --overwrite to replace it, or --json PATH to write elsewhere."
        }
    }
}

import Foundation
