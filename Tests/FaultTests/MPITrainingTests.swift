import Foundation
import NN
import Testing

/// `mpirun -np 2 advdistill train|eval` against the same command in one process, and under faults.
@Suite(.serialized) struct MPITrainingTests {
    /// name → values of every tensor of a checkpoint (weights, BN statistics, optimizer state).
    func tensors(_ path: String) throws -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: try SafeTensorsFile.read(path: path).entries.map { ($0.name, $0.values) })
    }

    /// The largest difference between the model tensors (weights and BN statistics, not optimizer
    /// buffers) of two checkpoints, relative to each tensor's largest magnitude: over the batch-norm shifts
    /// (`bn*.bias`) and over every other tensor.
    func modelDifference(_ a: String, _ b: String) throws -> (shifts: Float, others: Float) {
        let (x, y) = (try tensors(a), try tensors(b))
        #expect(Set(x.keys) == Set(y.keys))
        var shifts: Float = 0, others: Float = 0
        for (key, u) in x where !key.hasPrefix("advdistill.") && !key.hasSuffix("num_batches_tracked") {
            let v = try #require(y[key])
            let scale = max(u.map(abs).max() ?? 0, 1e-12)
            let worst = zip(u, v).map { abs($0 - $1) / scale }.max() ?? 0
            if key.hasPrefix("bn") && key.hasSuffix(".bias") { shifts = max(shifts, worst) } else { others = max(others, worst) }
        }
        return (shifts, others)
    }

    /// Two steps of smallcnn with `sync_bn` on 2 ranks (global batch 63: slices of 32 and 31, so the share
    /// weighting matters) against the same steps in one process. Float sums in another order (per-rank partial
    /// sums, OpenBLAS calls of other sizes) differ in the last bits, and a ReLU or max-pool decision within that of
    /// a tie can go the other way and send one gradient down another path. The batch-norm shifts start at zero and
    /// take two small steps, so such a flip moves them most: measured when the Winograd products became fused
    /// multiply-adds, `bn1.bias` by 4.2e-3 of its largest value and `bn2.bias` by 2.3e-3, every other tensor by
    /// at most 4.9e-4 (`conv3.weight`); before, with no flip, 1.3e-6 in all. Tolerances: 2e-2 for the shifts,
    /// 2e-3 for the rest. Per-rank BN statistics (no sync_bn), the control, must differ far more (measured: 0.18
    /// in the shifts, 0.017 in `fc1.weight`): the test would notice synchronised BN not being synchronised.
    @Test func syncBNStepsOnTwoRanksEqualOneRankWithTheSameGlobalBatch() throws {
        let w = try Workspace(side: 16, train: 126, test: 32)
        let settings: [String: Any] = ["batch_size": 63, "optimizer.lr": 0.02, "sync_bn": true, "eval.limit": 16]
        let one = try w.config("one", epochs: 1, changes: settings.merging(["output": w.sub("one")]) { $1 })
        let two = try w.config("two", epochs: 1, changes: settings.merging(["output": w.sub("two")]) { $1 })
        let perRank = try w.config("per-rank", epochs: 1,
                                   changes: settings.merging(["output": w.sub("per-rank"), "sync_bn": false]) { $1 })
        let a = try w.run(["train", "--config", one, "--threads", "1"])
        #expect(a.exitStatus == 0, "\(a.log)")
        let b = try w.mpirun(ranks: 2, ["train", "--config", two, "--threads", "1"])
        #expect(b.exitStatus == 0, "\(b.log)")
        let c = try w.mpirun(ranks: 2, ["train", "--config", perRank, "--threads", "1"])
        #expect(c.exitStatus == 0, "\(c.log)")
        let synced = try modelDifference(w.sub("one/run/checkpoint.safetensors"), w.sub("two/run/checkpoint.safetensors"))
        let unsynced = try modelDifference(w.sub("one/run/checkpoint.safetensors"), w.sub("per-rank/run/checkpoint.safetensors"))
        #expect(synced.shifts < 2e-2 && synced.others < 2e-3, "sync_bn on 2 ranks differs from 1 rank by \(synced)")
        #expect(unsynced.shifts > 5 * 2e-2 && unsynced.others > 5 * 2e-3, "per-rank BN differs from 1 rank by only \(unsynced)")
        // The epoch's loss (the mean over the global batches) agrees too; only rank 0 wrote metrics.
        let (l1, l2) = (try #require(try metricsLines(w.sub("one/run")).first?["train_loss"] as? Double),
                        try #require(try metricsLines(w.sub("two/run")).first?["train_loss"] as? Double))
        #expect(abs(l1 - l2) < 1e-4 * abs(l1), "train_loss \(l1) vs \(l2)")
        #expect(!b.log.contains("rank 1"), "rank 1 printed: \(b.log)")
    }

    /// eval.json from 2 ranks is the 1-rank file: accuracies, per-class, per-example masks, the ε sweep and
    /// the gallery, with an AutoAttack-style cumulative suite; only timings and the machine record differ.
    @Test func evalJSONFromTwoRanksEqualsOneRank() throws {
        let w = try Workspace(side: 16, train: 64, test: 70)
        let cfg = try w.config(epochs: 1)
        let t = try w.run(["train", "--config", cfg, "--threads", "1"])
        #expect(t.exitStatus == 0, "\(t.log)")
        let checkpoint = w.sub("runs/run/checkpoint.safetensors")
        func eval(_ out: String) -> [String] {
            ["eval", "--checkpoint", checkpoint, "--data", w.data, "--eps", "0.1", "--attacks", "fgsm,aa",
             "--limit", "24", "--batch-size", "8", "--eps-sweep", "0,0.1", "--json", out, "--threads", "1"]
        }
        let a = try w.run(eval(w.sub("one.json")))
        #expect(a.exitStatus == 0, "\(a.log)")
        let b = try w.mpirun(ranks: 2, eval(w.sub("two.json")))
        #expect(b.exitStatus == 0, "\(b.log)")
        func load(_ p: String) throws -> [String: Any] {
            var o = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: p))) as? [String: Any])
            for k in ["seconds", "created", "machine"] { o[k] = nil }
            o["attacks"] = (o["attacks"] as? [[String: Any]])?.map { $0.filter { !["seconds", "images_per_second"].contains($0.key) } }
            return o
        }
        let (x, y) = (try load(w.sub("one.json")), try load(w.sub("two.json")))
        #expect(NSDictionary(dictionary: x).isEqual(to: y), "eval.json differs between 1 and 2 ranks")
        // The masks are there and say something: some examples fooled, and as many robust as the accuracy says.
        let attacks = try #require(x["attacks"] as? [[String: Any]])
        let count = try #require(x["attack_count"] as? Int)
        for attack in attacks {
            let mask = try #require(attack["robust"] as? String)
            let bits = try #require(decodeMask(mask, count: count))
            let accuracy = try #require(attack["accuracy"] as? Double)
            #expect(abs(Double(bits.filter { $0 }.count) / Double(count) - accuracy) < 1e-12)
        }
        #expect(x["worst_case_robust"] as? String != nil && x["clean_correct"] as? String != nil)
    }

    /// kill -9 of one rank ends the job (mpirun sees the rank die) within a bound and leaves the last
    /// checkpoint loadable; the 2-rank run resumed from it ends where the uninterrupted 2-rank run does,
    /// tensor for tensor (weights, BN statistics, optimizer state).
    @Test func killedRankEndsTheJobAndTheResumedRunEqualsTheUninterruptedOne() throws {
        let w = try Workspace(side: 16, train: 192, test: 32)
        let settings: [String: Any] = ["batch_size": 32, "eval.limit": 16]
        let whole = try w.config("whole", epochs: 5, changes: settings.merging(["output": w.sub("whole")]) { $1 })
        let cut = try w.config("cut", epochs: 5, changes: settings.merging(["output": w.sub("cut")]) { $1 })
        let reference = try w.mpirun(ranks: 2, ["train", "--config", whole, "--threads", "1"])
        #expect(reference.exitStatus == 0, "\(reference.log)")

        let job = try w.launchMPI(ranks: 2, ["train", "--config", cut, "--threads", "1"])
        let checkpoint = w.sub("cut/run/checkpoint.safetensors")
        #expect(waitUntil(job, timeout: 120) { FileManager.default.fileExists(atPath: checkpoint) }, "no checkpoint: \(job.log)")
        let ranks = try #require(rankProcesses(of: job.pid), "no rank processes under mpirun")
        #expect(ranks.count == 2)
        let killed = Date()
        kill(ranks.last!, SIGKILL)
        _ = waitUntil(job, timeout: 60) { false }
        let took = Date().timeIntervalSince(killed)
        #expect(!job.isRunning && took < 60, "the job ran on \(took) s after a rank was killed")
        job.stop()
        #expect(job.exitStatus != 0, "\(job.log)")
        #expect(job.log.contains("rank 1"), "mpirun's message names the rank: \(job.log)")
        // No rank is left behind (waiting in a collective, or holding the run's lock).
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, ranks.contains(where: isAlive) { usleep(100_000) }
        #expect(!ranks.contains(where: isAlive), "a rank outlived the job: \(ranks.filter(isAlive))")
        let position = try checkpointPosition(checkpoint)
        #expect(position.epoch >= 1)

        let resumed = try w.mpirun(ranks: 2, ["train", "--config", cut, "--threads", "1", "--resume"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        let (x, y) = (try tensors(w.sub("whole/run/checkpoint.safetensors")), try tensors(checkpoint))
        #expect(x.keys.sorted() == y.keys.sorted())
        for (key, values) in x { #expect(values == y[key], "\(key) differs after resuming") }
    }

    /// SIGTERM to mpirun (which passes it to the ranks) still saves one checkpoint: the ranks agree to stop at
    /// the same batch, rank 0 writes, and the checkpoint loads.
    @Test func sigtermToMPIRunSavesACheckpoint() throws {
        let w = try Workspace(side: 16, train: 512, test: 32)
        let cfg = try w.config(epochs: 40, changes: ["batch_size": 16, "eval.limit": 16])
        let job = try w.launchMPI(ranks: 2, ["train", "--config", cfg, "--threads", "1"])
        // The first epoch's line (the log is not a terminal, so there is no progress bar): training runs.
        #expect(waitUntil(job, timeout: 120) { job.log.contains("epoch 1: loss") }, "training did not start: \(job.log)")
        kill(job.pid, SIGTERM)
        _ = waitUntil(job, timeout: 60) { false }
        #expect(!job.isRunning, "mpirun still runs 60 s after SIGTERM")
        job.stop()
        // The signal lands in a training batch or, on a slow day, in an epoch's evaluation: both save the checkpoint.
        let inEvaluation = job.log.contains("interrupted before the end of the evaluation of epoch")
        #expect(job.log.contains("interrupted: checkpoint saved") || inEvaluation, "\(job.log)")
        let position = try checkpointPosition(w.sub("runs/run/checkpoint.safetensors"))
        #expect(position.epoch < 40)
        // A checkpoint of 2 ranks resumes in one process too, at the same global batch.
        let resumed = try w.run(["train", "--config", cfg, "--threads", "1", "--resume", "--epochs", "\(position.epoch + 1)"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        let stage = inEvaluation ? "the evaluation of epoch" : "epoch"
        #expect(resumed.log.contains("resuming run at \(stage) \(position.epoch + 1)"), "\(resumed.log)")
        #expect(try metricsEpochs(w.sub("runs/run")) == Array(1...(position.epoch + 1)))
    }

    /// A rank that stops answering (SIGSTOP: alive, so mpirun sees nothing) does not leave the others waiting
    /// forever: after ADVDISTILL_MPI_TIMEOUT seconds in a collective (whichever it is waiting in), the waiting rank
    /// aborts the job naming itself and the collective.
    @Test func aStalledRankEndsTheJobAfterTheCollectiveTimeout() throws {
        let w = try Workspace(side: 16, train: 512, test: 32)
        let cfg = try w.config(epochs: 40, changes: ["batch_size": 16, "eval.limit": 16])
        setenv("ADVDISTILL_MPI_TIMEOUT", "3", 1)
        defer { unsetenv("ADVDISTILL_MPI_TIMEOUT") }
        let job = try w.launchMPI(ranks: 2, ["train", "--config", cfg, "--threads", "1"], export: ["ADVDISTILL_MPI_TIMEOUT"])
        #expect(waitUntil(job, timeout: 120) { job.log.contains("epoch 1: loss") }, "training did not start: \(job.log)")
        let ranks = try #require(rankProcesses(of: job.pid))
        kill(ranks.last!, SIGSTOP)
        let stopped = Date()
        _ = waitUntil(job, timeout: 60) { false }
        let took = Date().timeIntervalSince(stopped)
        for pid in ranks { kill(pid, SIGKILL) }
        job.stop()
        #expect(took < 60, "the job still ran \(took) s after a rank stalled")
        #expect(job.log.contains("rank 0 of 2 waited 3 s in "), "\(job.log)")
    }

    /// Bad input met through the CLI: a non-boolean sync_bn names the key; more ranks than training
    /// examples names data.train; a global batch smaller than the rank count names batch_size.
    @Test func badDataParallelSettingsAreErrorsNamingTheKey() throws {
        let w = try Workspace(side: 8, train: 2, test: 8)
        let notBool = try w.config("not-bool", epochs: 1, changes: ["sync_bn": "yes"])
        let r1 = try w.run(["train", "--config", notBool])
        #expect(r1.exitStatus != 0 && r1.log.contains("sync_bn") && r1.log.contains("true or false"), "\(r1.log)")

        let tooMany = try w.config("too-many", epochs: 1, batchSize: 2, changes: ["data.val_fraction": 0])
        let r2 = try w.mpirun(ranks: 3, ["train", "--config", tooMany, "--threads", "1"])
        #expect(r2.exitStatus != 0 && r2.log.contains("data.train") && r2.log.contains("3 ranks"), "\(r2.log)")

        let w2 = try Workspace(side: 8, train: 16, test: 8)
        let small = try w2.config("small", epochs: 1, batchSize: 1)
        let r3 = try w2.mpirun(ranks: 2, ["train", "--config", small, "--threads", "1"])
        #expect(r3.exitStatus != 0 && r3.log.contains("batch_size") && r3.log.contains("2 ranks"), "\(r3.log)")
    }
}

/// Whether process `pid` exists and is not a zombie.
func isAlive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
    return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

/// The processes mpirun started (its children), or nil.
func rankProcesses(of parent: pid_t) -> [pid_t]? {
    guard let text = try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8) else { return nil }
    let pids = text.split(separator: " ").compactMap { pid_t($0) }
    return pids.isEmpty ? nil : pids.sorted()
}

/// The bits of an eval.json mask (`ExampleMask`: base64, bit i of byte i/8, least significant first).
func decodeMask(_ text: String, count: Int) -> [Bool]? {
    guard let data = Data(base64Encoded: text), data.count * 8 >= count else { return nil }
    return (0..<count).map { data[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }
}
