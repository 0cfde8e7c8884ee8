import Datasets
import Engine
import Foundation
import NN
import Testing
@testable import Distillation
#if canImport(Glibc)
import Glibc
#endif

/// PeerAiD's stochastic weight averaging of the student: the averaging rule and the BN statistics on hand-built
/// inputs, then in training runs (unchanged training, the saved model, best.safetensors, resume, config checks).
@Suite struct StochasticWeightAverageTests {
    static let spec = ModelSpec(arch: "tinycnn", numClasses: 10, inChannels: 1, inputSize: side)

    @Test func theAverageAfterKUpdatesIsTheMeanOfTheKSnapshots() throws {
        var rng = SeededGenerator(seed: 3)
        let student = try ModelZoo.make(Self.spec, rng: &rng)
        let average = try StochasticWeightAverage(spec: Self.spec, startFraction: 0)
        let buffers = average.model.state.filter { !$0.isParameter }.map(\.tensor.scalars)
        var snapshots: [[[Float]]] = []
        for k in 1...5 {
            // Hand-built weights: element i of parameter p in snapshot k.
            for (p, t) in student.parameters.enumerated() {
                for i in 0..<t.count { t.data[i] = Float(k * k) * 0.25 - Float((i * 7 + p * 3 + k) % 11) * 0.125 }
            }
            snapshots.append(student.parameters.map(\.scalars))
            average.add(student)
            #expect(average.count == k)
            var worst = 0.0
            for (p, t) in average.model.parameters.enumerated() {
                for i in 0..<t.count {
                    let mean = snapshots.reduce(0.0) { $0 + Double($1[p][i]) } / Double(k)
                    worst = max(worst, abs(Double(t.data[i]) - mean) / max(1, abs(mean)))
                }
            }
            #expect(worst <= 1e-6, "after \(k) snapshots the average is \(worst) from their mean")
            // The first update copies the snapshot (α = 1).
            if k == 1 { #expect(average.model.parameters.map(\.scalars) == snapshots[0]) }
        }
        // Only the parameters are averaged: the BN statistics are recomputed separately.
        #expect(average.model.state.filter { !$0.isParameter }.map(\.tensor.scalars) == buffers)
    }

    @Test func batchNormStatisticsAreRecomputedOverTheImagesWeightedByBatchSize() {
        let model = BatchNormOnly()
        let average = StochasticWeightAverage(model: model, startFraction: 0)
        // Batches of 3, 5 and 2 images [n, 2, 2, 2]: channel c of batch b around 2b + 10c.
        var rng = SeededGenerator(seed: 5)
        let batches = [3, 5, 2].enumerated().map { b, n in
            Tensor(shape: [n, 2, 2, 2], scalars: (0..<n * 8).map { i in Float(2 * b + 10 * (i / 4 % 2)) + Float(rng.next() % 1000) / 250 })
        }
        average.recomputeBatchNorm(batches)
        // By hand in Double: per channel μ_b and the unbiased σ²_b over batch b's n_b·H·W values, weighted by n_b/N.
        for c in 0..<2 {
            var mean = 0.0, variance = 0.0
            for x in batches {
                let n = x.shape[0]
                let values = (0..<n).flatMap { i in (0..<4).map { Double(x.scalars[(i * 2 + c) * 4 + $0]) } }
                let mu = values.reduce(0, +) / Double(values.count)
                let unbiased = values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(values.count - 1)
                mean += Double(n) / 10 * mu
                variance += Double(n) / 10 * unbiased
            }
            #expect(abs(Double(model.runningMean.scalars[c]) - mean) <= 1e-6 * abs(mean), "channel \(c): mean \(model.runningMean.scalars[c]), by hand \(mean)")
            #expect(abs(Double(model.runningVar.scalars[c]) - variance) <= 1e-6 * variance, "channel \(c): variance \(model.runningVar.scalars[c]), by hand \(variance)")
        }
        // num_batches_tracked counts on (the authors reset only the mean and variance); the layer's own momentum is back.
        #expect(model.batches.scalars == [3])
        #expect(BatchNormMomentum.override == nil)
        // The statistics before the pass (7 and 9 here) leave no trace: a second pass gives the same.
        let first = (model.runningMean.scalars, model.runningVar.scalars)
        average.recomputeBatchNorm(batches)
        #expect(model.runningMean.scalars == first.0 && model.runningVar.scalars == first.1)
    }

    @Test func averagingStartsAtTheFloorOfTheFractionOfTheEpochsAndGoesOn() throws {
        let average = try StochasticWeightAverage(spec: Self.spec, startFraction: 0.715)
        #expect(average.startEpoch(epochs: 300) == 214)   // the authors' first milestone of 300 epochs
        #expect(average.startEpoch(epochs: 5) == 3)
        #expect(average.startEpoch(epochs: 1) == 0)
        #expect(!average.averages(epoch: 2, epochs: 5) && average.averages(epoch: 3, epochs: 5))
        // Begun, it goes on: a run resumed with more epochs, whose start moved to 7, keeps averaging.
        average.count = 2
        #expect(average.averages(epoch: 5, epochs: 10))
    }

    // MARK: - Configs

    /// The error of loading a PeerAiD config with these method parameters; nil when it loads.
    func refusal(_ parameters: [String: Any], method: String = "peeraid") throws -> ConfigError? {
        let dir = TempDir()
        var object = try configObject(dir, method: method)
        for (key, value) in parameters { set(&object, "method.\(key)", value) }
        do { _ = try loadConfig(object, in: dir); return nil } catch let e as ConfigError { return e }
    }

    @Test func aBadSWAValueIsRefusedNamingTheField() throws {
        func field(_ e: ConfigError?) -> String? { if case let .invalid(field, _)? = e { field } else { nil } }
        let outside = try refusal(["swa_start": 1.5])
        #expect(field(outside) == "method.swa_start" && "\(outside!)".contains("must be in [0, 1), got 1.5"), "\(String(describing: outside))")
        #expect(field(try refusal(["swa_start": -0.25])) == "method.swa_start")
        #expect(field(try refusal(["swa_start": 1])) == "method.swa_start")
        let ineffective = try refusal(["swa": false, "swa_start": 0.5])
        #expect(field(ineffective) == "method.swa_start" && "\(ineffective!)".contains(#"has no effect with "swa": false"#), "\(String(describing: ineffective))")
        let notABool = try #require(try refusal(["swa": "yes"]))
        #expect("\(notABool)".contains("'method.swa'"), "\(notABool)")
        #expect(field(try refusal(["swa": true], method: "dgad")) == "method.swa")
        // Accepted: off, on with a start, a start alone.
        #expect(try refusal(["swa": false]) == nil)
        #expect(try refusal(["swa": true, "swa_start": 0]) == nil)
        #expect(try refusal(["swa_start": 0.5]) == nil)
    }
}

/// One batch norm over the input's 2 channels, the identity otherwise: its statistics are the input's.
final class BatchNormOnly: Model {
    let weight = Tensor(repeating: 1, shape: [2]), bias = Tensor(zeros: [2])
    let runningMean = Tensor(repeating: 7, shape: [2]), runningVar = Tensor(repeating: 9, shape: [2])
    let batches = Tensor(zeros: [])
    var spec: ModelSpec { ModelSpec(arch: "bn-only", numClasses: 2, inChannels: 2, inputSize: 2) }

