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
///
/// The model of both files is the one the run evaluates: the method's `evaluatedModel` when it has one (PeerAiD's
/// weight average of the student), else the student. With an evaluated model, checkpoint.safetensors also holds
/// the student's own weights and BN statistics under `advdistill.student.`, and `--resume` loads those into the
/// student and the model into the method's evaluated model (its method state, restored first, says it has one).
extension Trainer {
    static let trainableStepsMetadataKey = "trainable_steps"
    static let trainedStudentPrefix = Checkpoint.reservedPrefix + "student."

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
        let evaluated = method.evaluatedModel
        if includeOptimizer {
            extra = Self.entries(of: optimizer, under: Self.optimizerPrefix)
            if evaluated != nil { extra += Self.entries(of: student, under: Self.trainedStudentPrefix) }
            let trainables = method.trainables
            for t in trainables {
                let prefix = Self.trainablePrefix(t.name)
                extra += Self.entries(of: t.model, under: prefix + "model.")
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
        do { try Checkpoint.save(evaluated?.model ?? student, to: path, metadata: meta, extra: extra) }
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
            if saved.epochs != config.epochs, [.cosine, .holdCosineExp].contains(config.schedule.name) || config.schedule.warmupEpochs > 0 {
                progress.note("--resume with \(config.epochs) epochs instead of \(saved.epochs): the \(config.schedule.name.rawValue) schedule is stretched to the new length from here on")
            }
        }
        guard let json = file.metadata[Self.trainerMetadataKey],
              let state = try? JSONDecoder().decode(TrainerState.self, from: Data(json.utf8)) else {
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "has no trainer state")
        }
        // The method state first: it says whether the method has an evaluated model, which the file's model is then.
        do { try method.restoreState(from: state.method) }
        catch { throw TrainerError.resumeMismatch(file: checkpointPath, why: "holds a method state that \(config.method.name) cannot read (\(error))") }
        try restoreModels(from: file)
        try optimizer.loadState(Self.tensors(in: file, under: Self.optimizerPrefix))
        optimizer.stepCount = state.optimizerSteps
        try restoreTrainables(from: file)
        return state
    }

    /// Loads the student, and the method's evaluated model when it has one (see the extension's comment).
    func restoreModels(from file: SafeTensorsFile) throws {
        let trained = Self.stripped(file, under: Self.trainedStudentPrefix)
        switch (method.evaluatedModel, trained.entries.isEmpty) {
        case (nil, true):
            try Checkpoint.load(file, into: student, source: checkpointPath)
        case let (evaluated?, false):
            try Checkpoint.load(file, into: evaluated.model, source: "\(checkpointPath) (\(evaluated.name))")
            try Checkpoint.load(trained, into: student, source: "\(checkpointPath) (student)")
        case let (evaluated?, true):
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "holds no student apart from its model, but \(config.method.name)'s state says the model is its \(evaluated.name)")
        case (nil, false):
            throw TrainerError.resumeMismatch(file: checkpointPath, why: "holds a student apart from its model, but \(config.method.name)'s state says it evaluates the student itself")
        }
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
            try Checkpoint.load(Self.stripped(file, under: prefix + "model."), into: t.model, source: "\(checkpointPath) (\(t.name))")
            try t.optimizer.loadState(Self.tensors(in: file, under: prefix + "optimizer."))
            guard let count = steps[t.name] else {
                throw TrainerError.resumeMismatch(file: checkpointPath, why: "has no optimizer step count for \(t.name)")
            }
            t.optimizer.stepCount = count
        }
    }

    static func trainablePrefix(_ name: String) -> String { Checkpoint.reservedPrefix + "trainable.\(name)." }

    /// A model's weights and BN statistics as checkpoint tensors, named under `prefix`.
    static func entries(of model: Model, under prefix: String) -> [SafeTensorsEntry] {
        Checkpoint.file(of: model).entries.map { e in
            SafeTensorsEntry(name: prefix + e.name, dtype: e.dtype, shape: e.shape, values: e.values)
        }
    }

    /// The file's tensors under `prefix`, named without it (a model's, to load with `Checkpoint.load`).
    static func stripped(_ file: SafeTensorsFile, under prefix: String) -> SafeTensorsFile {
        SafeTensorsFile(entries: file.entries.filter { $0.name.hasPrefix(prefix) }.map { e in
            SafeTensorsEntry(name: String(e.name.dropFirst(prefix.count)), dtype: e.dtype, shape: e.shape, values: e.values)
        })
    }

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
