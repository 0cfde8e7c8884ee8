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
        The workloads match bench/torch_reference.py, so `make bench-compare` can put PyTorch beside us \
        (bench/README.md). Each workload runs for --seconds, split into --windows windows; the best window is \
        reported (other processes on a shared machine only ever slow a window down).

        GFLOP/s counts the FLOPs of direct convolution and of linear layers (2 per multiply-add, forward and every \
        backward product), whatever kernel ran: a layer computed with Winograd's fewer multiplications can exceed \
        100 % of the peak, which is this machine's sgemm rate over all workers (1024³, best of 10).

        Peak RSS is the process's high-water mark during that workload alone (reset before it, pooled buffers \
        released); (tensors) is the most tensor storage in use at once, the part the workload needs (RSS adds \
        pooled idle buffers, code and libraries). CPU img/s = images per CPU-second × workers: the rate on \
        otherwise idle cores, steadier than wall time on a loaded machine.
        """)

    @Option(help: "Seconds per workload (at least 2 iterations per window).")
    var seconds: Double = 3
    @Option(help: "Windows per workload; the best is reported.")
    var windows: Int = 3
    @Option(help: "Fixed iterations per window instead of --seconds (for profiling with perf stat).")
    var iterations: Int?
    @Option(help: "Only this model (smallcnn or resnet18).")
    var only: String?
    @Option(help: "Only this workload (forward, train, pgd10 or bmtard).")
    var workload: String?
    @Flag(help: ArgumentHelp("Also time B-MTARD as in the paper's CIFAR setting: a resnet18 student, two wrn-34-10 teachers, batch 128 (one measured step; minutes). For its peak memory."))
    var wrnTeachers = false
    @Flag(help: "After each workload, time a few more steps op by op and print where the time goes.")
    var profile = false
    @Option(help: "Also write the rows as JSON to this file.")
    var json: String?
    @Flag(help: "Time the data-parallel training step instead (smallcnn B-MTARD, resnet18 train): alone, or as N ranks under mpirun -np N, with the allreduce per step (make bench-mpi).")
    var dataParallel = false
    @OptionGroup var common: CommonOptions

    struct Row: Codable {
        var model: String, batch: Int, workload: String
        var imagesPerSecond: Double, gflops: Double, fractionOfPeak: Double, peakRssMb: Double
        var peakTensorMb: Double, flopsPerImage: Double, cpuImagesPerSecond: Double
    }

    struct Output: Codable {
        var framework: String, machine: String, blasCore: String, workers: Int, sgemmPeakGflops: Double, rows: [Row]
    }

    func validate() throws {
        guard seconds > 0, windows >= 1 else { throw ValidationError("--seconds must be > 0 and --windows ≥ 1") }
    }

    func run() throws {
        try common.apply()
        if dataParallel {
            return try DataParallelBench(seconds: seconds, json: json, communicator: ClusterSetup.communicator).run()
        }
        let peak = measureSgemmPeak()
        print("machine: \(MachineInfo.summary); \(Compute.workers) workers")
        print("OpenBLAS core: \(BLASCore.provenance)")
        print(String(format: "sgemm peak (1024³, all workers): %.1f GFLOP/s", peak))
        print("model     batch  workload    images/s    GFLOP/s  of peak   peak RSS  (tensors)   CPU img/s")
        var rows: [Row] = []
        var plan: [(String, Int, Int, Int, [String])] = [
            ("smallcnn", 128, 1, 28, ["forward", "train", "pgd10", "bmtard"]),
            ("resnet18", 64, 3, 32, ["forward", "train"]),
        ]
        if wrnTeachers { plan.append(("resnet18+wrn-34-10", 128, 3, 32, ["bmtard"])) }
        for (arch, batch, channels, size, loads) in plan where only == nil || only == arch {
            let student = arch.hasPrefix("resnet18") ? "resnet18" : arch
            let teacher = arch.hasSuffix("wrn-34-10") ? "wrn-34-10" : student
            var rng = SeededGenerator(seed: 0)
            let spec = ModelSpec(arch: student, numClasses: 10, inChannels: channels, inputSize: size)
            let model = try ModelZoo.make(spec, rng: &rng)
            let x = Tensor.uniform([batch, channels, size, size], 0, 1, using: &rng)
            let y = (0..<batch).map { $0 % 10 }
            let sgd = SGD(parameters: model.parameters, learningRate: 0.01, momentum: 0.9, weightDecay: 2e-4)
            for load in loads where workload == nil || workload == load {
                releasePooledMemory()
                resetPeakRSS()
                resetPeakTensorBytes()
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
                default:  // bmtard: the real method on a student with two teachers (same architecture unless --wrn-teachers)
                    var teacherSpec = spec
                    teacherSpec.arch = teacher
                    work = try bmtardStep(spec: spec, teacher: teacherSpec, x: x, labels: y)
                }
                let slow = student != teacher  // the wrn-34-10 row: one step per window, one window
                let row = try measure(arch: arch, batch: batch, load: load, peak: peak, windows: slow ? 1 : windows,
                                      iterations: slow ? 1 : iterations, work)
                rows.append(row)
                print(String(format: "%-9@ %5d  %-8@ %11.1f %10.1f %7.0f%%  %6.0f MB %7.0f MB %11.1f", arch, batch, load,
                             row.imagesPerSecond, row.gflops, 100 * row.fractionOfPeak, row.peakRssMb,
                             row.peakTensorMb, row.cpuImagesPerSecond))
                if profile { try printProfile(work) }
            }
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let out = Output(framework: "advdistill", machine: MachineInfo.summary, blasCore: BLASCore.current,
                             workers: Compute.workers, sgemmPeakGflops: peak, rows: rows)
            try encoder.encode(out).write(to: URL(fileURLWithPath: json))
        }
    }

    /// Runs `work` once to warm up (buffers reach the pool, BLAS warms up), then `windows` windows of
    /// seconds/windows each; the best window's rate is reported.
    func measure(arch: String, batch: Int, load: String, peak: Double, windows: Int, iterations: Int?,
                 _ work: () throws -> Void) throws -> Row {
        try work()
        var best: (rate: Double, flopsPerStep: Double, cpuRate: Double) = (0, 0, 0)
        for _ in 0..<windows {
            let f0 = FLOPCounter.count, cpu0 = cpuSeconds(), start = Date()
            var n = 0
            repeat { try work(); n += 1 } while iterations.map({ n < $0 }) ?? (Date().timeIntervalSince(start) < seconds / Double(windows) || n < 2)
            let elapsed = Date().timeIntervalSince(start), cpu = cpuSeconds() - cpu0
            let rate = Double(n * batch) / elapsed
            if rate > best.rate { (best.rate, best.flopsPerStep) = (rate, Double(FLOPCounter.count - f0) / Double(n)) }
            best.cpuRate = max(best.cpuRate, Double(n * batch) / (cpu / Double(Compute.workers)))
        }
        let gflops = best.flopsPerStep * best.rate / Double(batch) / 1e9
        return Row(model: arch, batch: batch, workload: load, imagesPerSecond: best.rate, gflops: gflops,
                   fractionOfPeak: gflops / peak, peakRssMb: peakRSSMegabytes(),
                   peakTensorMb: Double(tensorBytes.peak) / 1_048_576,
                   flopsPerImage: best.flopsPerStep / Double(batch), cpuImagesPerSecond: best.cpuRate)
    }

    /// Runs `work` for about a second (at least 2 steps) with `OpProfile` on and prints each op's
    /// share of the step: ∂ marks backward closures; "other" is the rest (optimizer, autograd
    /// bookkeeping, ops without a measured kernel). Then how often the Winograd convolutions had to
    /// transform their weights (inside the conv lines' time): a step whose weights do not change
    /// (forward, pgd10) should look them up only.
    func printProfile(_ work: () throws -> Void) throws {
        let counts = winogradWeightTransforms
        OpProfile.start()
        let start = Date()
        var steps = 0
        repeat { try work(); steps += 1 } while Date().timeIntervalSince(start) < 1 || steps < 2
        let total = Date().timeIntervalSince(start)
        let ops = OpProfile.stop()
        let measured = ops.reduce(0) { $0 + $1.seconds }
        func line(_ seconds: Double, _ calls: Int?, _ name: String) {
            let perStep = calls.map { String(format: "%5.1f×", Double($0) / Double(steps)) } ?? "      "
            print(String(format: "      %7.2f ms %5.1f%%  %@  %@", 1000 * seconds / Double(steps), 100 * seconds / total,
                         perStep, name))
        }
        for op in ops.prefix(16) { line(op.seconds, op.calls, op.name) }
        if ops.count > 16 { line(ops.dropFirst(16).reduce(0) { $0 + $1.seconds }, nil, "\(ops.count - 16) more ops") }
        line(total - measured, nil, "other")
        let (lookups, transforms) = (winogradWeightTransforms.lookups - counts.lookups,
                                     winogradWeightTransforms.transforms - counts.transforms)
        print(String(format: "      Winograd weight transforms: %.1f per step (of %.1f lookups)",
                     Double(transforms) / Double(steps), Double(lookups) / Double(steps)))
    }

    func bmtardStep(spec: ModelSpec, teacher: ModelSpec, x: Tensor, labels: [Int]) throws -> () throws -> Void {
        var rng = SeededGenerator(seed: 1)
        let student = try ModelZoo.make(spec, rng: &rng)
        let teachers = Teachers(natural: try ModelZoo.make(teacher, rng: &rng), robust: try ModelZoo.make(teacher, rng: &rng))
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

    /// sgemm GFLOP/s over all workers on 1024³ (the bound every GEMM-based kernel here lives under),
    /// best of 10 after a warm-up.
    func measureSgemmPeak() -> Double {
        let n = 1024
        let a = Tensor(repeating: 1, shape: [n, n]), b = Tensor(repeating: 0.5, shape: [n, n]), c = Tensor(zeros: [n, n])
        parallelGEMM(a.data, b.data, c.data, m: n, n: n, k: n)
        var best = 0.0
        for _ in 0..<10 {
            let t = Date()
            parallelGEMM(a.data, b.data, c.data, m: n, n: n, k: n)
            best = max(best, 2 * Double(n * n * n) / Date().timeIntervalSince(t) / 1e9)
        }
        return best
    }
}

/// User + system CPU seconds of this process (all threads).
private func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Resets the kernel's resident-set high-water mark (VmHWM) to the current RSS (Linux ≥ 4.0;
/// elsewhere the peak stays the process's lifetime peak).
private func resetPeakRSS() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

/// VmHWM from /proc/self/status in MB, or the lifetime peak from getrusage where that is missing.
private func peakRSSMegabytes() -> Double {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kb = Double(line.split(separator: " ").dropFirst().first ?? "") {
        return kb / 1024
    }
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}