    /// x: [N, 2, H, W] → same shape.
    func forward(_ x: Tensor, training: Bool) -> Tensor {
        batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                    numBatchesTracked: batches, training: training)
    }

    var state: [StateEntry] {
        [StateEntry(key: "bn.weight", tensor: weight, isParameter: true), StateEntry(key: "bn.bias", tensor: bias, isParameter: true),
         StateEntry(key: "bn.running_mean", tensor: runningMean, isParameter: false),
         StateEntry(key: "bn.running_var", tensor: runningVar, isParameter: false),
         StateEntry(key: "bn.num_batches_tracked", tensor: batches, isParameter: false)]
    }
}

/// SHA-256 over a run's checkpoint and best tensors (names and bit patterns, by name) and its metrics' losses
/// and accuracies (bit patterns): what training computed, without timing and metadata.
func trajectoryDigest(_ trainer: Trainer) throws -> String {
    var hash = SHA256()
    for path in [trainer.checkpointPath, trainer.bestPath] {
        for e in try SafeTensorsFile.read(path: path).entries.sorted(by: { $0.name < $1.name }) {
            hash.update(Array(e.name.utf8))
            for v in e.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { hash.update($0) } }
        }
    }
    for line in try metricsLines(trainer.runDirectory) {
        for key in ["train_loss", "clean_accuracy", "robust_accuracy", "w_robust"] {
            let v = (line[key] as? Double) ?? .nan
            withUnsafeBytes(of: v.bitPattern.littleEndian) { hash.update($0) }
        }
    }
    return hash.finalize()
}

