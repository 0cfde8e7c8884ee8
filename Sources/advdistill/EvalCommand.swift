import ArgumentParser
import Attacks
import Datasets
import Distillation
import Engine
import Foundation
import NN

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attack-evaluate a checkpoint: clean accuracy, each attack, the worst case, W-Robust; writes eval.json.",
        discussion: """
        Attacks: \(AttackRegistry.names.joined(separator: ", ")).
        Step sizes are given for ε = 8/255 and scale linearly with ε (PGD-20's 2/255 becomes 0.025 at ε = 0.1).
        Clean accuracy uses every image of the data; attacks use the first --limit images.
        Without --json the evaluation goes beside the checkpoint: eval.json for best.safetensors, \
        eval-<name>.json for any other <name>.safetensors (checkpoint.safetensors → eval-checkpoint.json). \
        An existing evaluation file is never replaced without --overwrite; the refusal comes before any attack runs.
        While it runs, each finished attack is kept in <file>.partial: an evaluation cut short (a signal, a crash) \
        resumes after its finished attacks when the same command runs again, and writes what an uninterrupted one would. \
        Ctrl-C (SIGINT) or SIGTERM stops it before its next batch of images (exit 128 + the signal; a second signal \
        exits at once).
        """)

    @Option(help: "Checkpoint (.safetensors): ours, or a PyTorch state_dict with --model.")
    var checkpoint: String
    @Option(help: "Architecture, for files without our metadata (e.g. resnet18, wrn-34-10).")
    var model: String?
    @Option(help: "Data: a path (IDX/CIFAR folder, image folder) or a JSON spec {\"path\":…,\"split\":\"test\"}.")
    var data: String
    @Option(help: "Split when --data is a path: train or test.")
    var split: String = "test"
    @Option(help: "Comma-separated attacks and suites.")
    var attacks: String = "paper"
    @Option(help: "L∞ radius on [0,1] inputs, e.g. 0.1 or 8/255 (the evaluation file keeps the text as eps_text).")
    var eps: String = "8/255"
    @Option(help: "Comma-separated ε values for the robust-accuracy curve (PGD-20 at each).")
    var epsSweep: String?
    @Option(help: "Attack only the first N images (clean accuracy still uses all).")
    var limit: Int?
    @Option(help: "Images per attack batch.")
    var batchSize: Int = 200
    @Option(help: "Seed of the attacks' random starts.")
    var seed: UInt64 = 0
    @Option(help: "Where to write the evaluation (default: beside the checkpoint, eval.json for best.safetensors, else eval-<name>.json).")
    var json: String?
    @Flag(help: "Replace the evaluation file if it exists (without this, an existing one is refused before anything runs).")
    var overwrite = false
    @OptionGroup var common: CommonOptions

    func validate() throws {
        _ = try parseEpsilon(eps, option: "--eps")
        if let limit, limit <= 0 { throw ValidationError("--limit must be > 0, got \(limit)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be > 0, got \(batchSize)") }
        guard ["train", "test"].contains(split) else { throw ValidationError("--split must be train or test, got '\(split)'") }
        if let s = epsSweep { _ = try parseEpsilonList(s, option: "--eps-sweep") }
    }

    func run() throws {
        try common.apply()
        let epsilon = try parseEpsilon(eps, option: "--eps")
        let epsValue = epsilon.value
        let entries = try AttackRegistry.parse(attacks, eps: epsValue)  // unknown names fail before loading anything
        let out = json ?? EvaluationFile.defaultPath(forCheckpoint: checkpoint)
        let (net, file) = try Checkpoint.loadModel(path: checkpoint, arch: model)
        // Which bytes are measured, read right after loading them.
        let (digest, bytes) = EvaluationFile.identify(checkpoint: checkpoint)
        let spec = try dataSpec(data, split: split)
        let dataset = try Dataset.load(spec)
        let requested = EvaluationSettings(checkpoint: checkpoint, checkpointSha256: digest, eps: Double(epsValue),
                                           attacks: entries.map(\.key), attackCount: min(limit ?? dataset.count, dataset.count),
                                           count: dataset.count)
        let comm = ClusterSetup.communicator
        // Rank 0 decides (and alone writes); under mpirun the ranks share the attacked batches.
        if !overwrite { _ = try comm.onRoot { try EvaluationFile.checkVacant(out, for: requested) } }
        var options = EvaluationOptions(eps: epsilon)
        options.attacks = attacks
        options.attackLimit = limit
        options.batchSize = batchSize
        options.seed = seed
        options.sweep(try parseEpsilonList(epsSweep ?? "", option: "--eps-sweep"))
        let progress = TerminalProgress()
        // Finished attacks are kept beside the output while it runs: an interrupted evaluation resumes after them.
        let journal = EvaluationJournal(path: out + ".partial", checkpointIdentity: digest ?? checkpoint)
        // SIGINT or SIGTERM stops it within one batch, keeping the finished attacks; a second signal exits at once.
        Interruption.install()
        var stoppedBy: Int32?
        var result: EvaluationResult
        do {
            result = try Evaluator(model: net, options: options, communicator: comm)
                .evaluate(dataset, checkpoint: checkpoint, progress: progress, journal: journal,
                          shouldStop: { stoppedBy = Interruption.received; return stoppedBy != nil })
        } catch is EvaluationInterrupted {
            let sig = stoppedBy ?? SIGTERM
            if comm.isRoot {
                // Under mpirun nothing is kept (the ranks would each need the journal): the evaluation starts over.
                let kept = comm.size == 1 ? "the attacks it finished are kept in \(journal.path), and the same command resumes after them"
                    : "under mpirun nothing is kept, and the same command starts it again"
                progress.note("interrupted by signal \(sig): nothing written to \(out); \(kept): \(shellCommand(CommandLine.arguments))")
            }
            throw ExitCode(128 + sig)
        }
        guard comm.isRoot else { return }
        result.checkpointSha256 = digest
        result.checkpointBytes = bytes
        // Again: another process may have written the file while this one evaluated.
        if !overwrite { try EvaluationFile.checkVacant(out, for: requested) }
        result.measured = MeasuredCheckpoint(path: checkpoint, metadata: file.metadata)
        try EvaluationFile.write(result, to: out)
        print(EvaluationTable.render(result))
        print("wrote \(out)")
    }
}

/// A data argument: a JSON spec, or a path with a split.
func dataSpec(_ arg: String, split: String) throws -> DataSpec {
    if arg.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
        return try JSONDecoder().decode(DataSpec.self, from: Data(arg.utf8))
    }
    return DataSpec(path: arg, split: split == "train" ? .train : .test)
}
