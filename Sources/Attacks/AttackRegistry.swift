import Engine
import Foundation

/// CLI names → attacks, one entry each: the table that `--attacks` parsing, `advdistill eval --help`,
/// Configs/README's attack table and the tests read. Adding an attack is one file plus one entry in `entries`.
///
/// Step sizes are given for the paper's ε = 8/255 and **scale linearly with ε** otherwise:
/// step(ε) = step(8/255) · ε / (8/255). So at Fashion-MNIST's ε = 0.1, PGD_SAT's 2/255 becomes 0.025 and
/// PGD_TRADES' 0.003 becomes 0.0096; the number of steps never changes. APGD and Square need no step size.
public enum AttackRegistry {
    public static let referenceEps: Float = 8.0 / 255.0

    /// The attack of W-Robust = (clean + its accuracy)/2, the paper's checkpoint criterion: PGD-20 (PGD_SAT).
    public static let wRobustAttack = "pgd20"

    /// How a suite's attacks combine: `independent` attacks each run on every clean-correct example
    /// (the paper's table reports each); `cumulative` ones run only on examples still robust (AutoAttack).
    public enum Mode: String, Codable, Sendable { case independent, cumulative }

    /// One attack, or a family of them with a whole-number parameter N written into the name (`pgd<N>`).
    public struct Entry: Sendable {
        /// The name as a user writes it; `<N>` stands for the parameter (N ≥ 1).
        public let name: String
        /// What it runs, for help texts and Configs/README.
        public let help: String
        public let mode: Mode
        /// N where the name has none: the tests build `example`.
        let defaultN: Int
        /// The attack at ε, with `scale` = ε / (8/255) and the parameter N.
        let make: @Sendable (_ eps: Float, _ scale: Float, _ n: Int) -> Attack

        init(_ name: String, _ help: String, mode: Mode = .independent, defaultN: Int = 0,
             make: @escaping @Sendable (_ eps: Float, _ scale: Float, _ n: Int) -> Attack) {
            self.name = name; self.help = help; self.mode = mode; self.defaultN = defaultN; self.make = make
        }

        /// A name this entry builds (the family's with N = `defaultN`).
        public var example: String { name.replacingOccurrences(of: "<N>", with: String(defaultN)) }

        /// N when `raw` is one of this entry's names (0 for an entry without parameter), else nil.
        func parameter(of raw: String) -> Int? {
            guard let marker = name.range(of: "<N>") else { return raw == name ? 0 : nil }
            let (prefix, suffix) = (name[..<marker.lowerBound], name[marker.upperBound...])
            guard raw.hasPrefix(prefix), raw.hasSuffix(suffix), raw.count > prefix.count + suffix.count,
                  let n = Int(raw.dropFirst(prefix.count).dropLast(suffix.count)), n > 0 else { return nil }
            return n
        }
    }

    /// A name for several attacks at once.
    public struct Suite: Sendable {
        public let name: String
        /// What the suite is; its members follow in help texts.
        public let help: String
        public let members: [String]
    }

    public static let entries: [Entry] = [
        Entry("fgsm", "FGSM: one signed step of ε") { eps, _, _ in FGSM(eps: eps) },
        Entry("pgd<N>", "PGD_SAT: N steps of 2/255, uniform start; pgd20 is the paper's PGD-20", defaultN: 20) { eps, scale, n in
            pgdSAT(eps: eps, steps: n, scale: scale)
        },
        Entry("pgd-trades", "PGD_TRADES: 20 steps of 0.003 from x + 0.001·N(0, 1)") { eps, scale, _ in pgdTRADES(eps: eps, scale: scale) },
        Entry("cw<N>", "CW∞: N steps of 2/255 on the margin loss, κ = 50", defaultN: 30) { eps, scale, n in
            CWLinf(eps: eps, stepSize: 2 / 255 * scale, steps: n)
        },
        Entry("pgdl2-<N>", "PGD L2: N steps of ε/4", defaultN: 20) { eps, _, n in PGDL2(eps: eps, stepSize: eps / 4, steps: n) },
        Entry("apgd-ce", "APGD on the cross-entropy, 100 steps", mode: .cumulative) { eps, _, _ in
            APGD(eps: eps, steps: 100, loss: .crossEntropy)
        },
        Entry("apgd-dlr", "APGD on the DLR loss, 100 steps", mode: .cumulative) { eps, _, _ in APGD(eps: eps, steps: 100, loss: .dlr) },
        Entry("apgd-t", "targeted APGD-DLR, 100 steps", mode: .cumulative) { eps, _, _ in APGD(eps: eps, steps: 100, loss: .targetedDLR) },
        Entry("square", "Square: black box, 1000 queries", mode: .cumulative) { eps, _, _ in SquareAttack(eps: eps, queries: 1000) },
    ]

    public static let suites: [Suite] = [
        Suite(name: "paper", help: "the paper's table", members: ["fgsm", wRobustAttack, "pgd-trades", "cw30"]),
        Suite(name: "aa", help: "AutoAttack-style worst case, each on the examples still robust", members: ["apgd-ce", "apgd-t", "square"]),
    ]

    /// Every name and suite with a few words, for `--help` and error messages.
    public static var names: [String] {
        entries.map { "\($0.name) (\($0.help))" } + suites.map { "\($0.name) (= \($0.members.joined(separator: ", ")))" }
    }

    /// An attack as `parse` selects it: its key (the name as written, lower-cased), the attack and its mode.
    public struct Selected {
        public let key: String
        public let attack: Attack
        public let mode: Mode
    }

    /// Expands a comma-separated list of names and suites into attacks at `eps`, in order, without duplicates.
    public static func parse(_ list: String, eps: Float) throws -> [Selected] {
        guard eps >= 0, eps.isFinite else { throw AttackError.invalidEps(eps) }
        let scale = eps / referenceEps
        var out: [Selected] = []
        for raw in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !raw.isEmpty {
            for name in suites.first(where: { $0.name == raw })?.members ?? [raw] where !out.contains(where: { $0.key == name }) {
                guard let (entry, n) = entries.lazy.compactMap({ e in e.parameter(of: name).map { (e, $0) } }).first else {
                    throw AttackError.unknownAttack(name)
                }
                out.append(Selected(key: name, attack: entry.make(eps, scale, n), mode: entry.mode))
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