extension TrainerRuns {
    /// PeerAiD runs with and without SWA on the synthetic data (4 batches an epoch).
    @Suite struct PeerAiDSWA {
        func trainer(_ dir: TempDir, epochs: Int, output: String, _ parameters: [String: Any] = [:]) throws -> Trainer {
            var object = try configObject(dir, method: "peeraid", epochs: epochs, output: output)
            set(&object, "data.augmentation", ["random_crop_padding": 1, "horizontal_flip": true])
            for (key, value) in parameters { set(&object, "method.\(key)", value) }
            return try Trainer(config: try loadConfig(object, in: dir))
        }

        func read(_ path: String) throws -> SafeTensorsFile { try SafeTensorsFile.read(path: path) }

        /// The file's model tensors (not under `advdistill.`), by name.
        func modelTensors(_ file: SafeTensorsFile) -> [String: [UInt32]] {
            Dictionary(uniqueKeysWithValues: file.entries.filter { !$0.name.hasPrefix(Checkpoint.reservedPrefix) }.map { ($0.name, $0.values.map(\.bitPattern)) })
        }

        /// Two runs' checkpoint.safetensors, best.safetensors, trainer state and metrics are the same bit for bit.
        func expectSameRun(_ a: Trainer, _ b: Trainer, sourceLocation: SourceLocation = #_sourceLocation) throws {
            for (pa, pb) in [(a.checkpointPath, b.checkpointPath), (a.bestPath, b.bestPath)] {
                let (fa, fb) = (try read(pa), try read(pb))
                #expect(fa.entries.map(\.name).sorted() == fb.entries.map(\.name).sorted(), sourceLocation: sourceLocation)
                for e in fa.entries {
                    #expect(fb[e.name]?.values.map(\.bitPattern) == e.values.map(\.bitPattern), "\(e.name) of \(pa)", sourceLocation: sourceLocation)
                }
            }
            var sa = try trainerState(try read(a.checkpointPath)), sb = try trainerState(try read(b.checkpointPath))
            sa.trainSeconds = 0; sb.trainSeconds = 0
            #expect(sa == sb, sourceLocation: sourceLocation)
            func untimed(_ t: Trainer) throws -> [NSDictionary] {
                try metricsLines(t.runDirectory).map { line in
                    var l = line
                    for key in ["seconds", "train_seconds", "eval_seconds", "images_per_second"] { l[key] = nil }
                    return l as NSDictionary
                }
            }
            #expect(try untimed(a) == untimed(b), sourceLocation: sourceLocation)
        }

