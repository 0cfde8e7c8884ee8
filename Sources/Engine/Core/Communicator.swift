import Foundation

/// The processes of one data-parallel job and the collectives they agree through.
///
/// The trainer (gradient allreduce, agreed balancer state, agreed stops) and the evaluator (sharded
/// examples) call these without knowing whether MPI is underneath: `SingleProcess` is the identity (one
/// rank, every collective returns its input), `MPICommunicator` (module `Cluster`) is Open MPI.
/// Every rank must call the same collectives in the same order with the same buffer lengths.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, 0..<size. Rank 0 writes the files and the progress.
    var rank: Int { get }
    var size: Int { get }
    /// In place: every rank ends with the elementwise sum over ranks. Any length (split into chunks
    /// that fit MPI's Int32 counts).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// In place: the elementwise maximum over ranks.
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int32>)
    /// Rank `root`'s bytes, on every rank.
    func broadcast(_ bytes: [UInt8], root: Int) -> [UInt8]
    /// Every rank's bytes, in rank order, on `root`; nil on the other ranks.
    func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]?
    /// Ends every process of the job with `code`, after printing `message` to standard error.
    func abort(_ message: String, code: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    public func allreduceSum(_ values: inout [Float]) { values.withUnsafeMutableBufferPointer { allreduceSum($0) } }
    public func allreduceSum(_ values: inout [Double]) { values.withUnsafeMutableBufferPointer { allreduceSum($0) } }
    public func allreduceMax(_ values: inout [Int32]) { values.withUnsafeMutableBufferPointer { allreduceMax($0) } }

    /// Whether `flag` is true on any rank.
    public func any(_ flag: Bool) -> Bool {
        var v: [Int32] = [flag ? 1 : 0]
        allreduceMax(&v)
        return v[0] != 0
    }

    /// Rank 0's outcome of `body` on every rank: rank 0 runs it (a decision that precedes writing, such as
    /// refusing to overwrite a run) and shares whether it threw; the other ranks throw `RootFailed` when it
    /// did, so that nobody goes on into a collective rank 0 will never join.
    public func onRoot<R>(_ body: () throws -> R) throws -> R? {
        guard size > 1 else { return try body() }
        if isRoot {
            do {
                let r = try body()
                _ = broadcast([1], root: 0)
                return r
            } catch {
                _ = broadcast([0], root: 0)
                throw error
            }
        }
        guard broadcast([], root: 0) == [1] else { throw RootFailed() }
        return nil
    }
}

/// Thrown on ranks other than 0 when rank 0 failed a step they wait for; rank 0 reports the reason.
public struct RootFailed: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "rank 0 stopped (its message says why)" }
}

/// One process: rank 0 of 1. Every collective returns its input; nothing is initialised.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int32>) {}
    public func broadcast(_ bytes: [UInt8], root: Int) -> [UInt8] { bytes }
    public func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]? { [bytes] }
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }
}

/// MPI counts are Int32: a buffer of more elements is reduced in consecutive chunks of at most `limit`.
/// `[0..<limit, limit..<2·limit, …]` covering 0..<count (empty for count 0).
public func collectiveChunks(count: Int, limit: Int = Int(Int32.max)) -> [Range<Int>] {
    precondition(limit > 0, "chunk limit must be positive")
    return stride(from: 0, to: count, by: limit).map { $0..<min($0 + limit, count) }
}

/// The rows of a global batch of `count` rows that rank `rank` of `size` takes: consecutive, the first
/// `count % size` ranks one more, so the global order is the ranks' slices one after another.
public func shardRange(count: Int, rank: Int, size: Int) -> Range<Int> {
    let base = count / size, extra = count % size
    let lo = rank * base + min(rank, extra)
    return lo..<(lo + base + (rank < extra ? 1 : 0))
}

