import Attacks
import Datasets
import Engine
import Foundation
import NN
import TensorBoard

/// How a training run ended.
public enum TrainingOutcome: Equatable, Sendable {
    case finished
    /// A signal stopped it after saving a checkpoint; `--resume` continues.
    case interrupted(signal: Int32)
}

public enum TrainerError: Error, CustomStringConvertible {
    /// Epoch and batch are 1-based, as the progress lines show them.
    case nonFinite(what: String, epoch: Int, batch: Int)
    /// `nan_policy: skip` skipped every batch of an epoch: the model has diverged and training cannot go on.
    case everyBatchSkipped(epoch: Int, batches: Int)
    /// `pid`: the process named in the lock file (nil when the file names none).
    case runLocked(dir: String, pid: Int32?)
    case nothingToResume(dir: String)
    case resumeMismatch(file: String, why: String)
    /// A fresh run's directory holds an earlier run; `setAside` is where `--overwrite` would move it.
    case runExists(RunSummary, setAside: String)
    /// `--overwrite` once, but `setAside` already holds a run kept aside before (`kept`; nil when unreadable).
    case previousRunKept(RunSummary, kept: RunSummary?, setAside: String)
    case io(path: String, why: String)
    /// A checkpoint could not be written (a full disk, a file-size limit); `reason` names the file.
    case saveFailed(reason: String)

    public var description: String {
        switch self {
        case let .nonFinite(what, epoch, batch):
            "the \(what) became NaN or infinite at epoch \(epoch), batch \(batch); the run stopped and the last checkpoint is intact (lower the learning rate, or set \"nan_policy\": \"skip\")"
        case let .everyBatchSkipped(epoch, batches):
            "all \(batches) batches of epoch \(epoch) had a non-finite loss or gradient and were skipped: the model has diverged, so the run stopped; the last checkpoint is from before epoch \(epoch) (lower the learning rate)"
        case let .runLocked(dir, pid):
            "another run" + (pid.map { " (process \($0))" } ?? "") + " is writing to \(dir) (lock file \(dir)/.lock); wait for it to finish, or pass --force if it is not really running"
        case let .nothingToResume(dir): "--resume: no checkpoint.safetensors in \(dir)"
        case let .resumeMismatch(file, why): "--resume: \(file) \(why)"
        case let .runExists(run, setAside):
            """
            \(run.directory) already holds a run (\(run)); nothing was changed. Choose one:
              --resume      continue that run (with --epochs N to train it longer)
              --output DIR  (or another "name" in the config) start this run in another directory
              --overwrite   start over here, first moving the earlier run's files into \(setAside)/
            """
        case let .previousRunKept(run, kept, setAside):
            "--overwrite would move the run in \(run.directory) (\(run)) into \(setAside)/, which still holds the run "
                + "kept aside before (\(kept.map { "\($0)" } ?? "unreadable")); nothing was changed. Pass --overwrite twice to "
                + "delete that older run and keep this one in its place, or move \(setAside) elsewhere first."
        case let .io(path, why): "\(path): \(why)"
        case let .saveFailed(reason):
            "\(reason) The run stopped; once the cause is fixed, --resume continues from the last complete checkpoint."
        }
    }
}

/// Runs one config: loads data and teachers once, trains the student epoch by epoch, evaluates, and writes
/// `runs/<name>/` (config.json, metrics.jsonl, checkpoint.safetensors, best.safetensors) atomically.
public final class Trainer {
    public let config: RunConfig
    public let runDirectory: String
    public let student: Model
    let teachers: Teachers
    let method: any Method
    let optimizer: Optimizer
    let train: Dataset
    let validation: Dataset
    /// The test split: the final evaluation's, and the teachers' check on load (`TeacherCheck`).
    let test: Dataset
    /// What the per-epoch evaluation (and so the choice of best.safetensors) runs on: "validation", the
    /// held-out part of the training pool, or "test" when `data.val_fraction` is 0.
    public let evalSplit: String
    let progress: ProgressSink
    let trainEps: Float
    /// Tests: sees (and may alter) each batch's images before the step, with 0-based epoch and batch.
    var beforeStep: ((_ epoch: Int, _ batch: Int, _ x: Tensor) -> Void)?
    /// The ranks of a data-parallel job (`SingleProcess` without mpirun): each takes its slice of every
    /// global batch; gradients are summed over ranks in one allreduce per step (Trainer+DataParallel.swift).
    public let communicator: any Communicator

