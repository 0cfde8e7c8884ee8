import Distillation
import Foundation

/// The run directories that `advdistill report` reads for its arguments, found the way `tensorboard --logdir`
/// finds runs: an argument that is a run directory (it holds config.json) is that run; any other directory
/// stands for every run directory below it, at any depth, in path order (entries sorted by name at each level).
/// A run directory is not searched further, except that the earlier run `train --overwrite` keeps in its
/// `previous/` is left out (and counted in a note) unless `includePrevious`, when it follows its run as a row of
/// its own (labelled with its directory, since it shares the run's name). A study directory (holding
/// study.json) met below an argument contributes its runs like any folder, with a note on how to see its
/// aggregate. Hidden directories are skipped. An argument that is not a directory is passed on as it is, so that
/// loading it reports the problem as for any run.
public struct RunDirectories: Sendable, Equatable {
    public var directories: [String] = []
    public var notes: [String] = []
    /// Folders below which no run was found.
    public var failures: [RunFailure] = []

    public init(_ arguments: [String], includePrevious: Bool = false, fileManager: FileManager = .default) {
        for argument in arguments {
            guard Self.isDirectory(argument, fileManager), !Self.isRun(argument, fileManager) else {
                directories.append(argument)
                continue
            }
            var found: [String] = [], previous: [String] = [], studies: [String] = []
            Self.walk(argument, fileManager, &found, &previous, &studies, includePrevious: includePrevious)
            if found.isEmpty {
                failures.append(RunFailure(directory: argument, message: "holds no run directory (a directory with config.json, written by `advdistill train`) at any depth"))
                continue
            }
            directories += found
            for study in studies {
                let runs = found.filter { $0.hasPrefix(study + "/") }.count
                notes.append("\(study) is a study (it holds study.json): its \(runs) run\(runs == 1 ? " is a row" : "s are rows") here; `advdistill report \(study)` shows its cells as mean ± sd")
            }
            if !previous.isEmpty {
                let list = previous.count <= 3 ? previous.joined(separator: ", ") : previous.prefix(3).joined(separator: ", ") + ", …"
                notes.append("left out \(previous.count) earlier run\(previous.count == 1 ? "" : "s") kept aside by `train --overwrite` (\(list)); --include-previous shows them, or name one as an argument")
            }
        }
    }

    /// Collects the run directories below `directory` (not itself) in path order.
    private static func walk(_ directory: String, _ fm: FileManager, _ found: inout [String], _ previous: inout [String],
                             _ studies: inout [String], includePrevious: Bool) {
        if fm.fileExists(atPath: (directory as NSString).appendingPathComponent(StudyFile.fileName)) { studies.append(directory) }
        let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            guard isDirectory(path, fm) else { continue }
            guard isRun(path, fm) else {
                walk(path, fm, &found, &previous, &studies, includePrevious: includePrevious)
                continue
            }
            found.append(path)
            let kept = (path as NSString).appendingPathComponent(Trainer.setAsideName)
            if isRun(kept, fm) {
                if includePrevious { found.append(kept) } else { previous.append(kept) }
            }
        }
    }

    static func isRun(_ directory: String, _ fm: FileManager) -> Bool {
        fm.fileExists(atPath: (directory as NSString).appendingPathComponent(RunRecord.configFile))
    }

    static func isDirectory(_ path: String, _ fm: FileManager) -> Bool {
        var isDirectory: ObjCBool = false
        return fm.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