        /// With `"swa": false`, PeerAiD trains, evaluates and saves exactly as before SWA existed: the digest
        /// was recorded from this config by the code of commit 74824f7 (x86-64 Linux; the Makefile's CPU flags
        /// do not change results), and recorded again when the engine's Winograd products for few channels moved
        /// from OpenBLAS to Swift SIMD (issue 18: another summation order; the SWA code did not change), by the
        /// code of that change, again when those products became fused multiply-adds (one rounding per term
        /// instead of two; issue 18), and again when the backward pass's products moved to them too (issue 18).
        /// A digest that moves with no engine change is a change in what PeerAiD does.
        @Test func swaOffTrainsEvaluatesAndSavesAsPeerAiDDidBeforeSWA() throws {
            let dir = TempDir()
            var object = try configObject(dir, method: "peeraid", epochs: 2, output: "a")
            set(&object, "method.swa", false)
            let t = try Trainer(config: try loadConfig(object, in: dir))
            #expect(try t.run() == .finished)
            let digest = try trajectoryDigest(t)
            #expect(digest == "d0df60cfa4ac0f1cd651abb2afb63c03b38dd4bc739ffd912bd8d53c5b0f5cfa", "digest \(digest)")
            #expect(!(try read(t.checkpointPath)).entries.contains { $0.name.hasPrefix(Trainer.trainedStudentPrefix) })
            #expect(try metricsLines(t.runDirectory).allSatisfy { $0["eval_model"] == nil })
        }