    public static let trainerMetadataKey = "trainer"
    public static let methodMetadataKey = "method"
    public static let configMetadataKey = "config"
    static let optimizerPrefix = Checkpoint.reservedPrefix + "optimizer."

    /// Validates and loads everything before any training starts. `methods`: where the config's method is
    /// looked up (tests register their own).
    public init(config: RunConfig, progress: ProgressSink = SilentProgress(), methods: MethodRegistry = .standard,
                communicator: any Communicator = SingleProcess()) throws {
        try config.validate(methods: methods)
        self.config = config
        self.communicator = communicator
        // Rank 0 alone shows progress; the other ranks are silent except for errors.
        self.progress = communicator.isRoot ? progress : SilentProgress()
        runDirectory = (config.output as NSString).appendingPathComponent(config.name)

        let fullTrain = try Dataset.load(config.data.train)
        let test = try Dataset.load(config.data.test)
        self.test = test
        guard fullTrain.channels == test.channels, fullTrain.height == test.height, fullTrain.width == test.width else {
            throw ConfigError.invalid(field: "data", message: "train images are \(fullTrain.channels)×\(fullTrain.height)×\(fullTrain.width) but test images are \(test.channels)×\(test.height)×\(test.width)")
        }
        guard fullTrain.height == fullTrain.width else {
            throw ConfigError.invalid(field: "data", message: "images must be square, got \(fullTrain.height)×\(fullTrain.width)")
        }
        if config.data.valFraction > 0 {
            (train, validation) = fullTrain.split(valFraction: config.data.valFraction, seed: config.seed)
            guard validation.count > 0, train.count > 0 else {
                throw ConfigError.invalid(field: "data.val_fraction", message: "\(config.data.valFraction) of \(fullTrain.count) training images leaves \(train.count) for training and \(validation.count) for validation; both need at least one")
            }
            evalSplit = "validation"
        } else {
            (train, validation) = (fullTrain, test)
            evalSplit = "test"
        }
        guard train.count > 0 else { throw ConfigError.invalid(field: "data.train", message: "no training images in \(fullTrain.source)") }
        guard validation.count > 0 else { throw ConfigError.invalid(field: "data.test", message: "no test images in \(test.source)") }
        try Self.checkShards(batchSize: config.batchSize, examples: train.count, ranks: communicator.size)
        let dataClasses = max(fullTrain.classNames.count, (fullTrain.labels.max() ?? 0) + 1)
        let spec = ModelSpec(arch: config.model.arch, numClasses: config.model.numClasses ?? dataClasses,
                             inChannels: config.model.inChannels ?? fullTrain.channels,
                             inputSize: config.model.inputSize ?? fullTrain.height,
                             mean: config.model.mean, std: config.model.std)
        guard spec.numClasses >= dataClasses else {
            throw ConfigError.invalid(field: "model.num_classes", message: "\(spec.numClasses) is fewer than the \(dataClasses) classes of the data")
        }
        guard spec.inChannels == fullTrain.channels, spec.inputSize == fullTrain.height else {
            throw ConfigError.invalid(field: "model", message: "the model takes \(spec.inChannels)×\(spec.inputSize)×\(spec.inputSize) images, the data has \(fullTrain.channels)×\(fullTrain.height)×\(fullTrain.width)")
        }
        var rng = SeededGenerator(seed: config.seed)
        do { student = try ModelZoo.make(spec, rng: &rng) }
        catch { throw ConfigError.invalid(field: "model.arch", message: "\(error)") }

        // Teacher problems are config problems: the message names the config field that points at the file.
        func loadTeacher(_ t: TeacherConfig?, role: String) throws -> Model? {
            guard let t else { return nil }
            let field = "teachers.\(role).checkpoint"
            guard FileManager.default.fileExists(atPath: t.checkpoint) else {
                throw ConfigError.invalid(field: field, message: "no such file: \(t.checkpoint)")
            }
            let model: Model
            do { (model, _) = try Checkpoint.loadModel(path: t.checkpoint, arch: t.arch) }
            catch { throw ConfigError.invalid(field: field, message: "\(error)") }
            guard model.spec.numClasses == spec.numClasses else {
                throw ConfigError.invalid(field: field, message: "\(t.checkpoint) has \(model.spec.numClasses) classes, the data and the student have \(spec.numClasses)")
            }
            guard model.spec.inChannels == spec.inChannels, model.spec.inputSize == spec.inputSize else {
                throw ConfigError.invalid(field: field, message: "\(t.checkpoint) takes \(model.spec.inChannels)×\(model.spec.inputSize)×\(model.spec.inputSize) images, the data has \(spec.inChannels)×\(spec.inputSize)×\(spec.inputSize)")
            }
            // Teachers are frozen: their parameters never take part in a backward pass.
            for p in model.parameters { p.requiresGrad = false }
            return model
        }
        teachers = Teachers(natural: try loadTeacher(config.teachers?.natural, role: "natural"),
                            robust: try loadTeacher(config.teachers?.robust, role: "robust"))
        method = try methods.make(config.method, attack: config.attack, numClasses: spec.numClasses,
                                  environment: MethodEnvironment(student: spec, teachers: teachers, optimizer: config.optimizer, seed: config.seed))
        optimizer = config.optimizer.make(parameters: student.parameters)
        trainEps = config.attack.eps ?? 8 / 255
    }

