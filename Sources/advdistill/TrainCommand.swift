import ArgumentParser
import Distillation
import Engine
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model (teacher or student) from a JSON config.",
        discussion: """
        Writes runs/<name>/: config.json, metrics.jsonl, checkpoint.safetensors (last), best.safetensors (by W-Robust \
        on the validation split: data.val_fraction of the training pool, 0.1 by default). Ctrl-C saves a checkpoint; \
        --resume continues it. A directory that already holds a run is never trained over silently: the command \
        refuses, naming the run, unless --resume or --overwrite says what to do with it.

        Methods (method.name; parameters and defaults: Configs/README.md):

        """ + HelpText.list(MethodRegistry.standard.methods.map { ($0.name, $0.summary) })
            + "\n\nModifiers (an object under their key in the method object):\n\n"
            + HelpText.list(MethodRegistry.standard.modifiers.map { ("\($0.key) (for \($0.appliesTo.description))", $0.summary) }))

    @Option(help: "The run's JSON config (see Configs/ and README's config table).")
    var config: String
    @Option(help: "Override the number of epochs.")
    var epochs: Int?
    @Option(help: "Use only the first N training images.")
    var limit: Int?
    @Option(help: "Override the output directory (runs/<name> goes under it).")
    var output: String?
    @Option(help: "Override the seed.")
    var seed: UInt64?
    @Flag(help: "Continue from runs/<name>/checkpoint.safetensors.")
    var resume = false
    @Flag(help: "Start over in a directory that holds a run, moving the earlier run into <run>/previous/ first. Given twice, the run kept in previous/ by an earlier --overwrite is deleted to make room (only one is kept).")
    var overwrite: Int
    @Flag(help: "Write no TensorBoard event files (the config's \"tensorboard\": false); by default the run writes them beside metrics.jsonl.")
    var noTensorboard = false
    @Flag(help: "Take over the run directory's lock even though the process named in it is still running (a lock left by a dead process is taken over without this).")
    var force = false
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if resume && overwrite > 0 {
            throw ValidationError("--resume continues the run and --overwrite starts it over; pass one of them")
        }
    }

    var overwritePolicy: OverwritePolicy {
        switch overwrite {
        case 0: .refuse
        case 1: .setAside
        default: .replaceSetAside
        }
    }

    func run() throws {
        try common.apply()
        var cfg: RunConfig
        do { cfg = try RunConfig.load(path: config) } catch let e as ConfigError {
            if case .unreadable = e { throw e }  // names the file already
            throw InConfigFile(path: config, error: e)
        }
        if let epochs { cfg.epochs = epochs }
        if let limit { cfg.data.train.limit = limit }
        if let output { cfg.output = output }
        if let seed { cfg.seed = seed }
        if noTensorboard { cfg.tensorboard = false }
        try cfg.validate()
        let comm = ClusterSetup.communicator
        let progress = TerminalProgress()
        let trainer = try Trainer(config: cfg, progress: progress, communicator: comm)
        Interruption.install()
        switch try trainer.run(resume: resume, force: force, overwrite: overwritePolicy) {
        case .finished:
            if comm.isRoot { progress.note("done: \(trainer.runDirectory)") }
        case .interrupted(let sig):
            // Under mpirun the same launch continues it (any rank count; the same one continues it bit for bit).
            let launch = comm.size > 1 ? "mpirun -np \(comm.size) [your mpirun options] " : ""
            if comm.isRoot { progress.note("stopped by signal \(sig); resume with: \(launch)\(resumeCommand(CommandLine.arguments))") }
            throw ExitCode(128 + sig)
        }
    }
}

/// The command line that continues an interrupted run: the program and arguments as given (so the same
/// output directory, `--limit` and the other overrides that `--resume` checks) plus `--resume`, without
/// `--force` (the interrupted run released its lock) or `--overwrite` (it would start over), quoted for a
/// POSIX shell.
func resumeCommand(_ arguments: [String]) -> String {
    var words = arguments.filter { $0 != "--force" && $0 != "--overwrite" }
    if !words.contains("--resume") { words.append("--resume") }
    return shellCommand(words)
}

/// Words as one command line for a POSIX shell, quoted where needed.
func shellCommand(_ words: [String]) -> String {
    let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    return words.map { word in
        word.allSatisfy(plain.contains) && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}

/// A config error, prefixed with the file it is in.
struct InConfigFile: Error, CustomStringConvertible {
    let path: String
    let error: ConfigError
    var description: String { "\(path): \(error)" }
}
