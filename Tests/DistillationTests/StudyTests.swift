import Attacks
import Datasets
import Engine
import Foundation
import NN
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Distillation

/// The statistics a study reports, against values computed by hand or with SciPy.
@Suite struct StudyStatistics {
    @Test func summaryOfThreeSeedsIsTheHandComputedMeanSampleSDMinAndMax() throws {
        // mean = 2.3445 / 3 = 0.7815; deviations −0.0003, −0.0025, +0.0028; squares sum to 1.418e-5;
        // sd = √(1.418e-5 / (3 − 1)) = √7.09e-6 = 0.00266270539…
        let s = try #require(Summary([0.7812, 0.7790, 0.7843]))
        #expect(s.n == 3)
        #expect(abs(s.mean - 0.7815) < 1e-12)
        #expect(abs(try #require(s.sd) - 0.0026627053911388557) < 1e-12)
        #expect(s.min == 0.7790 && s.max == 0.7843)
        let one = try #require(Summary([0.5]))
        #expect(one.n == 1 && one.mean == 0.5 && one.sd == nil, "one run has no spread to report")
        #expect(Summary([]) == nil)
    }

    /// Reference values: `scipy.stats.ttest_ind(a, b, equal_var=False)` (SciPy 1.17), statistic, pvalue, df.
    @Test(arguments: [
        ([0.7812, 0.7790, 0.7843], [0.7646, 0.7701, 0.7598], 4.976171429112702, 0.01563684499141058, 2.9966361743189522),
        ([0.50, 0.52, 0.49, 0.55], [0.47, 0.51], 1.0425720702853738, 0.4093614346481992, 1.9424724602203183),
    ])
    func welchTestMatchesSciPy(_ a: [Double], _ b: [Double], _ t: Double, _ p: Double, _ df: Double) throws {
        let w = try #require(WelchTest(a, b))
        #expect(abs(w.t - t) < 1e-9 * abs(t))
        #expect(abs(w.degreesOfFreedom - df) < 1e-9 * df)
        #expect(abs(w.p - p) < 1e-9, "p = \(w.p), SciPy \(p)")
        let swapped = try #require(WelchTest(b, a))
        #expect(abs(swapped.t + t) < 1e-9 * abs(t) && abs(swapped.p - p) < 1e-12, "two-sided: symmetric in the order")
    }

    @Test func welchTestIsUndefinedWithoutTwoRunsOrWithoutSpread() {
        #expect(WelchTest([0.7], [0.6, 0.61]) == nil)
        #expect(WelchTest([0.7, 0.7], [0.6, 0.6]) == nil)
    }

    /// Student's t CDF through the incomplete beta: closed forms for ν = 1 (Cauchy: ½ + atan(t)/π) and
    /// ν = 2 (½ + t / (2√(2 + t²))), and `scipy.stats.t.cdf` for fractional ν.
    @Test func studentTCDFMatchesClosedFormsAndSciPy() {
        for t in [-3.0, -0.4, 0, 0.7, 2.5, 12] {
            #expect(abs(WelchTest.studentTCDF(t, degreesOfFreedom: 1) - (0.5 + atan(t) / .pi)) < 1e-12)
            #expect(abs(WelchTest.studentTCDF(t, degreesOfFreedom: 2) - (0.5 + t / (2 * (2 + t * t).squareRoot()))) < 1e-12)
        }
        let scipy: [(t: Double, nu: Double, cdf: Double)] = [
            (2.0, 5, 0.9490302605850708), (-1.3, 7.5, 0.11606338940780439), (0.5, 30.2, 0.6896505112654171),
            (3.0, 2.7, 0.9670520211716167),
        ]
        for (t, nu, cdf) in scipy { #expect(abs(WelchTest.studentTCDF(t, degreesOfFreedom: nu) - cdf) < 1e-10, "t \(t), ν \(nu)") }
        // scipy.special.betainc(a, b, x)
        #expect(abs(regularizedIncompleteBeta(2.5, 0.5, 0.3) - 0.018927124071945658) < 1e-12)
        #expect(abs(regularizedIncompleteBeta(10, 3, 0.9) - 0.889130022255) < 1e-10)
        #expect(abs(regularizedIncompleteBeta(0.5, 0.5, 0.5) - 0.5) < 1e-12)
    }
}

/// A study's base config (natural training on the synthetic data, one epoch) and study file in `dir`.
func writeStudy(_ dir: TempDir, grid: [String: Any], base: [String: Any]? = nil,
                evaluation: [String: Any] = ["attacks": "fgsm", "limit": 16, "batch_size": 16],
                changes: [String: Any?] = [:], name: String = "study") throws -> String {
    let baseObject = try base ?? configObject(dir, epochs: 1)
    try JSONSerialization.data(withJSONObject: baseObject).write(to: URL(fileURLWithPath: dir.sub("base.json")))
    var study: [String: Any] = ["base": "base.json", "grid": grid, "evaluation": evaluation, "output": dir.sub(name)]
    for (key, value) in changes { set(&study, key, value) }
    let path = dir.sub("\(name).json")
    try JSONSerialization.data(withJSONObject: study).write(to: URL(fileURLWithPath: path))
    return path
}

@Suite struct StudyConfigs {
    /// `StudyConfig.load` refuses the file with this field and message fragment.
    func expectRefusal(_ path: String, field: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try StudyConfig.load(path: path)
            Issue.record("\(path) was accepted", sourceLocation: sourceLocation)
        } catch {
            let text = "\(error)"
            #expect(text.contains("'\(field)'") && text.contains(fragment), "\(text)", sourceLocation: sourceLocation)
        }
    }