    var checkpointPath: String { runDirectory + "/checkpoint.safetensors" }
    var bestPath: String { runDirectory + "/best.safetensors" }
    var metricsPath: String { runDirectory + "/metrics.jsonl" }
    var configPath: String { runDirectory + "/config.json" }

    /// Trains to the last epoch (or until a signal), returning how it ended.
    /// `resume` continues from `checkpoint.safetensors`: the config may change `epochs` (and evaluation,
    /// output, paths), nothing that shapes the trajectory. `force` takes over a run lock that another
    /// live process holds. A fresh run into a directory that holds an earlier run's results refuses unless
    /// `overwrite` says to keep that run aside (ignored with `resume`). The lock is released however this
    /// returns or throws.
    public func run(resume: Bool = false, force: Bool = false, overwrite: OverwritePolicy = .refuse) throws -> TrainingOutcome {
        // Rank 0 holds the lock; the others wait for it, and stop if it could not take it.
        let held = try communicator.onRoot { () -> RunLock in
            try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
            let (lock, lockNote) = try RunLock.acquire(directory: runDirectory, force: force)
            if let lockNote { progress.note(lockNote) }
            return lock
        }
        defer { held?.release() }
        return try train(resume: resume, overwrite: overwrite)
    }

    /// `run` without taking the lock: the caller holds `<run>/.lock` (a study holds it from training
    /// through the point's evaluation). Each epoch is trained, then finished (evaluated, logged, saved).
    func train(resume: Bool, overwrite: OverwritePolicy = .refuse) throws -> TrainingOutcome {
        if communicator.isRoot { prepareDirectory() }
        guard var session = try startSession(resume: resume, overwrite: overwrite) else { return .finished }
        for epoch in session.state.epoch..<config.epochs {
            if let stopped = try trainEpoch(epoch, &session) { return stopped }
            if let stopped = try finishEpoch(epoch, &session) { return stopped }
        }
        return .finished
    }

    /// Notes what the run should know before it starts, and removes what a killed run left behind.
    func prepareDirectory() {
        if evalSplit == "test" {
            progress.note("data.val_fraction is 0: the per-epoch evaluation and the choice of best.safetensors use the test split, so numbers measured on it afterwards are optimistic (metrics.jsonl says eval_split \"test\")")
        }
        // Writes that a kill -9 cut short leave temporary files as large as a checkpoint; none is in use now.
        let leftovers = ([checkpointPath, bestPath, metricsPath, configPath, runDirectory + "/" + TeacherChecks.fileName]
                         + EventFileWriter.files(in: runDirectory))
            .flatMap { AtomicFile.removeLeftovers(of: $0) }
        if !leftovers.isEmpty {
            progress.note("removed \(leftovers.count) temporary file\(leftovers.count == 1 ? "" : "s") of interrupted writes: \(leftovers.joined(separator: ", "))")
        }
    }

