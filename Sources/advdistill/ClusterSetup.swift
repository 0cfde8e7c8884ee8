import ArgumentParser
import Cluster
import Engine
import Foundation

/// The processes this command runs as: one (`SingleProcess`, MPI never initialised) unless an MPI launcher
/// started it (`MPICommunicator.launchedByMPI`: mpirun, or srun with PMIx). Set once in `main`, before any
/// command runs; the commands hand it to the trainer and the evaluator.
enum ClusterSetup {
    nonisolated(unsafe) private(set) static var communicator: any Communicator = SingleProcess()

    /// `ADVDISTILL_MPI_TIMEOUT`: seconds a collective may wait for the other ranks (default 600) before the
    /// job is aborted naming the waiting rank; `ADVDISTILL_MPI_CHUNK`: elements per MPI call (tests).
    static func start() {
        let env = ProcessInfo.processInfo.environment
        guard MPICommunicator.launchedByMPI(env) else { return }
        let mpi = MPICommunicator(timeout: env["ADVDISTILL_MPI_TIMEOUT"].flatMap(Double.init) ?? 600,
                                  chunkLimit: env["ADVDISTILL_MPI_CHUNK"].flatMap(Int.init) ?? Int(Int32.max))
        communicator = mpi
    }

    /// Commands that write files and have no data-parallel form refuse to run as several ranks (each would do
    /// the whole job and write the same files).
    static func requireOneProcess(_ command: String) throws {
        let size = communicator.size
        guard size == 1 else {
            throw ValidationError("advdistill \(command) runs as one process, not under mpirun (\(size) ranks); only train and eval run data-parallel")
        }
    }

    /// Ends the process after the command. One process: as ArgumentParser would. Several: a success (or a
    /// stop every rank agreed on, such as a signal's exit code) finalizes MPI on every rank; an error is
    /// printed (by rank 0, or, if rank 0 has not ended the job within 5 s, by the rank that had it) and
    /// aborts the job, so that no rank is left waiting in a collective.
    static func finish(_ error: Error?) -> Never {
        guard let mpi = communicator as? MPICommunicator, mpi.size > 1 else {
            if let error { AdvDistill.exit(withError: error) }
            AdvDistill.exit()
        }
        let code = error.map { AdvDistill.exitCode(for: $0).rawValue } ?? 0
        if error == nil || error is ExitCode || error is CleanExit {
            if mpi.isRoot || error is CleanExit, let error, !(error is ExitCode) { print(AdvDistill.fullMessage(for: error)) }
            mpi.finalize()
            exit(code)
        }
        let message = AdvDistill.fullMessage(for: error!)
        if mpi.isRoot { mpi.abort(message, code: code == 0 ? 1 : code) }
        // Another rank: most errors (a bad option, a config error) happen on every rank alike, and rank 0
        // reports them and aborts the job, which ends this process during the wait. An error of this rank
        // alone is printed after it, naming the rank. RootFailed: rank 0 reports why.
        sleep(5)
        mpi.abort(error is RootFailed ? "advdistill: rank \(mpi.rank) of \(mpi.size): rank 0 stopped"
                                      : "advdistill (rank \(mpi.rank) of \(mpi.size)): \(message)", code: code == 0 ? 1 : code)
    }
}

/// `advdistill cluster-check`: the collectives on known inputs, for `make test` under `mpirun -np 2`. Each rank
/// contributes values that depend on its rank; rank 0 prints one JSON object of what came back (the test
/// compares it with sums computed by hand). Hidden: it checks an installation, it is not a user's task.
struct ClusterCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-check", abstract: "Run the MPI collectives on known inputs (tests).", shouldDisplay: false)

    @Option(help: "Length of the reduced buffers.")
    var count = 10

    func run() throws {
        let comm = ClusterSetup.communicator
        let r = comm.rank
        // Rank r contributes f_r[i] = i + 100·r (floats and doubles) and max-reduces r·i.
        var floats = (0..<count).map { Float($0 + 100 * r) }
        var doubles = (0..<count).map { Double($0) + 0.5 + Double(100 * r) }
        var ints = (0..<count).map { Int32(r * $0) }
        comm.allreduceSum(&floats)
        comm.allreduceSum(&doubles)
        comm.allreduceMax(&ints)
        let fromRoot = comm.broadcast(r == 0 ? Array("root".utf8) : [], root: 0)
        let gathered = comm.gather(Array(repeating: UInt8(r), count: r + 1), root: 0)
        let chunk = ProcessInfo.processInfo.environment["ADVDISTILL_MPI_CHUNK"].flatMap(Int.init) ?? Int(Int32.max)
        guard comm.isRoot else { return }
        let report: [String: Any] = [
            "size": comm.size, "floats": floats.map(Double.init), "doubles": doubles, "max": ints.map(Int.init),
            "broadcast": String(decoding: fromRoot, as: UTF8.self), "gathered": gathered!.map { $0.map(Int.init) },
            "chunks": collectiveChunks(count: count, limit: chunk).count,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
