import CMPI
import Engine
import Foundation

/// Open MPI behind `Communicator`. Every collective is non-blocking (`MPI_Iallreduce`, …) and waited for
/// by polling `MPI_Test` against a deadline: a peer that died or hangs never leaves this rank blocked
/// forever; after `timeout` seconds it aborts the job with a message naming this rank and the collective.
/// (mpirun usually ends the job first, as soon as it sees a rank exit; the deadline is the backstop.)
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Seconds a collective may wait for the other ranks before the job is aborted.
    public let timeout: Double
    /// Elements per MPI call: MPI counts are Int32 (tests lower it to exercise the chunking).
    public var chunkLimit: Int
    /// The process that started this rank (mpirun's daemon); when it is gone the job is over.
    private let launcher = getppid()

    /// Whether this process was started by an MPI launcher: mpirun/mpiexec (`OMPI_COMM_WORLD_SIZE`),
    /// or a PMIx/PMI launcher such as SLURM's srun (`PMIX_RANK`, `PMI_RANK`). Without one, advdistill runs
    /// as one process and never initialises MPI.
    public static func launchedByMPI(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    /// Initialises MPI (serialized threads: only one thread at a time calls MPI). Call once per process.
    public init(timeout: Double = 600, chunkLimit: Int = Int(Int32.max)) {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &r)
        MPI_Comm_size(cmpi_comm_world(), &s)
        rank = Int(r); size = Int(s)
        self.timeout = timeout
        self.chunkLimit = chunkLimit
    }

    /// Ends MPI after a successful run (every rank must call it).
    public func finalize() { MPI_Finalize() }

    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)
    }

    /// Polls `request` until it completes, or aborts the job after `timeout` seconds.
    private func wait(_ request: inout MPI_Request?, _ what: String) {
        let deadline = Date().addingTimeInterval(timeout)
        var done: Int32 = 0, spins = 0
        while true {
            MPI_Test(&request, &done, cmpi_status_ignore())
            if done != 0 { return }
            spins += 1
            // Spin briefly (a collective among live peers completes in microseconds), then sleep between
            // polls so a waiting rank leaves the cores to the ranks still computing.
            if spins > 200 { usleep(50) }
            // mpirun gone (it ended the job but this rank outlived it, e.g. one that caught SIGTERM to save a
            // checkpoint): no collective can complete any more.
            if spins % 1000 == 0, getppid() != launcher {
                FileHandle.standardError.write(Data("advdistill: rank \(rank) of \(size): the launcher (mpirun, process \(launcher)) has ended while this rank waited in \(what); exiting\n".utf8))
                _exit(75)
            }
            if spins % 1000 == 0, Date() > deadline {
                abort("advdistill: rank \(rank) of \(size) waited \(Int(timeout)) s in \(what) for the other ranks (one has died or hangs); aborting the job",
                      code: 70)
            }
        }
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        reduce(buffer, type: cmpi_float(), op: cmpi_sum(), what: "allreduce (sum of \(buffer.count) floats)")
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        reduce(buffer, type: cmpi_double(), op: cmpi_sum(), what: "allreduce (sum of \(buffer.count) doubles)")
    }

    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int32>) {
        reduce(buffer, type: cmpi_int32(), op: cmpi_max(), what: "allreduce (max of \(buffer.count) ints)")
    }

    /// One in-place allreduce per chunk of at most `chunkLimit` elements.
    private func reduce<T>(_ buffer: UnsafeMutableBufferPointer<T>, type: MPI_Datatype?, op: MPI_Op?, what: String) {
        guard let base = buffer.baseAddress else { return }
        for chunk in collectiveChunks(count: buffer.count, limit: chunkLimit) {
            var request: MPI_Request? = cmpi_request_null()
            MPI_Iallreduce(cmpi_in_place(), base + chunk.lowerBound, Int32(chunk.count), type, op, cmpi_comm_world(), &request)
            wait(&request, what)
        }
    }

    public func broadcast(_ bytes: [UInt8], root: Int) -> [UInt8] {
        var count: [Int32] = [Int32(bytes.count)]
        var request: MPI_Request? = cmpi_request_null()
        count.withUnsafeMutableBytes {
            MPI_Ibcast($0.baseAddress, 1, cmpi_int32(), Int32(root), cmpi_comm_world(), &request)
            wait(&request, "broadcast (length)")
        }
        var data = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count[0]))
        guard !data.isEmpty else { return data }
        data.withUnsafeMutableBytes {
            MPI_Ibcast($0.baseAddress, Int32($0.count), cmpi_byte(), Int32(root), cmpi_comm_world(), &request)
            wait(&request, "broadcast (\($0.count) bytes)")
        }
        return data
    }

    public func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]? {
        var mine: [Int32] = [Int32(bytes.count)]
        var counts = [Int32](repeating: 0, count: size)
        var request: MPI_Request? = cmpi_request_null()
        mine.withUnsafeMutableBytes { m in
            counts.withUnsafeMutableBytes { c in
                MPI_Igather(m.baseAddress, 1, cmpi_int32(), c.baseAddress, 1, cmpi_int32(), Int32(root), cmpi_comm_world(), &request)
                wait(&request, "gather (lengths)")
            }
        }
        var displacements = [Int32](repeating: 0, count: size)
        for i in 1..<max(size, 1) { displacements[i] = displacements[i - 1] + counts[i - 1] }
        var all = [UInt8](repeating: 0, count: rank == root ? Int(counts.reduce(0, +)) : 0)
        var send = bytes
        send.withUnsafeMutableBytes { s in
            all.withUnsafeMutableBytes { a in
                counts.withUnsafeBufferPointer { c in
                    displacements.withUnsafeBufferPointer { d in
                        MPI_Igatherv(s.baseAddress, Int32(s.count), cmpi_byte(), a.baseAddress, c.baseAddress, d.baseAddress,
                                     cmpi_byte(), Int32(root), cmpi_comm_world(), &request)
                        wait(&request, "gather (\(s.count) bytes)")
                    }
                }
            }
        }
        guard rank == root else { return nil }
        return (0..<size).map { Array(all[Int(displacements[$0])..<Int(displacements[$0] + counts[$0])]) }
    }
}