    @Test func aStudyWithAMistakeIsRefusedNamingTheField() throws {
        let dir = TempDir()
        let methods: [[String: Any]] = [["name": "natural"], ["name": "bmtard", "kl_reduction": "batchmean"]]
        expectRefusal(try writeStudy(dir, grid: ["seed": [1, 2]]), field: "grid.seed", "did you mean 'grid.seeds'?")
        expectRefusal(try writeStudy(dir, grid: ["methods": [["name": "bmtard", "kl_reductio": "batchmean"]]]),
                      field: "grid.methods[0].kl_reductio", "did you mean 'grid.methods[0].kl_reduction'?")
        expectRefusal(try writeStudy(dir, grid: ["seeds": [1]], changes: ["evaluaton": ["limit": 5]]), field: "evaluaton", "did you mean 'evaluation'?")
        expectRefusal(try writeStudy(dir, grid: ["seeds": []]), field: "grid.seeds", "is empty")
        expectRefusal(try writeStudy(dir, grid: ["methods": []]), field: "grid.methods", "is empty")
        expectRefusal(try writeStudy(dir, grid: ["epochs": [1, 2, 1]]), field: "grid.epochs[2]", "listed twice")
        expectRefusal(try writeStudy(dir, grid: ["methods": [["name": "bmtrad"]]]), field: "grid.methods[0].name", "did you mean 'bmtard'?")
        expectRefusal(try writeStudy(dir, grid: ["methods": [["name": "pgd_at", "kl_reduction": "batchmean"]]]),
                      field: "grid.methods[0].kl_reduction", "does not use this parameter")
        expectRefusal(try writeStudy(dir, grid: ["methods": [["name": "bmtard"], ["name": "bmtard", "eta": 0.01]]]),
                      field: "grid.methods[1].label", "both labelled 'bmtard'")
        let teachers: [[String: Any]] = [["label": "strong", "natural": ["checkpoint": dir.sub("no-such-teacher.safetensors")],
                                          "robust": ["checkpoint": dir.sub("no-such-robust.safetensors")]]]
        expectRefusal(try writeStudy(dir, grid: ["methods": methods, "teachers": teachers]),
                      field: "grid.teachers[0].natural.checkpoint", "no such file: \(dir.sub("no-such-teacher.safetensors"))")
        var base = try configObject(dir, method: "bmtard", epochs: 1)
        set(&base, "teachers.robust.checkpoint", dir.sub("gone.safetensors"))
        expectRefusal(try writeStudy(dir, grid: ["seeds": [1]], base: base), field: "base.teachers.robust.checkpoint", "no such file")
        expectRefusal(try writeStudy(dir, grid: ["seeds": [1]], changes: ["base": "missing.json"]), field: "base", "missing.json")
    }

