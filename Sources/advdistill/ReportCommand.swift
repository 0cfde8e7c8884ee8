import ArgumentParser
import Attacks
import Datasets
import Distillation
import Engine
import Foundation
import NN
import Reports

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare runs in one self-contained HTML page (with report.md and report.json).",
        discussion: """
        Reads each run's config.json, metrics.jsonl and evaluation: eval.json (its best checkpoint's) or, when \
        the run has several evaluation files (eval-*.json), the one under the threat model most runs share; it \
        says which file each row comes from. A run without any evaluation file is evaluated first (its \
        best.safetensors, else checkpoint.safetensors, on the config's test split: the paper suite at the \
        training ε on the first --eval-limit images, with an ε sweep) and the evaluation is written into the run \
        (eval.json, or eval-checkpoint.json). report.html, report.md and report.json are derived from those files \
        and are replaced on every run. A run that cannot be read is named on stderr and in the report; the \
        others still render.

        A directory that is not a run (it holds no config.json) stands for every run directory below it, at any \
        depth, in path order, as `tensorboard --logdir` reads a folder: `advdistill report runs/demo`. Below it, \
        the earlier runs that `train --overwrite` keeps in <run>/previous/ are left out (a note counts them) unless \
        --include-previous, and a study directory met there contributes its runs as rows (a note says how to see \
        its aggregate).

        Given one study directory (written by `advdistill study`), it reports the study instead: each cell's mean ± sd \
        for the selected and the last checkpoints, a clean-vs-robust scatter, accuracy against budget with error \
        bars, and Welch's t-test of each method against PGD-AT at the same budget (--against compares with another \
        of its methods instead: `advdistill report runs/study-x --against bmtard-batchmean --out runs/study-x/vs-bmtard`).
        """)

    @Argument(help: "Run directories (runs/<name>), one table row each, or folders of them (every run below, recursively); or one study directory (holding study.json, from `advdistill study`).")
    var runs: [String]
    @Flag(help: "In folders, also show the earlier runs kept in <run>/previous/ by `train --overwrite` (each a row labelled with its directory).")
    var includePrevious = false
    @Option(help: "Directory for report.html, report.md and report.json (default: the run's directory for one run, else <parent of the first run>/report).")
    var out: String?
    @Option(help: "Attacks for runs evaluated here (registry names and suites).")
    var evalAttacks: String = "paper"
    @Option(help: "Runs evaluated here: attack only the first N test images (clean accuracy still uses all).")
    var evalLimit: Int = 1000
    @Option(help: "Runs evaluated here: ε sweep as multiples of the training ε (empty for none).")
    var evalEpsSweep: String = "0,0.5,1,1.5,2"
    @Flag(help: "Do not evaluate runs that lack an evaluation file; report them as unreadable instead.")
    var noEval = false
    @Option(help: "For a study: the method (its label in the study's cells) that every other method is tested against. (default: pgd_at)")
    var against: String?
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard evalLimit > 0 else { throw ValidationError("--eval-limit must be > 0, got \(evalLimit)") }
        _ = try sweepMultiples()
    }

    func sweepMultiples() throws -> [Float] {
        try evalEpsSweep.split(separator: ",").map { s in
            guard let v = parseNumber(s.trimmingCharacters(in: .whitespaces)), v >= 0, v.isFinite else {
                throw ValidationError("--eval-eps-sweep: '\(s)' is not a number ≥ 0")
            }
            return v
        }
    }

    func run() throws {
        try ClusterSetup.requireOneProcess("report")
        try common.apply()
        if runs.count == 1, StudyReport.isStudy(runs[0]) { return try reportStudy(runs[0]) }
        if against != nil {
            throw ValidationError("--against compares the methods of one study; give one study directory (holding study.json), not run directories")
        }
        let progress = TerminalProgress()
        let selection = RunDirectories(runs, includePrevious: includePrevious)
        var notes = selection.notes, failures = selection.failures
        var readable: [String] = []
        for dir in selection.directories {
            if noEval || !RunRecord.evaluationFiles(in: dir).isEmpty { readable.append(dir); continue }
            do {
                if let note = try evaluateIfPossible(dir, progress: progress) { notes.append(note) }
                readable.append(dir)
            } catch {
                failures.append(RunFailure(directory: dir, message: "evaluating it failed: \(error)"))
            }
        }
        let loaded = Reports.Report.load(directories: readable)
        failures += loaded.failures
        notes += loaded.notes
        for f in failures { progress.note("warning: \(f.directory) is left out of the report: \(f.message)") }
        for r in loaded.runs { progress.note("\(r.directory): numbers from \(r.evaluationPath)") }
        for n in selection.notes + loaded.notes { progress.note("note: " + n) }
        let report = try Reports.Report(runs: loaded.runs, failures: failures, notes: notes, gitCommit: gitCommit())
        let directory = out ?? (runs.count == 1 ? runs[0] : ((runs[0] as NSString).deletingLastPathComponent as NSString).appendingPathComponent("report"))
        let paths = try report.write(to: directory)
        print(report.comparisonText)
        for p in paths { print("wrote \(p)") }
    }

    /// A study directory (holding study.json): its aggregate, written beside it unless --out says otherwise.
    func reportStudy(_ directory: String) throws {
        let study = try StudyReport.load(directory: directory)
        if let against, !StudyReportDocument.names(against, in: study) {
            throw ValidationError("--against \(against): \(directory) has no cell of that method; its methods: \(StudyReport.methodLabels(study).joined(separator: ", "))")
        }
        let report = StudyReport(study: study, gitCommit: gitCommit(), against: against ?? StudyReportDocument.defaultReference)
        let paths = try report.write(to: out ?? directory)
        print(report.comparisonText)
        for p in paths { print("wrote \(p)") }
    }

    /// Evaluates the run's checkpoint when there is one, writing its default evaluation file (which does not
    /// exist: the run has none); nil when there is nothing to evaluate (loading the run then reports the
    /// missing eval.json).
    func evaluateIfPossible(_ dir: String, progress: TerminalProgress) throws -> String? {
        let fm = FileManager.default
        guard let checkpoint = ["best.safetensors", "checkpoint.safetensors"].map({ (dir as NSString).appendingPathComponent($0) })
            .first(where: { fm.fileExists(atPath: $0) }),
            let config = try? RunRecord.loadConfig(directory: dir) else { return nil }
        let epsilon = config.attack.epsilon ?? Epsilon(8 / 255)
        let eps = epsilon.value
        let evalPath = EvaluationFile.defaultPath(forCheckpoint: checkpoint)
        let note = "\(dir) had no evaluation file: evaluated \(checkpoint) on \(config.data.test.path) (\(config.data.test.split.rawValue) split) "
            + "with '\(evalAttacks)' at the training ε = \(eps), attacks on the first \(evalLimit) images, and wrote \(evalPath)."
        progress.note("note: " + note)
        let (model, file) = try Checkpoint.loadModel(path: checkpoint, arch: nil)
        let (digest, bytes) = EvaluationFile.identify(checkpoint: checkpoint)
        let data = try Dataset.load(config.data.test)
        var options = EvaluationOptions(eps: epsilon)
        options.attacks = evalAttacks
        options.attackLimit = evalLimit
        options.seed = config.seed
        options.epsSweep = try sweepMultiples().map { $0 * eps }
        var result = try Evaluator(model: model, options: options).evaluate(data, checkpoint: checkpoint, progress: progress)
        result.checkpointSha256 = digest
        result.checkpointBytes = bytes
        result.measured = MeasuredCheckpoint(path: checkpoint, metadata: file.metadata)
        try EvaluationFile.write(result, to: evalPath)
        return note
    }

    /// The commit of the code: the working directory's repository, else the one the executable was built in
    /// (.build/<config>/advdistill); "+ uncommitted changes" when it is dirty; "unknown" without git.
    func gitCommit() -> String {
        func git(_ args: [String], in directory: String?) -> String? {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git"] + (directory.map { ["-C", $0] } ?? []) + args
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return nil }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            .map { ($0 as NSString).deletingLastPathComponent }
        for directory in [nil, executable] {
            guard let head = git(["rev-parse", "HEAD"], in: directory), !head.isEmpty else { continue }
            let dirty = git(["status", "--porcelain", "--untracked-files=no"], in: directory).map { !$0.isEmpty } ?? false
            return dirty ? head + " + uncommitted changes" : head
        }
        return "unknown"
    }
}
