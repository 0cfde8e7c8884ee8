import Attacks
import Engine
import Foundation
import NN

/// Checkpoints of a run: the student's weights and BN statistics as tensors, the optimizer's state as
/// tensors under `advdistill.optimizer.`, and in `__metadata__` the trainer state (position, random
/// generator, running sums, best W-Robust), the method's state (the balancer) and the resolved config.
/// Models the method trains besides the student (`Method.trainables`) are saved as tensors under
/// `advdistill.trainable.<name>.model.` and `….optimizer.`, their optimizer step counts in `trainable_steps`.
/// `best.safetensors` is written without the optimizer tensors and trainables: it is for evaluation and
/// for use as a teacher (half the size), while `--resume` always continues from `checkpoint.safetensors`.
extension Trainer {
    static let trainableStepsMetadataKey = "trainable_steps"

    func saveCheckpoint(_ state: TrainerState, to path: String, includeOptimizer: Bool = true) throws {
        // Rank 0 alone writes; every rank holds the same weights, statistics and state.
        guard communicator.isRoot else { return }
        var s = state
        s.method = try method.checkpointState()
        s.optimizerSteps = optimizer.stepCount
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let trainerJSON = String(decoding: try encoder.encode(s), as: UTF8.self)
        var extra: [SafeTensorsEntry] = []
        var meta = [Self.trainerMetadataKey: trainerJSON, Self.methodMetadataKey: config.method.name,
                    "run": config.name, "seed": String(config.seed)]
        if includeOptimizer {
            extra = Self.entries(of: optimizer, under: Self.optimizerPrefix)
            let trainables = method.trainables
            for t in trainables {
                let prefix = Self.trainablePrefix(t.name)
                extra += Checkpoint.file(of: t.model).entries.map { e in
                    SafeTensorsEntry(name: prefix + "model." + e.name, dtype: e.dtype, shape: e.shape, values: e.values)
                }
                extra += Self.entries(of: t.optimizer, under: prefix + "optimizer.")
            }
            if !trainables.isEmpty {
                let steps = Dictionary(uniqueKeysWithValues: trainables.map { ($0.name, $0.optimizer.stepCount) })
                meta[Self.trainableStepsMetadataKey] = String(decoding: try encoder.encode(steps), as: UTF8.self)
            }
        }
        meta[Self.configMetadataKey] = String(decoding: try resolvedConfigJSON(), as: UTF8.self)
        // What an evaluation of this file measured: the selected checkpoint (and on which split) or the last.
        let isBest = path == bestPath
        meta[MeasuredCheckpoint.roleKey] = (isBest ? MeasuredCheckpoint.Role.best : .last).rawValue
        if isBest { meta[MeasuredCheckpoint.selectedOnKey] = evalSplit }
        meta[MeasuredCheckpoint.epochKey] = String(s.epoch)
        do { try Checkpoint.save(student, to: path, metadata: meta, extra: extra) }
        catch { throw TrainerError.saveFailed(reason: "\(error)") }
    }

    /// Epochs that `checkpoint.safetensors` has completed; nil without a readable checkpoint.
    func trainedEpochs() -> Int? {
        guard let file = try? SafeTensorsFile.read(path: checkpointPath), let json = file.metadata[Self.trainerMetadataKey],
              let state = try? JSONDecoder().decode(TrainerState.self, from: Data(json.utf8)) else { return nil }
        return state.epoch
    }

