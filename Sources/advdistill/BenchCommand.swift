import ArgumentParser
import Attacks
import Distillation
import Engine
import Foundation
import NN

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure engine throughput (images/s) on this machine: forward, training step, PGD-10, B-MTARD step.",
        discussion: """
        The workloads match bench/torch_reference.py, so `make bench-compare` can put PyTorch beside us.
        GFLOP/s counts conv/linear multiply-adds ×2 (forward and every backward product); the peak is
        this machine's measured sgemm rate over all workers (1024³, after a warm-up).
        """)

    @Option(help: "Seconds per workload (at least 2 iterations each).")
    var seconds: Double = 3
    @Option(help: "Only this model (smallcnn or resnet18).")
    var only: String?
    @Option(help: "Also write the rows as JSON to this file.")
    var json: String?
    @OptionGroup var common: CommonOptions

    struct Row: Codable {
        var model: String, batch: Int, workload: String
        var imagesPerSecond: Double, gflops: Double, fractionOfPeak: Double, peakRSSMB: Double
    }

    struct Output: Codable {
        var framework: String, machine: String, workers: Int, sgemmPeakGFLOPS: Double, rows: [Row]
    }

    func run() throws {
        try common.apply()
        let peak = measureSgemmPeak()
        print(String(format: "machine: %@; %d workers; sgemm peak %.1f GFLOP/s", MachineInfo.summary, Compute.workers, peak))
        print("model      batch  workload        images/s    GFLOP/s  of peak   peak RSS")
        var rows: [Row] = []
        let plan: [(String, Int, Int, Int, [String])] = [
            ("smallcnn", 128, 1, 28, ["forward", "train", "pgd10", "bmtard"]),
            ("resnet18", 64, 3, 32, ["forward", "train"]),
        ]
        for (arch, batch, channels, size, loads) in plan where only == nil || only == arch {
            var rng = SeededGenerator(seed: 0)
            let spec = ModelSpec(arch: arch, numClasses: 10, inChannels: channels, inputSize: size)
            let model = try ModelZoo.make(spec, rng: &rng)
            let x = Tensor.uniform([batch, channels, size, size], 0, 1, using: &rng)
            let y = (0..<batch).map { $0 % 10 }
            let sgd = SGD(parameters: model.parameters, learningRate: 0.01, momentum: 0.9, weightDecay: 2e-4)
            for load in loads {
                let work: () throws -> Void
                switch load {
                case "forward":
                    work = { _ = withNoGrad { model.forward(x, training: false) } }
                case "train":
                    work = {
                        sgd.zeroGrad()
                        crossEntropy(model.forward(x, training: true), labels: y).backward()
                        sgd.step()
                    }
                case "pgd10":
                    var pgd = PGD(eps: 0.1, stepSize: 0.025, steps: 10, start: .uniform)
                    pgd.keepBest = false
                    work = { var r = rng; _ = pgd.perturb(model, x, labels: y, rng: &r) }
                default:  // bmtard: the real method on a student with two teachers of the same architecture
                    let step = try bmtardStep(spec: spec, x: x, labels: y)
                    work = step
                }
                let row = try measure(arch: arch, batch: batch, load: load, peak: peak, work)
                rows.append(row)
                print(String(format: "%-10@ %5d  %-12@ %11.1f %10.1f %7.0f%%  %7.0f MB", arch, batch, load,
                             row.imagesPerSecond, row.gflops, 100 * row.fractionOfPeak, row.peakRSSMB))
            }
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let out = Output(framework: "advdistill", machine: MachineInfo.summary, workers: Compute.workers,
                             sgemmPeakGFLOPS: peak, rows: rows)
            try encoder.encode(out).write(to: URL(fileURLWithPath: json))
        }
    }

    func measure(arch: String, batch: Int, load: String, peak: Double, _ work: () throws -> Void) throws -> Row {
        try work()  // warm-up: buffers reach the pool, BLAS warms up
        let f0 = FLOPCounter.count
        let start = Date()
        var n = 0
        repeat { try work(); n += 1 } while Date().timeIntervalSince(start) < seconds || n < 2
        let elapsed = Date().timeIntervalSince(start)
        let gflops = Double(FLOPCounter.count - f0) / elapsed / 1e9
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Row(model: arch, batch: batch, workload: load, imagesPerSecond: Double(n * batch) / elapsed,
                   gflops: gflops, fractionOfPeak: gflops / peak, peakRSSMB: Double(usage.ru_maxrss) / 1024)
    }

    func bmtardStep(spec: ModelSpec, x: Tensor, labels: [Int]) throws -> () throws -> Void {
        var rng = SeededGenerator(seed: 1)
        let student = try ModelZoo.make(spec, rng: &rng)
        let teachers = Teachers(natural: try ModelZoo.make(spec, rng: &rng), robust: try ModelZoo.make(spec, rng: &rng))
        for t in [teachers.natural!, teachers.robust!] { for p in t.parameters { p.requiresGrad = false } }
        let method = try MethodRegistry.bench(name: "bmtard", eps: 0.1, stepSize: 0.025, steps: 10)
        let sgd = SGD(parameters: student.parameters, learningRate: 0.01, momentum: 0.9, weightDecay: 2e-4)
        var context = StepContext(epoch: 0, batchIndex: 0, numClasses: 10, teachers: teachers, rng: rng)
        return {
            sgd.zeroGrad()
            method.step(student: student, x: x, labels: labels, context: &context).loss.backward()
            sgd.step()
        }
    }

    /// sgemm GFLOP/s over all workers on 1024³ (the bound every GEMM-based kernel here lives under).
    func measureSgemmPeak() -> Double {
        let n = 1024
        let a = Tensor(repeating: 1, shape: [n, n]), b = Tensor(repeating: 0.5, shape: [n, n]), c = Tensor(zeros: [n, n])
        gemm(a.data, b.data, c.data, m: n, n: n, k: n)
        var best = 0.0
        for _ in 0..<5 {
            let t = Date()
            gemm(a.data, b.data, c.data, m: n, n: n, k: n)
            best = max(best, 2 * Double(n * n * n) / Date().timeIntervalSince(t) / 1e9)
        }
        return best
    }
}
