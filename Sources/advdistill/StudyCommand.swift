import ArgumentParser
import Distillation
import Foundation

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Run a grid of training runs (seeds, methods, budgets, …) and aggregate them as mean ± sd per cell.",
        discussion: """
        A study config names a base run config and the values to vary (see Configs/study-fmnist-budget.json and \
        Configs/README.md):
          {"base": "demo/bmtard.json",
           "grid": {"seeds": [1, 2, 3], "epochs": [2, 5, 10],
                    "methods": [{"name": "pgd_at"},
                                {"name": "bmtard", "kl_reduction": "batchmean",
                                 "label": "bmtard-batchmean"}],
                    "train_limit": [20000], "eps": [0.1],
                    "teachers": [{"label": "strong",
                                  "natural": {"checkpoint": "…"},
                                  "robust": {"checkpoint": "…"}}]},
           "evaluation": {"attacks": "fgsm,pgd20", "limit": 1000, "eps": 0.1},
           "output": "runs/study-fmnist-budget"}
        Every grid axis is optional (absent: the base config's value). `base` is \
        relative to the study file; other paths to the working directory.
        Each point (one value per axis) is an ordinary run in <output>/runs/<cell>-seed<k>/ (so eval, report and \
        train --resume work on it), selected on its validation split, then evaluated on the test split twice: \
        best.safetensors into eval-best.json and checkpoint.safetensors into eval-last.json. <output>/study.json holds \
        every point's numbers and, per cell (every axis but the seed), mean, sample sd, min, max and n, rewritten \
        after each point. `advdistill report <output>` renders it.

        Run it again to continue: finished points are skipped and an interrupted one resumes from its checkpoint. \
        Several invocations may run one study at once: a point another live process is running is skipped. \
        Ctrl-C or SIGTERM saves the current point's checkpoint and exits 130/143.
        """)

    @Option(help: "The study's JSON config.")
    var config: String
    @OptionGroup var common: CommonOptions

    func run() throws {
        try ClusterSetup.requireOneProcess("study")
        try common.apply()
        let study: StudyConfig
        do { study = try StudyConfig.load(path: config) } catch let e as ConfigError {
            if case .unreadable = e { throw e }
            throw InConfigFile(path: config, error: e)
        }
        let progress = TerminalProgress()
        let runner = try Study(config: study, studyFile: config, progress: progress)
        progress.note("study \(config): \(runner.points.count) points in \(Set(runner.points.map(\.cell)).count) cells, writing \(study.output)")
        Interruption.install()
        switch try runner.run() {
        case let .finished(done, total, locked):
            progress.note("\(done) of \(total) points done; wrote \(runner.studyJSONPath)")
            if !locked.isEmpty {
                progress.note("\(locked.count) point\(locked.count == 1 ? " is" : "s are") being run by another process (\(locked.joined(separator: ", "))); run this command again once it has finished to complete study.json")
            }
            if done == total { progress.note("report: advdistill report \(study.output)") }
        case let .interrupted(sig, point):
            progress.note("stopped by signal \(sig) in \(point) (its checkpoint is saved); continue with: \(shellCommand(CommandLine.arguments))")
            throw ExitCode(128 + sig)
        }
    }
}
