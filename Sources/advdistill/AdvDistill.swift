import ArgumentParser
import Engine
import Foundation

@main
struct AdvDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advdistill",
        abstract: "Train, attack-evaluate and report robust image classifiers distilled from a clean and a robust teacher (B-MTARD).",
        discussion: """
        The three jobs, and studies of many runs:
          train a teacher or a student from a JSON config
            advdistill train --config Configs/fmnist-bmtard.json
          attack-evaluate a checkpoint (clean, FGSM, PGD, CW, AutoAttack-style)
            advdistill eval --checkpoint runs/x/best.safetensors \\
                --data /usr/share/datasets/fashion-mnist --eps 0.1
          compare runs (or show a study) in one self-contained HTML page
            advdistill report runs/a runs/b --out runs/report
          a grid of runs (seeds, methods, budgets), reported as mean ± sd
            advdistill study --config Configs/study-fmnist-budget.json
          deploy a model with ONNX Runtime
            advdistill export --checkpoint runs/x/best.safetensors --onnx student.onnx
        """,
        subcommands: [Train.self, Eval.self, Report.self, StudyCommand.self, ExportCommand.self, Predict.self, Init.self, Inspect.self,
                      DataCommand.self, Bench.self, ClusterCheck.self])

    static func main() {
        setUpSignals()
        relaunchWithFasterBLASIfBeneficial()
        // Under mpirun (or srun) every rank runs this same command; MPI is initialised only then.
        ClusterSetup.start()
        do {
            var command = try parseAsRoot(nil)
            try command.run()
            ClusterSetup.finish(nil)
        } catch {
            ClusterSetup.finish(error)
        }
    }
}

/// Start-up step: signals as the commands expect them, whatever the parent process left.
/// - SIGINT and SIGTERM unblocked: a parent may start us with them blocked (Foundation's `Process` blocks
///   nearly every signal in its children), and then Ctrl-C and `kill` would do nothing at all.
/// - SIGXFSZ ignored: past a file-size limit (`ulimit -f`) a write would kill the process, leaving a
///   temporary file and no message; ignored, the write fails with EFBIG and the error names the file.
private func setUpSignals() {
    var stops = sigset_t()
    sigemptyset(&stops)
    sigaddset(&stops, SIGINT)
    sigaddset(&stops, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &stops, nil)
    signal(SIGXFSZ, SIG_IGN)
}

/// Start-up step: on a CPU with AVX-512 that OpenBLAS does not recognise (it then runs its AVX2
/// "Haswell" kernels at half speed), set `OPENBLAS_CORETYPE=SkylakeX` and re-execute this binary with
/// the same arguments. The variable is only read by OpenBLAS's load-time constructor, which has run
/// by now, hence the re-exec (before anything else happens, so nothing is lost). It happens at most
/// once: the relaunched process has `OPENBLAS_CORETYPE` and a marker set, and `coreToForce` declines
/// both. Opt out with `ADVDISTILL_BLAS_AUTO=0`. See `BLASCore` for the measurements.
private func relaunchWithFasterBLASIfBeneficial() {
    let current = BLASCore.current
    guard let core = BLASCore.coreToForce(environment: ProcessInfo.processInfo.environment,
                                          cpuFlags: BLASCore.cpuFlags(), currentCore: current) else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    setenv(BLASCore.relaunchMarker, current, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // Only reached if exec failed: carry on with the kernels we have.
    let reason = String(cString: strerror(errno))
    unsetenv("OPENBLAS_CORETYPE"); unsetenv(BLASCore.relaunchMarker)
    FileHandle.standardError.write(Data("advdistill: could not relaunch with OPENBLAS_CORETYPE=\(core) (\(reason)); using \(current)\n".utf8))
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Worker threads for the compute kernels (default: all cores). Speed only: results are the same bit for bit with any count (convolutions and large GEMMs use at most 2 threads).")
    var threads: Int?

    func apply() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1, got \(threads)") }
            Compute.configure(workers: threads)
        } else {
            Compute.configure(workers: Compute.workers)
        }
    }
}

/// Parses "0.1", "8/255" or "2e-3".
func parseNumber(_ s: String) -> Float? { Epsilon(parsing: s)?.value }

/// An ε option: "0.1" or "8/255", ≥ 0; else a usage error naming the option and what it expects.
func parseEpsilon(_ s: String, option: String) throws -> Epsilon {
    guard let e = Epsilon(parsing: s), e.value >= 0 else {
        throw ValidationError("\(option): expected \(Epsilon.expected), got '\(s)'")
    }
    return e
}

/// A comma-separated list of ε ("0,4/255,8/255"), each as `parseEpsilon` wants it.
func parseEpsilonList(_ s: String, option: String) throws -> [Epsilon] {
    try s.split(separator: ",").map { try parseEpsilon($0.trimmingCharacters(in: .whitespaces), option: option) }
}
