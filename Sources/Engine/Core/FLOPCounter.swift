import Synchronization

/// Counts the floating-point operations of the GEMM-shaped work (conv2d and linear, forward and each
/// backward product: 2 per multiply-add), so that `bench` can state achieved GFLOP/s against the measured
/// sgemm peak. Elementwise work is not counted (it is memory-bound). Always on: one atomic add per op.
public enum FLOPCounter {
    static let total = Atomic<Int>(0)

    @inline(__always)
    public static func add(_ flops: Int) { total.add(flops, ordering: .relaxed) }

    /// FLOPs counted since the process started.
    public static var count: Int { total.load(ordering: .relaxed) }
}
