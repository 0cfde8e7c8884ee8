import Attacks
import Engine
import Foundation
import NN

/// Checkpoints of a run: the student's weights and BN statistics as tensors, the optimizer's state as
/// tensors under `advdistill.optimizer.`, and in `__metadata__` the trainer state (position, random
/// generator, running sums, best W-Robust), the balancer state and the resolved config.
/// `best.safetensors` is written without the optimizer tensors: it is for evaluation and for use as a
/// teacher (half the size), while `--resume` always continues from `checkpoint.safetensors`.
extension Trainer {
    func saveCheckpoint(_ state: TrainerState, to path: String, includeOptimizer: Bool = true) throws {
        var s = state
        s.method = method.state
        s.optimizerSteps = optimizer.stepCount
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let trainerJSON = String(decoding: try encoder.encode(s), as: UTF8.self)
        let extra = !includeOptimizer ? [] : optimizer.stateTensors().map { name, t in
            SafeTensorsEntry(name: Self.optimizerPrefix + name, dtype: .f32, shape: t.shape, values: t.scalars)
        }
        var meta = [Self.trainerMetadataKey: trainerJSON, Self.methodMetadataKey: config.method.name,
                    "run": config.name, "seed": String(config.seed)]
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
            if saved.epochs != config.epochs, config.schedule.name == "cosine" || config.schedule.warmupEpochs > 0 {
                progress.note("--resume with \(config.epochs) epochs instead of \(saved.epochs): the \(config.schedule.name) schedule is stretched to the new length from here on")
            }
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
        check("teachers", a.teachers.map { [$0.natural != nil, $0.robust != nil] }, b.teachers.map { [$0.natural != nil, $0.robust != nil] })
        return changed
    }
}

/// Writes `data` atomically (see `AtomicFile`), as a trainer error naming the file.
func writeAtomically(_ path: String, _ data: Data) throws {
    do throws(AtomicFileError) { try AtomicFile.write(data, to: path) }
    catch { throw TrainerError.io(path: path, why: error.reason) }
}