        @Test func theAverageIsTheRunsModelAndNeverChangesTraining() throws {
            let dir = TempDir()
            let off1 = try trainer(dir, epochs: 1, output: "off1", ["swa": false])
            let off = try trainer(dir, epochs: 2, output: "off", ["swa": false])
            let on = try trainer(dir, epochs: 2, output: "on", ["swa_start": 0])
            for t in [off1, off, on] { #expect(try t.run() == .finished) }
            let (fileOff, fileOn) = (try read(off.checkpointPath), try read(on.checkpointPath))

            // Training: the student (under advdistill.student.), the peer and both optimizers are those of the run without SWA.
            for e in fileOff.entries {
                let name = e.name.hasPrefix(Checkpoint.reservedPrefix) ? e.name : Trainer.trainedStudentPrefix + e.name
                #expect(fileOn[name]?.values.map(\.bitPattern) == e.values.map(\.bitPattern), "\(name)")
            }
            let losses = { (t: Trainer) in try metricsLines(t.runDirectory).map { $0["train_loss"] as? Double } }
            #expect(try losses(on) == losses(off))

            // The model: the mean of the students after epochs 1 and 2, its BN statistics from each epoch's images.
            let reference = try StochasticWeightAverage(spec: on.student.spec, startFraction: 0)
            let loader = BatchLoader(dataset: on.train, batchSize: on.config.batchSize, shuffle: true,
                                     augmentation: on.config.data.augmentation, seed: on.config.seed)
            for (epoch, path) in [off1.checkpointPath, off.checkpointPath].enumerated() {
                reference.add(try Checkpoint.loadModel(path: path).0)
                reference.recomputeBatchNorm(loader.batches(epoch: epoch).map(\.images))
            }
            let expected = modelTensors(Checkpoint.file(of: reference.model))
            #expect(modelTensors(fileOn) == expected)
            #expect(modelTensors(fileOn) != modelTensors(fileOff), "the average is not the last student")
            #expect(try trainerState(fileOn).method == ["swa_count": 2])

            // It is what the run evaluated and chose best.safetensors from.
            #expect(try metricsLines(on.runDirectory).map { $0["eval_model"] as? String } == ["swa_student", "swa_student"])
            #expect(try trainerState(fileOn).bestModel == "swa_student")
            #expect(!(try read(on.bestPath)).entries.contains { $0.name.hasPrefix(Checkpoint.reservedPrefix) })
        }

        /// The first evaluation of the average replaces a best student whatever their W-Robust: best.safetensors
        /// is chosen among the average's evaluations alone once there are any.
        @Test func bestIsChosenAmongTheAveragesEvaluationsOnceAveragingBegins() throws {
            let dir = TempDir()
            var object = try configObject(dir, epochs: 3, output: "a")
            set(&object, "method", ["name": "shadowed"])
            let config = try RunConfig.parse(JSONSerialization.data(withJSONObject: object), source: "shadowed.json", methods: ShadowedNatural.registry)
            let t = try Trainer(config: config, methods: ShadowedNatural.registry)
            #expect(try t.run() == .finished)
            let lines = try metricsLines(t.runDirectory)
            #expect(lines.map { $0["eval_model"] as? String } == [nil, nil, "negated"])
            let w = lines.map { $0["w_robust"] as! Double }
            try #require(max(w[0], w[1]) > w[2], "premise: the negated model evaluates worse than a student (W-Robust \(w))")
            let best = try read(t.bestPath), last = try read(t.checkpointPath)
            #expect(modelTensors(best) == modelTensors(last), "best.safetensors holds the negated model of epoch 3")
            #expect(try trainerState(last).bestModel == "negated" && trainerState(last).bestWRobust == w[2])
        }

        @Test func twoEpochsStraightEqualOneThenResumeWithSWA() throws {
            let dir = TempDir()
            let straight = try trainer(dir, epochs: 2, output: "a", ["swa_start": 0])
            #expect(try straight.run() == .finished)
            #expect(try trainer(dir, epochs: 1, output: "b", ["swa_start": 0]).run() == .finished)
            let resumed = try trainer(dir, epochs: 2, output: "b", ["swa_start": 0])
            #expect(try resumed.run(resume: true) == .finished)
            try expectSameRun(straight, resumed)
            #expect(try trainerState(try read(resumed.checkpointPath)).method == ["swa_count": 2])
        }

        /// The default start (⌊0.715·2⌋ = 1): a signal during the last batch of epoch 2 stops after the average's
        /// update and before the evaluation; the resumed run evaluates without averaging that epoch again.
        @Test func aRunStoppedAfterTheAveragesUpdateResumesWithoutRepeatingIt() throws {
            let dir = TempDir()
            let straight = try trainer(dir, epochs: 2, output: "a")
            #expect(try straight.run() == .finished)
            #expect(try metricsLines(straight.runDirectory).map { $0["eval_model"] as? String } == [nil, "swa_student"])
            defer { Interruption.reset() }

            let first = try trainer(dir, epochs: 2, output: "b")
            first.beforeStep = { epoch, batch, _ in if epoch == 1 && batch == 3 { Interruption.simulate(SIGTERM) } }
            #expect(try first.run() == .interrupted(signal: SIGTERM))
            let stopped = try read(first.checkpointPath)
            let state = try trainerState(stopped)
            #expect(state.epoch == 1 && state.batch == 4 && state.method == ["swa_count": 1])
            #expect(stopped.entries.contains { $0.name.hasPrefix(Trainer.trainedStudentPrefix) })
            Interruption.reset()

            let second = try trainer(dir, epochs: 2, output: "b")
            var batches = 0
            second.beforeStep = { _, _, _ in batches += 1 }
            #expect(try second.run(resume: true) == .finished)
            #expect(batches == 0)
            try expectSameRun(straight, second)
        }
    }
}

/// Natural training whose evaluated model, from epoch 3 (0-based 2) on, is the student's negated copy:
/// a model that evaluates worse than the student it came from.
final class ShadowedNatural: Method {
    static let registry = MethodRegistry(methods: MethodRegistry.standard.methods + [
        MethodEntry("shadowed", "test only: natural training, then a negated copy of the student evaluated") { _ in ShadowedNatural() },
    ])

    let name = "shadowed"
    let copy: Model
    var copied = false

    init() {
        var rng = SeededGenerator(seed: 0)
        copy = try! ModelZoo.make(ModelSpec(arch: "tinycnn", numClasses: 10, inChannels: 1, inputSize: side), rng: &rng)
    }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let loss = crossEntropy(student.forward(x, training: true), labels: labels)
        return StepOutput(loss: loss, logs: [:])
    }

    func epochTrained(_ epoch: Int, epochs: Int, student: Model, images: AnySequence<Tensor>) {
        guard epoch >= 2 else { return }
        for (to, from) in zip(copy.state, student.state) { to.tensor.data.update(from: from.tensor.data, count: from.tensor.count) }
        copied = true
    }

    var evaluatedModel: EvaluatedModel? { copied ? EvaluatedModel(name: "negated", model: ScaledLogits(copy, scale: -1)) : nil }
}