    /// Where training starts: the checkpoint's state with `resume` (nil when it has trained every epoch the
    /// config asks for), else a fresh state in a directory cleared of earlier runs. Writes config.json.
    func startSession(resume: Bool, overwrite: OverwritePolicy) throws -> TrainingSession? {
        let loader = BatchLoader(dataset: train, batchSize: config.batchSize, shuffle: true,
                                 augmentation: config.data.augmentation, seed: config.seed, dropLast: false)
        let state: TrainerState
        if resume {
            // Every rank reads the checkpoint (the run directory is on a file system all ranks see).
            state = try restore()
            guard state.epoch < config.epochs else {
                progress.note("\(config.name) has already trained \(state.epoch) epochs and the config asks for \(config.epochs): nothing to do")
                return nil
            }
            progress.note(state.batch < loader.batchesPerEpoch
                ? "resuming \(config.name) at epoch \(state.epoch + 1), batch \(state.batch + 1) of \(loader.batchesPerEpoch)"
                : "resuming \(config.name) at the evaluation of epoch \(state.epoch + 1)")
        } else {
            state = TrainerState(seed: config.seed)
        }
        // Decisions that precede writing (refusing to train over an earlier run) are rank 0's, shared before
        // anyone writes. config.json always describes the run as it now goes on (a resumed run's new epoch count included).
        // The teachers are measured by rank 0 alone (it alone writes teachers.json; the others wait for it).
        _ = try communicator.onRoot {
            if resume { try keepMetrics(throughEpoch: state.epoch) } else { try makeRoomForNewRun(overwrite) }
            try writeAtomically(configPath, try resolvedConfigJSON())
            try checkTeachers(resume: resume)
        }
        guard let rng = SeededGenerator(state: state.rng) else {
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "holds an invalid random generator state")
        }
        return TrainingSession(state: state, rng: rng, loader: loader, events: try openEvents(resumed: resume, state: state))
    }

    /// Clean + the configured attacks on the validation split (the test split when `val_fraction` is 0): `eval.limit` examples spread
    /// evenly over it (a split stored class by class, as image folders are, still gives every class).
    /// Measures the method's `evaluatedModel` when it has one, else the student. Nil when `shouldStop` stopped it.
    func evaluate(shouldStop: () -> Bool) throws -> EvaluationResult? {
        let count = validation.count
        let n = min(config.eval.limit ?? count, count)
        let subset = n == count ? validation : validation.subset((0..<n).map { $0 * count / n })
        var options = EvaluationOptions(eps: trainEps)
        options.epsText = config.attack.epsilon?.text
        options.attacks = config.eval.attacks
        options.batchSize = config.eval.batchSize
        options.seed = config.seed
        options.exampleCount = 0
        do {
            return try Evaluator(model: method.evaluatedModel?.model ?? student, options: options, communicator: communicator)
                .evaluate(subset, checkpoint: checkpointPath, shouldStop: shouldStop)
        }
        catch is EvaluationInterrupted { return nil }
    }

    func resolvedConfigJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(config)
    }

    func appendMetrics(_ m: EpochMetrics) throws {
        guard communicator.isRoot else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(m)
        line.append(0x0A)
        // Rewrite atomically (old lines + the new one): a crash never leaves a torn line.
        let old = FileManager.default.contents(atPath: metricsPath) ?? Data()
        try writeAtomically(metricsPath, old + line)
    }

    /// A resumed run drops metrics lines of epochs after its checkpoint (written before a crash that
    /// came ahead of the checkpoint), so that every epoch has exactly one line.
    func keepMetrics(throughEpoch last: Int) throws {
        guard let data = FileManager.default.contents(atPath: metricsPath) else { return }
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)
        let kept = lines.filter { line in
            (try? JSONDecoder().decode(EpochMetrics.self, from: Data(line))).map { $0.epoch <= last } ?? false
        }
        guard kept.count != lines.count else { return }
        try writeAtomically(metricsPath, Data(kept.map { Data($0) + [0x0A] }.joined()))
    }
}

