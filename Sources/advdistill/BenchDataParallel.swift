import Attacks
import Distillation
import Engine
import Foundation
import NN

/// `advdistill bench --data-parallel`, alone (1 rank, its --threads) or under `mpirun -np N` (N ranks): the
/// data-parallel training step as the trainer runs it — each rank its slice of the global batch, backward of
/// the share-weighted loss, one flat allreduce of every gradient and BN statistic, the SGD step — for the
/// smallcnn B-MTARD step (global batch 128) and the resnet18 training step (global batch 64). Rank 0 prints,
/// per workload, the global images/s, the time per step, the part of it spent in the allreduce, and the
/// allreduce alone on a buffer of that model's gradient size (mean of repeated calls).
struct DataParallelBench {
    let seconds: Double
    let json: String?
    let communicator: any Communicator

    struct Row: Codable {
        var model: String, workload: String, globalBatch: Int, ranks: Int, threadsPerRank: Int
        var imagesPerSecond: Double, secondsPerStep: Double, allreduceSecondsPerStep: Double
        var gradientFloats: Int, allreduceAloneSeconds: Double
    }

    func run() throws {
        let comm = communicator
        var rows: [Row] = []
        if comm.isRoot {
            print("data-parallel step: \(comm.size) rank\(comm.size == 1 ? "" : "s") × \(Compute.workers) thread\(Compute.workers == 1 ? "" : "s"); \(MachineInfo.summary)")
            print("model     workload  global batch   images/s   s/step   allreduce/step   gradient floats   allreduce alone")
        }
        for (arch, load, batch, channels, size) in [("smallcnn", "bmtard", 128, 1, 28), ("resnet18", "train", 64, 3, 32)] {
            var rng = SeededGenerator(seed: 0)
            let spec = ModelSpec(arch: arch, numClasses: 10, inChannels: channels, inputSize: size)
            let student = try ModelZoo.make(spec, rng: &rng)
            let xGlobal = Tensor.uniform([batch, channels, size, size], 0, 1, using: &rng)
            let rows_ = shardRange(count: batch, rank: comm.rank, size: comm.size)
            let x = xGlobal.gatherBatch(Array(rows_))
            let y = rows_.map { $0 % 10 }
            let share = Float(rows_.count) / Float(batch)
            let sgd = SGD(parameters: student.parameters, learningRate: 0.01, momentum: 0.9, weightDecay: 2e-4)
            let loss: () -> Tensor
            if load == "bmtard" {
                let teachers = Teachers(natural: try ModelZoo.make(spec, rng: &rng), robust: try ModelZoo.make(spec, rng: &rng))
                for t in [teachers.natural!, teachers.robust!] { for p in t.parameters { p.requiresGrad = false } }
                let method = try MethodRegistry.bench(name: "bmtard", eps: 0.1, stepSize: 0.025, steps: 10)
                var context = StepContext(epoch: 0, batchIndex: 0, numClasses: 10, teachers: teachers, rng: rng)
                context.exampleKeys = rows_.map { UInt64($0) }
                context.globalMean = { values in
                    guard comm.size > 1 else { return values }
                    var v = values.map { $0 * Double(share) }
                    comm.allreduceSum(&v)
                    return v
                }
                loss = { method.step(student: student, x: x, labels: y, context: &context).loss }
            } else {
                loss = { crossEntropy(student.forward(x, training: true), labels: y) }
            }
            let buffers = student.state.filter { !$0.isParameter && !$0.key.hasSuffix("num_batches_tracked") }.map(\.tensor)
            var reduceTime = 0.0
            var floats = 0
            let step = {
                sgd.zeroGrad()
                (comm.size > 1 ? share * loss() : loss()).backward()
                let tensors = student.parameters.compactMap(\.grad) + buffers
                floats = tensors.reduce(0) { $0 + $1.count }
                if comm.size > 1 {
                    let t0 = Date()
                    var flat = [Float](repeating: 0, count: floats)
                    var at = 0
                    for t in tensors { flat.withUnsafeMutableBufferPointer { ($0.baseAddress! + at).update(from: t.data, count: t.count) }; at += t.count }
                    comm.allreduceSum(&flat)
                    at = 0
                    for t in tensors { flat.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress! + at, count: t.count) }; at += t.count }
                    reduceTime += Date().timeIntervalSince(t0)
                }
                sgd.step()
            }
            step()  // warm-up
            reduceTime = 0
            // Every rank runs the same number of steps: rank 0 decides when the time is up.
            var steps = 0
            let start = Date()
            while true {
                step(); steps += 1
                let more = comm.broadcast([steps < 2 || Date().timeIntervalSince(start) < seconds ? 1 : 0], root: 0)
                if more == [0] { break }
            }
            let elapsed = Date().timeIntervalSince(start)
            // The allreduce alone on a buffer of this size (no compute in between): mean of 20 calls.
            var probe = [Float](repeating: 1, count: floats)
            comm.allreduceSum(&probe)
            let t0 = Date()
            for _ in 0..<20 { comm.allreduceSum(&probe) }
            let alone = Date().timeIntervalSince(t0) / 20
            let row = Row(model: arch, workload: load, globalBatch: batch, ranks: comm.size, threadsPerRank: Compute.workers,
                          imagesPerSecond: Double(steps * batch) / elapsed, secondsPerStep: elapsed / Double(steps),
                          allreduceSecondsPerStep: reduceTime / Double(steps), gradientFloats: floats, allreduceAloneSeconds: alone)
            rows.append(row)
            if comm.isRoot {
                print(String(format: "%-9@ %-8@ %12d %10.1f %8.3f %13.2f ms %17d %14.2f ms", arch, load, batch, row.imagesPerSecond,
                             row.secondsPerStep, 1000 * row.allreduceSecondsPerStep, floats, 1000 * alone))
            }
        }
        if let json, communicator.isRoot {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(rows).write(to: URL(fileURLWithPath: json))
        }
    }
}