    /// Loads `checkpoint.safetensors` into the student, the optimizer and the method, and returns where
    /// the run stopped. Refuses a checkpoint written with a config that would train differently.
    func restore() throws -> TrainerState {
        guard FileManager.default.fileExists(atPath: checkpointPath) else { throw TrainerError.nothingToResume(dir: runDirectory) }
        let file = try SafeTensorsFile.read(path: checkpointPath)
        guard file.metadata[Self.methodMetadataKey] == config.method.name else {
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "was written by method '\(file.metadata[Self.methodMetadataKey] ?? "?")', the config says '\(config.method.name)'")
        }
        if let json = file.metadata[Self.configMetadataKey],
           let saved = try? JSONDecoder().decode(RunConfig.self, from: Data(json.utf8)) {
            let changed = Self.trajectoryDifferences(saved, config)
            guard changed.isEmpty else {
                throw TrainerError.resumeMismatch(file: checkpointPath, why: "was trained with different \(changed.joined(separator: ", ")); resuming would not continue the same run (restore those values, or start a new run without --resume)")
            }
            if saved.epochs != config.epochs, config.schedule.name == .cosine || config.schedule.warmupEpochs > 0 {
                progress.note("--resume with \(config.epochs) epochs instead of \(saved.epochs): the \(config.schedule.name.rawValue) schedule is stretched to the new length from here on")
            }
        }
        guard let json = file.metadata[Self.trainerMetadataKey],
              let state = try? JSONDecoder().decode(TrainerState.self, from: Data(json.utf8)) else {
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "has no trainer state")
        }
        try Checkpoint.load(file, into: student, source: checkpointPath)
        try optimizer.loadState(Self.tensors(in: file, under: Self.optimizerPrefix))
        optimizer.stepCount = state.optimizerSteps
        do { try method.restoreState(from: state.method) }
        catch { throw TrainerError.resumeMismatch(file: checkpointPath, why: "holds a method state that \(config.method.name) cannot read (\(error))") }
        try restoreTrainables(from: file)
        return state
    }

    /// Loads each of the method's trainables and its optimizer from the checkpoint.
    func restoreTrainables(from file: SafeTensorsFile) throws {
        let trainables = method.trainables
        guard !trainables.isEmpty else { return }
        guard let json = file.metadata[Self.trainableStepsMetadataKey],
              let steps = try? JSONDecoder().decode([String: Int].self, from: Data(json.utf8)) else {
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "has no state of the models \(config.method.name) trains besides the student")
        }
        for t in trainables {
            let prefix = Self.trainablePrefix(t.name)
            let model = file.entries.filter { $0.name.hasPrefix(prefix + "model.") }.map { e in
                SafeTensorsEntry(name: String(e.name.dropFirst(prefix.count + "model.".count)), dtype: e.dtype, shape: e.shape, values: e.values)
            }
            try Checkpoint.load(SafeTensorsFile(entries: model), into: t.model, source: "\(checkpointPath) (\(t.name))")
            try t.optimizer.loadState(Self.tensors(in: file, under: prefix + "optimizer."))
            guard let count = steps[t.name] else {
                throw TrainerError.resumeMismatch(file: checkpointPath, why: "has no optimizer step count for \(t.name)")
            }
            t.optimizer.stepCount = count
        }
    }

    static func trainablePrefix(_ name: String) -> String { Checkpoint.reservedPrefix + "trainable.\(name)." }

    /// An optimizer's state tensors, named under `prefix`.
    static func entries(of optimizer: Optimizer, under prefix: String) -> [SafeTensorsEntry] {
        optimizer.stateTensors().map { name, t in SafeTensorsEntry(name: prefix + name, dtype: .f32, shape: t.shape, values: t.scalars) }
    }

    /// The file's tensors under `prefix`, by their names after it.
    static func tensors(in file: SafeTensorsFile, under prefix: String) -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for e in file.entries where e.name.hasPrefix(prefix) {
            tensors[String(e.name.dropFirst(prefix.count))] = Tensor(shape: e.shape, scalars: e.values)
        }
        return tensors
    }

    /// The config fields that differ between two runs in a way that changes what training computes.
    /// Ignored: name, output, epochs (a resumed run may be extended), evaluation, NaN policy, and the
    /// locations of data and teacher files (directories move; their contents are not checked).
    static func trajectoryDifferences(_ a: RunConfig, _ b: RunConfig) -> [String] {
        var changed: [String] = []
        func check<T: Equatable>(_ field: String, _ x: T, _ y: T) { if x != y { changed.append(field) } }
        var trainA = a.data.train, trainB = b.data.train
        trainA.path = ""; trainB.path = ""
        check("seed", a.seed, b.seed)
        check("data.train", trainA, trainB)
        check("data.val_fraction", a.data.valFraction, b.data.valFraction)
        check("data.augmentation", a.data.augmentation, b.data.augmentation)
        check("model", a.model, b.model)
        check("method", a.method, b.method)
        check("attack", a.attack, b.attack)
        check("optimizer", a.optimizer, b.optimizer)
        check("schedule", a.schedule, b.schedule)
        check("batch_size", a.batchSize, b.batchSize)
        check("sync_bn", a.syncBN, b.syncBN)
        check("teachers", a.teachers.map { [$0.natural != nil, $0.robust != nil] }, b.teachers.map { [$0.natural != nil, $0.robust != nil] })
        return changed
    }
}

/// Writes `data` atomically (see `AtomicFile`), as a trainer error naming the file.
func writeAtomically(_ path: String, _ data: Data) throws {
    do throws(AtomicFileError) { try AtomicFile.write(data, to: path) }
    catch { throw TrainerError.io(path: path, why: error.reason) }
}