    @Test func pointsAreNamedByTheirAxesAndTeacherlessMethodsRunOncePerTeacherPair() throws {
        let dir = TempDir()
        let base = try configObject(dir, method: "bmtard", epochs: 1)
        let natural = dir.sub("natural.safetensors"), robust = dir.sub("robust.safetensors")
        let pair: (String) -> [String: Any] = { ["label": $0, "natural": ["checkpoint": natural], "robust": ["checkpoint": robust]] }
        let path = try writeStudy(dir, grid: [
            "seeds": [3, 4], "epochs": [2, 5], "eps": [0.05],
            "methods": [["name": "pgd_at"], ["name": "bmtard", "kl_reduction": "batchmean", "label": "bmtard-batchmean"]],
            "teachers": [pair("a"), pair("b")],
        ], base: base)
        let study = try StudyConfig.load(path: path)
        let points = try study.points()
        // 2 seeds × 2 budgets × (pgd_at once + bmtard per teacher pair).
        #expect(points.map(\.run).prefix(6) == ["pgd_at-e2-eps0.05-seed3", "bmtard-batchmean-e2-eps0.05-a-seed3",
                                                 "bmtard-batchmean-e2-eps0.05-b-seed3", "pgd_at-e5-eps0.05-seed3",
                                                 "bmtard-batchmean-e5-eps0.05-a-seed3", "bmtard-batchmean-e5-eps0.05-b-seed3"])
        #expect(points.count == 12 && Set(points.map(\.cell)).count == 6)
        let p = points[1].config
        #expect(p.seed == 3 && p.epochs == 2 && p.method[.klReduction] == .batchmean && p.attack.eps == 0.05)
        #expect(p.attack.stepSize == 0.025, "the base's step 0.05 at ε 0.1 scales to 0.025 at ε 0.05")
        #expect(p.output == dir.sub("study/runs") && p.name == points[1].run)
        #expect(points[0].config.teachers == nil, "PGD-AT gets no teacher")
    }
}

extension TrainerRuns {
    @Suite struct Studies {
        @Test func aStudyAggregatesItsRunsEvaluationsPerCell() throws {
            let dir = TempDir()
            let path = try writeStudy(dir, grid: ["seeds": [1, 2, 3], "methods": [["name": "natural"]]],
                                      evaluation: ["attacks": "fgsm,pgd5", "limit": 16, "batch_size": 16])
            let study = try Study(config: try StudyConfig.load(path: path), studyFile: path)
            #expect(try study.run() == .finished(done: 3, total: 3, locked: []))

            let file = try StudyFile.read(study.studyJSONPath)
            #expect(file.metrics == ["clean", "fgsm", "pgd5", "worst_case", "w_robust"])
            let cell = try #require(file.cells.first)
            #expect(file.cells.count == 1 && cell.n == 3 && cell.seeds == [1, 2, 3])
            for proto in StudyProtocol.allCases {
                // Each run's numbers, read from its evaluation file as `advdistill eval` wrote them.
                let evaluations = try (1...3).map { seed in
                    try EvaluationFile.read(dir.sub("study/runs/natural-seed\(seed)/eval-\(proto.rawValue).json"))
                }
                for e in evaluations {
                    #expect(e.measured?.role == (proto == .best ? .best : .last))
                    #expect(e.measured?.selectedOn == (proto == .best ? "validation" : nil))
                    #expect(e.count == 32 && e.attackCount == 16, "every test image clean, the first 16 attacked")
                }
                let pgd = try evaluations.map { try #require($0.attacks.first { $0.key == "pgd5" }).accuracy }
                let mean = (pgd[0] + pgd[1] + pgd[2]) / 3
                let sd = (pgd.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2).squareRoot()
                let s = try #require((proto == .best ? cell.best : cell.last)["pgd5"])
                let spread = try #require(s.sd)
                #expect(abs(s.mean - mean) < 1e-12 && abs(spread - sd) < 1e-12)
                #expect(s.min == pgd.min() && s.max == pgd.max() && s.n == 3)
            }
            #expect(file.points.allSatisfy { $0.status == "done" && $0.last?.epoch == 1 })
        }

        /// When best.safetensors and checkpoint.safetensors hold the same weights (a 1-epoch run: best is the last
        /// epoch), the last checkpoint's evaluation is the best one's, recorded against its own file and said to
        /// be reused; it equals a fresh evaluation of that file.
        @Test func theLastCheckpointReusesTheBestOnesEvaluationWhenTheyHoldTheSameWeights() throws {
            let dir = TempDir()
            let path = try writeStudy(dir, grid: ["seeds": [4], "methods": [["name": "natural"]]],
                                      evaluation: ["attacks": "fgsm,pgd5", "limit": 16, "batch_size": 16])
            let study = try Study(config: try StudyConfig.load(path: path), studyFile: path)
            #expect(try study.run() == .finished(done: 1, total: 1, locked: []))
            let run = dir.sub("study/runs/natural-seed4")
            let best = try EvaluationFile.read(run + "/eval-best.json"), last = try EvaluationFile.read(run + "/eval-last.json")
            #expect(best.warnings.allSatisfy { !$0.contains("not run again") })
            #expect(last.warnings.contains { $0.contains("the same weights as \(run)/best.safetensors") })
            #expect(last.checkpoint == run + "/checkpoint.safetensors" && last.measured?.role == .last)
            #expect(last.checkpointSha256 == EvaluationFile.identify(checkpoint: run + "/checkpoint.safetensors").sha256)
            #expect(best.checkpointSha256 == EvaluationFile.identify(checkpoint: run + "/best.safetensors").sha256,
                    "a fresh evaluation records the bytes it measured too")
            #expect(best.checkpointBytes == EvaluationFile.identify(checkpoint: run + "/best.safetensors").bytes)
            #expect(last.checkpointSha256 != best.checkpointSha256, "two files (the last also holds the optimizer)")

            // A fresh evaluation of checkpoint.safetensors gives the same numbers, example by example.
            let (model, _) = try Checkpoint.loadModel(path: run + "/checkpoint.safetensors")
            var options = EvaluationOptions(eps: Float(best.eps))
            options.attacks = "fgsm,pgd5"; options.attackLimit = 16; options.batchSize = 16; options.seed = 4
            let test = try Dataset.load(try StudyConfig.load(path: path).points()[0].config.data.test)
            let fresh = try Evaluator(model: model, options: options).evaluate(test, checkpoint: run + "/checkpoint.safetensors")
            #expect(fresh.clean.accuracy == last.clean.accuracy && fresh.cleanCorrect == last.cleanCorrect)
            #expect(fresh.attacks.map { $0.accuracy } == last.attacks.map { $0.accuracy })
            #expect(fresh.attacks.map { $0.robust } == last.attacks.map { $0.robust } && fresh.wRobust == last.wRobust)
        }

