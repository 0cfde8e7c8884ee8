import ArgumentParser
import Engine

@main
struct AdvDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advdistill",
        abstract: "Train, attack-evaluate and report robust image classifiers distilled from a clean and a robust teacher (B-MTARD).",
        discussion: """
        The three jobs:
          advdistill train --config Configs/fmnist-bmtard.json     train a teacher or a student
          advdistill eval --checkpoint runs/x/best.safetensors --data /usr/share/datasets/fashion-mnist --eps 0.1
          advdistill report runs/a runs/b --out runs/report        compare models in one HTML page
        """,
        subcommands: [Train.self, Eval.self, Report.self, Inspect.self, DataCommand.self, Bench.self])
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Worker threads for the compute kernels (default: all cores).")
    var threads: Int?

    func apply() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1, got \(threads)") }
            Compute.configure(workers: threads)
        } else {
            Compute.configure(workers: Compute.workers)
        }
    }
}

/// Parses "0.1", "8/255" or "2e-3".
func parseNumber(_ s: String) -> Float? {
    let parts = s.split(separator: "/")
    if parts.count == 2, let a = Float(parts[0]), let b = Float(parts[1]), b != 0 { return a / b }
    return Float(s)
}
