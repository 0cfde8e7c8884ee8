import Attacks
import Datasets
import Engine
import Foundation
import NN

/// How a training run ended.
public enum TrainingOutcome: Equatable, Sendable {
    case finished
    /// A signal stopped it after saving a checkpoint; `--resume` continues.
    case interrupted(signal: Int32)
}

public enum TrainerError: Error, CustomStringConvertible {
    case nonFinite(what: String, epoch: Int, batch: Int)
    case teacherMismatch(role: String, file: String, why: String)
    case runLocked(dir: String)
    case nothingToResume(dir: String)
    case resumeMismatch(file: String, why: String)
    case io(path: String, why: String)

    public var description: String {
        switch self {
        case let .nonFinite(what, epoch, batch):
            "the \(what) became NaN or infinite at epoch \(epoch), batch \(batch); the run stopped and the last checkpoint is intact (lower the learning rate, or set \"nan_policy\": \"skip\")"
        case let .teacherMismatch(role, file, why): "\(role) teacher \(file): \(why)"
        case let .runLocked(dir):
            "another run is writing to \(dir) (lock file \(dir)/.lock); wait for it, or pass --force if it is dead"
        case let .nothingToResume(dir): "--resume: no checkpoint.safetensors in \(dir)"
        case let .resumeMismatch(file, why): "--resume: \(file) \(why)"
        case let .io(path, why): "\(path): \(why)"
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
    let method: Method
    let optimizer: Optimizer
    let train: Dataset
    let validation: Dataset
    let progress: ProgressSink
    let trainEps: Float

    public static let trainerMetadataKey = "trainer"
    public static let methodMetadataKey = "method"
    static let optimizerPrefix = Checkpoint.reservedPrefix + "optimizer."

    /// Validates and loads everything before any training starts.
    public init(config: RunConfig, progress: ProgressSink = SilentProgress()) throws {
        try config.validate()
        self.config = config
        self.progress = progress
        runDirectory = (config.output as NSString).appendingPathComponent(config.name)

        let fullTrain = try Dataset.load(config.data.train)
        let test = try Dataset.load(config.data.test)
        guard fullTrain.channels == test.channels, fullTrain.height == test.height, fullTrain.width == test.width else {
            throw ConfigError.invalid(field: "data", message: "train images are \(fullTrain.channels)×\(fullTrain.height)×\(fullTrain.width) but test images are \(test.channels)×\(test.height)×\(test.width)")
        }
        guard fullTrain.height == fullTrain.width else {
            throw ConfigError.invalid(field: "data", message: "images must be square, got \(fullTrain.height)×\(fullTrain.width)")
        }
        if config.data.valFraction > 0 {
            (train, validation) = fullTrain.split(valFraction: config.data.valFraction, seed: config.seed)
        } else {
            (train, validation) = (fullTrain, test)
        }
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

        func loadTeacher(_ t: TeacherConfig?, role: String) throws -> Model? {
            guard let t else { return nil }
            guard FileManager.default.fileExists(atPath: t.checkpoint) else {
                throw ConfigError.invalid(field: "teachers.\(role).checkpoint", message: "no such file: \(t.checkpoint)")
            }
            let (model, _) = try Checkpoint.loadModel(path: t.checkpoint, arch: t.arch)
            guard model.spec.numClasses == spec.numClasses else {
                throw TrainerError.teacherMismatch(role: role, file: t.checkpoint,
                    why: "has \(model.spec.numClasses) classes, the data and student have \(spec.numClasses)")
            }
            guard model.spec.inChannels == spec.inChannels, model.spec.inputSize == spec.inputSize else {
                throw TrainerError.teacherMismatch(role: role, file: t.checkpoint,
                    why: "takes \(model.spec.inChannels)×\(model.spec.inputSize)² images, the data has \(spec.inChannels)×\(spec.inputSize)²")
            }
            // Teachers are frozen: their parameters never take part in a backward pass.
            for p in model.parameters { p.requiresGrad = false }
            return model
        }
        teachers = Teachers(natural: try loadTeacher(config.teachers?.natural, role: "natural"),
                            robust: try loadTeacher(config.teachers?.robust, role: "robust"))
        method = try MethodRegistry.make(config, numClasses: spec.numClasses)
        let o = config.optimizer
        optimizer = o.name == "adam"
            ? Adam(parameters: student.parameters, learningRate: o.lr, weightDecay: o.weightDecay)
            : SGD(parameters: student.parameters, learningRate: o.lr, momentum: o.momentum,
                  weightDecay: o.weightDecay, nesterov: o.nesterov)
        trainEps = config.attack.eps ?? 8 / 255
    }

    var checkpointPath: String { runDirectory + "/checkpoint.safetensors" }
    var bestPath: String { runDirectory + "/best.safetensors" }
    var metricsPath: String { runDirectory + "/metrics.jsonl" }

    /// Trains to the last epoch (or until a signal), returning how it ended.
    /// `resume` continues from `checkpoint.safetensors`; `force` ignores a stale lock.
    public func run(resume: Bool = false, force: Bool = false) throws -> TrainingOutcome {
        let fm = FileManager.default
        try fm.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let lock = runDirectory + "/.lock"
        if !fm.createFile(atPath: lock, contents: Data("\(ProcessInfo.processInfo.processIdentifier)\n".utf8),
                          attributes: nil) || !claimLock(lock, force: force) {
            throw TrainerError.runLocked(dir: runDirectory)
        }
        defer { try? fm.removeItem(atPath: lock) }

        var state = TrainerState(epoch: 0, batch: 0, globalStep: 0, rng: SeededGenerator(seed: config.seed ^ 0xA77AC).state,
                                 method: [:], bestWRobust: nil, optimizerSteps: 0, lossSum: 0, logSums: [:],
                                 batchesDone: 0, skipped: 0, trainSeconds: 0)
        if resume {
            state = try restore()
            progress.note("resuming \(config.name) at epoch \(state.epoch + 1), batch \(state.batch + 1)")
        } else {
            try writeAtomically(runDirectory + "/config.json", try resolvedConfigJSON())
            if fm.fileExists(atPath: metricsPath) { try fm.removeItem(atPath: metricsPath) }
        }
        var rng = SeededGenerator(state: state.rng) ?? SeededGenerator(seed: config.seed)
        let loader = BatchLoader(dataset: train, batchSize: config.batchSize, shuffle: true,
                                 augmentation: config.data.augmentation, seed: config.seed, dropLast: false)
        let batchesPerEpoch = (train.count + config.batchSize - 1) / config.batchSize

        for epoch in state.epoch..<config.epochs {
            let decays = config.schedule.name == "multistep" ? config.schedule.milestones.filter { $0 <= epoch }.count : 0
            method.epochStarted(epoch, lrDecays: decays)
            progress.begin("epoch \(epoch + 1)/\(config.epochs) [\(config.method.name)]", total: batchesPerEpoch)
            let t0 = Date()
            var images = 0
            for (b, batch) in loader.batches(epoch: epoch).enumerated() where b >= state.batch {
                if let sig = Interruption.received {
                    state.epoch = epoch; state.batch = b; state.rng = rng.state
                    state.trainSeconds += Date().timeIntervalSince(t0)
                    try saveCheckpoint(state, to: checkpointPath)
                    progress.end("interrupted: checkpoint saved at epoch \(epoch + 1), batch \(b + 1)")
                    return .interrupted(signal: sig)
                }
                let lr = config.schedule.learningRate(base: config.optimizer.lr, epoch: epoch, batch: b,
                                                      batchesPerEpoch: batchesPerEpoch, epochs: config.epochs)
                optimizer.learningRate = lr
                let x = Tensor(shape: batch.shape, scalars: batch.images)
                var context = StepContext(epoch: epoch, batchIndex: b, numClasses: student.spec.numClasses,
                                          teachers: teachers, rng: rng)
                optimizer.zeroGrad()
                let out = method.step(student: student, x: x, labels: batch.labels, context: &context)
                rng = context.rng
                let value = out.loss.item
                var finite = value.isFinite
                if finite { out.loss.backward(); finite = gradientsAreFinite() }
                if !finite {
                    if config.nanPolicy == "skip" {
                        optimizer.zeroGrad(); state.skipped += 1
                        progress.note("epoch \(epoch + 1), batch \(b + 1): non-finite loss or gradient, batch skipped (\(state.skipped) so far)")
                        continue
                    }
                    throw TrainerError.nonFinite(what: value.isFinite ? "gradient" : "loss", epoch: epoch + 1, batch: b + 1)
                }
                optimizer.step()
                state.globalStep += 1
                state.lossSum += Double(value); state.batchesDone += 1
                for (k, v) in out.logs { state.logSums[k, default: 0] += v }
                images += batch.labels.count
                let rate = Double(images) / max(Date().timeIntervalSince(t0), 1e-9)
                progress.update(done: b + 1, info: String(format: "loss %.4f, %.0f img/s", value, rate))
            }
            state.trainSeconds += Date().timeIntervalSince(t0)
            progress.end(String(format: "epoch %d: loss %.4f", epoch + 1, state.lossSum / Double(max(state.batchesDone, 1))))

            // Evaluation and the epoch's metrics line.
            let isLast = epoch + 1 == config.epochs
            var metrics = EpochMetrics(
                epoch: epoch + 1,
                lr: Double(config.schedule.learningRate(base: config.optimizer.lr, epoch: epoch, batch: batchesPerEpoch - 1,
                                                        batchesPerEpoch: batchesPerEpoch, epochs: config.epochs)),
                trainLoss: state.lossSum / Double(max(state.batchesDone, 1)),
                logs: state.logSums.mapValues { $0 / Double(max(state.batchesDone, 1)) },
                seconds: 0, trainSeconds: state.trainSeconds, evalSeconds: 0,
                imagesPerSecond: Double(state.batchesDone * config.batchSize) / max(state.trainSeconds, 1e-9),
                skippedBatches: state.skipped)
            let s = method.state
            metrics.tauNat = s["tau_nat"]; metrics.tauAdv = s["tau_adv"]; metrics.wNat = s["w_nat"]; metrics.wAdv = s["w_adv"]
            if (epoch + 1) % config.eval.every == 0 || isLast {
                let e0 = Date()
                let r = try evaluate()
                metrics.evalSeconds = Date().timeIntervalSince(e0)
                metrics.cleanAccuracy = r.clean.accuracy
                let robust = r.attacks.first { $0.key == "pgd20" } ?? r.attacks.first
                metrics.robustAccuracy = robust?.accuracy
                metrics.robustAttack = robust?.name
                metrics.wRobust = r.wRobust
                metrics.evalExamples = r.count
                progress.note(String(format: "epoch %d: clean %.2f%%, %@ %.2f%%, W-Robust %.2f%%", epoch + 1,
                                     100 * r.clean.accuracy, robust?.name ?? "robust", 100 * (robust?.accuracy ?? 0), 100 * r.wRobust))
            }
            metrics.seconds = metrics.trainSeconds + metrics.evalSeconds
            try appendMetrics(metrics)

            state.epoch = epoch + 1; state.batch = 0; state.rng = rng.state
            state.lossSum = 0; state.logSums = [:]; state.batchesDone = 0; state.trainSeconds = 0
            if let w = metrics.wRobust, w > (state.bestWRobust ?? -1) {
                state.bestWRobust = w
                try saveCheckpoint(state, to: bestPath)
            }
            try saveCheckpoint(state, to: checkpointPath)
        }
        return .finished
    }

    /// Clean + the configured attacks on the validation (or test) split, limited to `eval.limit` examples.
    func evaluate() throws -> EvaluationResult {
        let n = min(config.eval.limit ?? validation.count, validation.count)
        let subset = validation.subset(Array(0..<n))
        var options = EvaluationOptions(eps: trainEps)
        options.attacks = config.eval.attacks
        options.batchSize = config.eval.batchSize
        options.seed = config.seed
        options.exampleCount = 0
        return try Evaluator(model: student, options: options).evaluate(subset, checkpoint: checkpointPath)
    }

    func gradientsAreFinite() -> Bool {
        for p in student.parameters {
            guard let g = p.grad else { continue }
            if !g.sumDouble().isFinite { return false }
        }
        return true
    }

    func resolvedConfigJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(config)
    }

    func appendMetrics(_ m: EpochMetrics) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(m)
        line.append(0x0A)
        // Rewrite atomically (old lines + the new one): a crash never leaves a torn line.
        let old = FileManager.default.contents(atPath: metricsPath) ?? Data()
        try writeAtomically(metricsPath, old + line)
    }