        @Test func sameModelComparesModelTensorsBitForBitAndIgnoresTrainerState() {
            func file(_ values: [Float], extra: Bool = false) -> SafeTensorsFile {
                SafeTensorsFile(entries: [SafeTensorsEntry(name: "fc.weight", dtype: .f32, shape: [values.count], values: values)]
                    + (extra ? [SafeTensorsEntry(name: Checkpoint.reservedPrefix + "optimizer.m", dtype: .f32, shape: [1], values: [7])] : []))
            }
            #expect(Study.sameModel(file([1, 2]), file([1, 2], extra: true)), "optimizer state is not the model")
            #expect(!Study.sameModel(file([1, 2]), file([1, 2.0000002])))
            #expect(!Study.sameModel(file([0, 2]), file([-0.0, 2])), "bit for bit: −0 is not +0")
            #expect(!Study.sameModel(file([1, 2]), file([1, 2, 3])))
        }

        /// Two invocations at once: a point whose run lock a live process holds is skipped, the others go on;
        /// the next invocation runs only what is left.
        @Test func aPointLockedByAnotherLiveProcessIsSkipped() throws {
            let dir = TempDir()
            let path = try writeStudy(dir, grid: ["seeds": [1, 2, 3]])
            let config = try StudyConfig.load(path: path)
            // Another process "runs" seed 2: a live process named in the run's lock file, as RunLock writes it.
            let other = Process()
            other.executableURL = URL(fileURLWithPath: "/bin/sleep")
            other.arguments = ["60"]
            try other.run()
            // SIGKILL: Foundation's Process starts children with SIGTERM blocked.
            func stopOther() { kill(other.processIdentifier, SIGKILL); other.waitUntilExit() }
            defer { if other.isRunning { stopOther() } }
            let locked = config.runsDirectory + "/natural-seed2"
            try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: true)
            let started = try #require(RunLock.startTime(of: other.processIdentifier))
            try Data("\(other.processIdentifier) \(started)\n".utf8).write(to: URL(fileURLWithPath: locked + "/.lock"))

            let first = RecordingProgress()
            #expect(try Study(config: config, studyFile: path, progress: first).run() == .finished(done: 2, total: 3, locked: ["natural-seed2"]))
            #expect(!FileManager.default.fileExists(atPath: locked + "/metrics.jsonl"), "the locked point was not trained")
            #expect(first.notes.contains { $0.contains("natural-seed2: skipped, another process (\(other.processIdentifier))") })
            var file = try StudyFile.read(config.output + "/study.json")
            #expect(file.points.map(\.status) == ["done", "running", "done"])
            #expect(file.cells[0].n == 2 && file.cells[0].seeds == [1, 3])

            // Its owner is gone: the next invocation trains it, and only it.
            stopOther()
            let second = RecordingProgress()
            #expect(try Study(config: config, studyFile: path, progress: second).run() == .finished(done: 3, total: 3, locked: []))
            #expect(second.notes.filter { $0.contains("done earlier, skipped") }.count == 2)
            #expect(second.notes.contains { $0.contains("natural-seed2: training") })
            file = try StudyFile.read(config.output + "/study.json")
            #expect(file.points.map(\.status) == ["done", "done", "done"] && file.cells[0].n == 3)
        }

