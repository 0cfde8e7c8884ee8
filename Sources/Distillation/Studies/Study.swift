import Attacks
import Datasets
import Engine
import Foundation
import NN

/// How a study invocation ended.
public enum StudyOutcome: Equatable, Sendable {
    /// Every point was visited. `locked`: points skipped because another live process is running them.
    case finished(done: Int, total: Int, locked: [String])
    /// A signal stopped it in `point`, after that point saved its checkpoint; running the study again continues.
    case interrupted(signal: Int32, point: String)
}

public enum StudyError: Error, CustomStringConvertible {
    case io(path: String, why: String)
    /// The point's directory holds a run trained differently (the study config changed under it).
    case foreignRun(directory: String, differences: [String])
    /// A point's training or evaluation failed; the study stops there (running it again retries the point).
    case pointFailed(run: String, reason: String)

    public var description: String {
        switch self {
        case let .io(path, why): "\(path): \(why)"
        case let .foreignRun(directory, differences):
            "\(directory) holds a run trained with different \(differences.joined(separator: ", ")) than this study's point; the study config changed since it ran: move that directory away (or restore the config) and run the study again"
        case let .pointFailed(run, reason): "point \(run) failed: \(reason) (running the study again retries it from its last checkpoint)"
        }
    }
}

/// Runs a study: every point of the grid as an ordinary run under `<output>/runs/<point>/`, each evaluated
/// on the test split twice (the selected checkpoint into eval-best.json, the last into eval-last.json; when both
/// files hold the same model tensors bit for bit, as when the last epoch is the best, the last one's file records
/// the best one's evaluation against its own checkpoint, with a warning saying so, instead of attacking again),
/// and `<output>/study.json` rewritten after each point.
///
/// Restartable at any moment: a point already trained and evaluated is skipped; an interrupted one resumes
/// from its checkpoint (`Trainer` with resume) and re-runs only the evaluations it lacks. Several
/// invocations can work on one study at once: each point is done under its run's lock (`<run>/.lock`,
/// held from training through both evaluations), and a point locked by another live process is skipped.
/// SIGINT/SIGTERM (`Interruption`): the current point saves its checkpoint and `run` returns `.interrupted`.
public final class Study {
    public let config: StudyConfig
    /// The study file's path, recorded in study.json.
    public let studyFile: String
    public let points: [StudyPoint]
    let progress: ProgressSink

    public init(config: StudyConfig, studyFile: String, progress: ProgressSink = SilentProgress()) throws {
        self.config = config
        self.studyFile = studyFile
        self.progress = progress
        points = try config.points()
    }

    public var studyJSONPath: String { (config.output as NSString).appendingPathComponent(StudyFile.fileName) }

    /// Visits every point in grid order and returns how it ended.
    public func run() throws -> StudyOutcome {
        do { try FileManager.default.createDirectory(atPath: config.runsDirectory, withIntermediateDirectories: true) }
        catch { throw StudyError.io(path: config.runsDirectory, why: error.localizedDescription) }
        var locked: [String] = []
        for (i, p) in points.enumerated() {
            let tag = "point \(i + 1)/\(points.count) \(p.run)"
            if let sig = Interruption.received {
                try writeStudyFile()
                return .interrupted(signal: sig, point: p.run)
            }
            if PointResult.read(p, evaluation: config.evaluation) != nil {
                progress.note("\(tag): done earlier, skipped")
                continue
            }
            let outcome: PointOutcome
            do { outcome = try runPoint(p, tag: tag) }
            catch let e as StudyError { throw e }
            catch { throw StudyError.pointFailed(run: p.run, reason: "\(error)") }
            switch outcome {
            case .done:
                try writeStudyFile()
            case .locked(let pid):
                locked.append(p.run)
                progress.note("\(tag): skipped, another process" + (pid.map { " (\($0))" } ?? "") + " is running it")
            case .interrupted(let sig):
                try writeStudyFile()
                return .interrupted(signal: sig, point: p.run)
            }
        }
        let file = try writeStudyFile()
        return .finished(done: file.done, total: file.total, locked: locked)
    }

    enum PointOutcome: Equatable {
        case done
        case locked(pid: Int32?)
        case interrupted(signal: Int32)
    }

