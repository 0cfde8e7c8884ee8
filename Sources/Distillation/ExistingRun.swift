import Foundation
import TensorBoard

/// What a new (not resumed) run does when its directory already holds an earlier run's results.
/// The earlier run is never deleted: at most, the one run kept aside before it is.
public enum OverwritePolicy: Sendable, Equatable {
    /// Refuse with `TrainerError.runExists`, naming the run and the ways on (`--resume`, `--output`, `--overwrite`).
    case refuse
    /// `--overwrite`: move the earlier run into `<run>/previous/`, where `advdistill report` can still read it.
    /// Refuses with `TrainerError.previousRunKept` when `previous/` already holds a run kept aside before.
    case setAside
    /// `--overwrite` twice: the same, deleting the run that `previous/` held first (so one copy is kept, not a pile).
    case replaceSetAside
}

/// An earlier run found in a run directory, as a refusal describes it: "natural, 3 of 10 epochs done, last
/// written 2026-12-07 14:03:12; files: best.safetensors, checkpoint.safetensors, config.json, metrics.jsonl".
public struct RunSummary: Sendable, Equatable, CustomStringConvertible {
    public var directory: String
    /// From the run's config.json; nil when it is missing or unreadable.
    public var method: String?
    /// The last epoch in metrics.jsonl (0 without one).
    public var epochsDone: Int
    /// The config's `epochs`; nil when config.json is missing or unreadable.
    public var epochsPlanned: Int?
    /// The newest modification time among the files.
    public var lastWritten: Date?
    /// The directory's entries (names, sorted), hidden ones (`.lock`, temporary files of atomic writes) and
    /// `previous` excepted: what `--overwrite` moves aside.
    public var files: [String]

    /// Files whose presence means a run has results to lose: a checkpoint, metrics, an evaluation. A
    /// config.json alone (a run that stopped before its first epoch ended) is not one: it is rewritten.
    static func isResult(_ name: String) -> Bool {
        ["checkpoint.safetensors", "best.safetensors", "metrics.jsonl"].contains(name)
            || (name.hasPrefix("eval") && name.hasSuffix(".json"))
    }

    /// Entries of a run directory that are not the run's results: its lock, temporary files of atomic writes
    /// (a run taken over with `--force` may still be writing one), and the run kept aside.
    static func isTheRun(_ name: String) -> Bool { !name.hasPrefix(".") && name != Trainer.setAsideName }

    /// The run in `directory`, or nil when it holds no result (absent, empty, or only a config.json).
    public static func find(in directory: String) -> RunSummary? {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return nil }
        let files = names.filter(isTheRun).sorted()
        guard files.contains(where: isResult) else { return nil }
        let config = try? RunConfig.load(path: directory + "/config.json")
        let metrics = (try? String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8)) ?? ""
        let epochs = metrics.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)).epoch }
        let written = files.compactMap { (try? fm.attributesOfItem(atPath: directory + "/" + $0))?[.modificationDate] as? Date }
        return RunSummary(directory: directory, method: config?.method.name, epochsDone: epochs.max() ?? 0,
                          epochsPlanned: config?.epochs, lastWritten: written.max(), files: files)
    }

    public var description: String {
        var parts = [method ?? "method unknown (no readable config.json)"]
        parts.append(epochsPlanned.map { "\(epochsDone) of \($0) epochs done" } ?? "\(epochsDone) epoch\(epochsDone == 1 ? "" : "s") done")
        if let lastWritten {
            let format = DateFormatter()
            format.dateFormat = "yyyy-MM-dd HH:mm:ss"
            parts.append("last written \(format.string(from: lastWritten))")
        }
        // TensorBoard's event files have long names made of a time, a host and a pid: counted, not listed.
        let events = files.filter { $0.hasPrefix(EventFileWriter.filePrefix) }.count
        let listed = files.filter { !$0.hasPrefix(EventFileWriter.filePrefix) }
            + (events == 0 ? [] : ["\(events) TensorBoard event file\(events == 1 ? "" : "s")"])
        return parts.joined(separator: ", ") + "; files: " + listed.joined(separator: ", ")
    }
}

extension Trainer {
    /// `<run>/previous/`: where `--overwrite` keeps the run it replaces.
    public static let setAsideName = "previous"
    var setAsidePath: String { runDirectory + "/" + Self.setAsideName }

    /// Before a fresh run: refuses to train over an earlier run's results, or (as `overwrite` says) moves
    /// them into `previous/` first. A stale best.safetensors, metrics line or eval.json would otherwise
    /// pass for this run's, and the earlier run would be lost.
    func makeRoomForNewRun(_ overwrite: OverwritePolicy) throws {
        guard let existing = RunSummary.find(in: runDirectory) else { return }
        let fm = FileManager.default
        switch overwrite {
        case .refuse:
            throw TrainerError.runExists(existing, setAside: setAsidePath)
        case .setAside, .replaceSetAside:
            let kept = (try? fm.contentsOfDirectory(atPath: setAsidePath)).map { !$0.isEmpty } ?? false
            if kept {
                let older = RunSummary.find(in: setAsidePath)
                guard overwrite == .replaceSetAside else {
                    throw TrainerError.previousRunKept(existing, kept: older, setAside: setAsidePath)
                }
                do { try fm.removeItem(atPath: setAsidePath) }
                catch { throw TrainerError.io(path: setAsidePath, why: "cannot delete the run kept aside: \(error.localizedDescription)") }
                progress.note("--overwrite twice: deleted the run kept in \(setAsidePath)/" + (older.map { " (\($0))" } ?? ""))
            }
            do {
                try fm.createDirectory(atPath: setAsidePath, withIntermediateDirectories: true)
                // Renames within one directory tree: nothing is copied, and an error leaves each file in one place.
                for name in existing.files {
                    let source = runDirectory + "/" + name
                    do { try fm.moveItem(atPath: source, toPath: setAsidePath + "/" + name) }
                    catch where !fm.fileExists(atPath: source) { continue }   // gone meanwhile: nothing to keep
                }
            } catch { throw TrainerError.io(path: setAsidePath, why: "cannot move the earlier run aside: \(error.localizedDescription)") }
            progress.note("--overwrite: moved the earlier run (\(existing)) into \(setAsidePath)/; `advdistill report \(setAsidePath)` still shows it")
        }
    }
}