        /// Checks which images the per-epoch evaluation saw. The test split's labels are shifted by one class,
        /// so a student that learned anything scores near 0 on them; the held-out validation images (a tenth
        /// of the training pool, by default) carry true labels. If selection used the test split, the
        /// metrics' accuracies would be the test split's.
        @Test func selectionUsesTheHeldOutValidationSplitByDefault() throws {
            let dir = TempDir()
            let data = writeSyntheticIDX(in: dir, testLabelShift: 1)
            var object = try configObject(dir, epochs: 3)
            set(&object, "eval.limit", nil)
            let config = try loadConfig(object, in: dir)
            #expect(config.data.valFraction == 0.1)
            let trainer = try Trainer(config: config)
            #expect(try trainer.run() == .finished)

            // The validation split, made independently of the trainer: the seeded split of the 64 training images.
            let pool = try Dataset.load(DataSpec(path: data, split: .train))
            let validation = pool.split(valFraction: 0.1, seed: config.seed).val
            let test = try Dataset.load(DataSpec(path: data, split: .test))
            #expect(validation.count == 6)
            func accuracy(_ model: Model, _ d: Dataset) -> Double {
                let (x, y) = d.tensor(Array(0..<d.count))
                let logits = withNoGrad { model.forward(x, training: false) }.scalars
                let k = logits.count / d.count
                let hits = (0..<d.count).filter { i in (0..<k).max { logits[i * k + $0] < logits[i * k + $1] } == y[i] }.count
                return Double(hits) / Double(d.count)
            }
            let last = try #require(try metricsLines(trainer.runDirectory).last)
            #expect(last["eval_split"] as? String == "validation")
            #expect(last["eval_examples"] as? Int == 6)
            let onValidation = accuracy(trainer.student, validation), onTest = accuracy(trainer.student, test)
            #expect(onValidation != onTest, "the two splits tell the final student apart")
            #expect(last["clean_accuracy"] as? Double == onValidation, "measured on the validation split, not the test split (\(onTest))")
            let best = try SafeTensorsFile.read(path: trainer.runDirectory + "/best.safetensors")
            #expect(best.metadata[MeasuredCheckpoint.roleKey] == "best" && best.metadata[MeasuredCheckpoint.selectedOnKey] == "validation")
        }

        @Test func valFractionZeroSelectsOnTheTestSplitAndSaysSo() throws {
            let dir = TempDir()
            var object = try configObject(dir, epochs: 1)
            set(&object, "data.val_fraction", 0)
            let progress = RecordingProgress()
            let trainer = try Trainer(config: try loadConfig(object, in: dir), progress: progress)
            #expect(try trainer.run() == .finished)
            #expect(progress.notes.contains { $0.contains("data.val_fraction is 0") && $0.contains("test split") })
            let line = try #require(try metricsLines(trainer.runDirectory).first)
            #expect(line["eval_split"] as? String == "test" && line["eval_examples"] as? Int == 16)
            let best = try SafeTensorsFile.read(path: trainer.runDirectory + "/best.safetensors")
            #expect(MeasuredCheckpoint(path: "best.safetensors", metadata: best.metadata).description == "best by W-Robust on the test split (epoch 1)")
        }
    }
}

extension StudyConfigs {
    @Test func studyEpsIsAcceptedAsAFractionAndKeptAsTextInEachPoint() throws {
        let dir = TempDir()
        let path = try writeStudy(dir, grid: ["eps": ["4/255", 0.05]],
                                  evaluation: ["attacks": "fgsm", "limit": 16, "eps": "8/255"])
        let study = try StudyConfig.load(path: path)
        #expect(study.evaluation.epsilon?.text == "8/255" && study.evaluation.eps == Float(8.0 / 255.0))
        let points = try study.points()
        #expect(points.map { $0.config.attack.epsilon?.text } == ["4/255", "0.05"])
        #expect(points[0].config.attack.eps == Float(4.0 / 255.0))
        expectRefusal(try writeStudy(dir, grid: ["eps": ["4/255", "four"]]), field: "grid.eps[1]",
                      "expected a number ≥ 0 such as 0.1, or a fraction such as \"8/255\", found \"four\"")
        expectRefusal(try writeStudy(dir, grid: ["seeds": [1]], evaluation: ["eps": "1/0"]), field: "evaluation.eps",
                      "found \"1/0\"")
    }
}