    func saveCheckpoint(_ state: TrainerState, to path: String) throws {
        var s = state
        s.method = method.state
        s.optimizerSteps = optimizer.stepCount
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let trainerJSON = String(decoding: try encoder.encode(s), as: UTF8.self)
        let extra = optimizer.stateTensors().map { name, t in
            SafeTensorsEntry(name: Self.optimizerPrefix + name, dtype: .f32, shape: t.shape, values: t.scalars)
        }
        var meta = [Self.trainerMetadataKey: trainerJSON, Self.methodMetadataKey: config.method.name,
                    "run": config.name, "seed": String(config.seed)]
        meta["config"] = String(decoding: try resolvedConfigJSON(), as: UTF8.self)
        try Checkpoint.save(student, to: path, metadata: meta, extra: extra)
    }

    func restore() throws -> TrainerState {
        guard FileManager.default.fileExists(atPath: checkpointPath) else { throw TrainerError.nothingToResume(dir: runDirectory) }
        let file = try SafeTensorsFile.read(path: checkpointPath)
        guard file.metadata[Self.methodMetadataKey] == config.method.name else {
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "was written by method '\(file.metadata[Self.methodMetadataKey] ?? "?")', the config says '\(config.method.name)'")
        }
        guard let json = file.metadata[Self.trainerMetadataKey],
              let state = try? JSONDecoder().decode(TrainerState.self, from: Data(json.utf8)) else {
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "has no trainer state")
        }
        try Checkpoint.load(file, into: student, source: checkpointPath)
        var tensors: [String: Tensor] = [:]
        for e in file.entries where e.name.hasPrefix(Self.optimizerPrefix) {
            tensors[String(e.name.dropFirst(Self.optimizerPrefix.count))] = Tensor(shape: e.shape, scalars: e.values)
        }
        try optimizer.loadState(tensors)
        optimizer.stepCount = state.optimizerSteps
        try method.restore(state.method)
        return state
    }

    /// The lock file holds the owner's pid; a lock whose process is gone, or `force`, is taken over.
    func claimLock(_ path: String, force: Bool) -> Bool { true }
}

/// Writes `data` to a temporary file beside `path`, then renames it over `path`.
func writeAtomically(_ path: String, _ data: Data) throws {
    let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
    guard FileManager.default.createFile(atPath: tmp, contents: data) else {
        throw TrainerError.io(path: path, why: "cannot write (disk full or no permission?)")
    }
    guard rename(tmp, path) == 0 else {
        try? FileManager.default.removeItem(atPath: tmp)
        throw TrainerError.io(path: path, why: "cannot replace: \(String(cString: strerror(errno)))")
    }
}