    /// Trains (or resumes) and evaluates one point while holding its run lock.
    func runPoint(_ p: StudyPoint, tag: String) throws -> PointOutcome {
        let fm = FileManager.default
        try fm.createDirectory(atPath: p.directory, withIntermediateDirectories: true)
        let lock: RunLock
        do {
            let (taken, note) = try RunLock.acquire(directory: p.directory, force: false)
            lock = taken
            if let note { progress.note(note) }
        } catch TrainerError.runLocked(_, let pid) { return .locked(pid: pid) }
        defer { lock.release() }
        // Another invocation may have finished it between the check and the lock.
        if PointResult.read(p, evaluation: config.evaluation) != nil { return .done }
        if let saved = try? RunConfig.load(path: p.directory + "/config.json") {
            let differences = Trainer.trajectoryDifferences(saved, p.config)
            guard differences.isEmpty else { throw StudyError.foreignRun(directory: p.directory, differences: differences) }
        }

        progress.note("\(tag): training \(p.config.method.name), \(p.epochs) epoch\(p.epochs == 1 ? "" : "s"), seed \(p.seed)")
        let trainer = try Trainer(config: p.config, progress: progress)
        let resume = fm.fileExists(atPath: trainer.checkpointPath)
        // Evaluations of an unfinished training measured checkpoints that training will replace.
        if !resume || (trainer.trainedEpochs() ?? 0) < p.config.epochs {
            for proto in StudyProtocol.allCases { try? fm.removeItem(atPath: p.directory + "/" + StudyFile.evaluationFile(proto)) }
        }
        if case .interrupted(let sig) = try trainer.train(resume: resume) { return .interrupted(signal: sig) }

        let test = try Dataset.load(p.config.data.test)
        var measured: [(file: SafeTensorsFile, result: EvaluationResult)] = []
        for proto in StudyProtocol.allCases {
            let out = p.directory + "/" + StudyFile.evaluationFile(proto)
            let path = p.directory + "/" + proto.checkpointFile
            let which = proto == .best ? "selected (best)" : "last"
            // Kept from an invocation stopped between the two evaluations (training was already complete).
            if let r = try? EvaluationFile.read(out), r.measured != nil, PointResult.matches(r, p, config.evaluation) {
                if let file = try? SafeTensorsFile.read(path: path) { measured.append((file, r)) }
                continue
            }
            let started = Date()
            let (model, file) = try Checkpoint.loadModel(path: path)
            // The same weights as a checkpoint measured already (best is usually the last epoch): the evaluation
            // is a function of the weights, the data and the options, so it is that one's, not run again.
            if let earlier = measured.first(where: { Self.sameModel($0.file, file) }) {
                var result = earlier.result
                result.checkpoint = path
                (result.checkpointSha256, result.checkpointBytes) = EvaluationFile.identify(checkpoint: path)
                result.measured = MeasuredCheckpoint(path: path, metadata: file.metadata)
                result.warnings.append("the same weights as \(earlier.result.checkpoint), whose evaluation this is (not run again)")
                result.created = ISO8601DateFormatter().string(from: started)
                result.seconds = Date().timeIntervalSince(started)  // what this file cost; the attacks' own times are the earlier run's
                progress.note("\(tag): the \(which) checkpoint holds the weights evaluated already; its evaluation is reused")
                try EvaluationFile.write(result, to: out)
                continue
            }
            progress.note("\(tag): evaluating the \(which) checkpoint on the test split")
            var options = EvaluationOptions(eps: config.evaluation.eps ?? p.eps)
            options.epsText = (config.evaluation.epsilon ?? p.config.attack.epsilon)?.text
            options.attacks = config.evaluation.attacks
            options.attackLimit = config.evaluation.limit
            options.batchSize = config.evaluation.batchSize
            options.seed = p.seed
            var stoppedBy: Int32?
            var result: EvaluationResult
            // The bytes measured, recorded in the evaluation file as `advdistill eval` records them.
            let (digest, bytes) = EvaluationFile.identify(checkpoint: path)
            do {
                // An evaluation cut short resumes after its finished attacks (`EvaluationJournal`).
                let journal = EvaluationJournal(path: out + ".partial", checkpointIdentity: digest ?? path)
                result = try Evaluator(model: model, options: options).evaluate(
                    test, checkpoint: path, progress: progress, journal: journal,
                    shouldStop: { stoppedBy = Interruption.received; return stoppedBy != nil })
            } catch is EvaluationInterrupted { return .interrupted(signal: stoppedBy ?? SIGTERM) }
            (result.checkpointSha256, result.checkpointBytes) = (digest, bytes)
            result.measured = MeasuredCheckpoint(path: path, metadata: file.metadata)
            try EvaluationFile.write(result, to: out)
            measured.append((file, result))
        }
        return .done
    }

    /// Whether two checkpoint files hold the same model: the same tensors outside `Checkpoint.reservedPrefix`
    /// (optimizer and trainer state), by name, shape and bit pattern.
    static func sameModel(_ a: SafeTensorsFile, _ b: SafeTensorsFile) -> Bool {
        func model(_ f: SafeTensorsFile) -> [SafeTensorsEntry] {
            Checkpoint.modelEntries(of: f).sorted { $0.name < $1.name }
        }
        let (x, y) = (model(a), model(b))
        return x.count == y.count && zip(x, y).allSatisfy { e, f in
            e.name == f.name && e.shape == f.shape && e.values.count == f.values.count
                && zip(e.values, f.values).allSatisfy { $0.bitPattern == $1.bitPattern }
        }
    }

    /// Rebuilds study.json from the point directories and writes it atomically.
    @discardableResult
    public func writeStudyFile() throws -> StudyFile {
        let file = StudyFile.collect(config, studyFile: studyFile, points: points)
        try file.write(to: studyJSONPath)
        return file
    }
}
