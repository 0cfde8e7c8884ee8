import Dispatch
import CBLAS

/// Process-wide compute settings. Set once at start-up (the CLI's `--threads`), read by kernels.
public enum Compute {
    nonisolated(unsafe) private static var _workers = max(1, ProcessInfoShim.activeProcessorCount)
    /// Number of threads the kernels run on (`--threads`). Results never depend on it: see `parts`.
    public static var workers: Int { _workers }

    /// Into how many parts the kernels cut work where the cut reaches a float sum: a convolution's or a
    /// GEMM's rows (OpenBLAS's value for an element depends on the size of the call that computes it:
    /// `sgemm` of 200 rows and the same rows as two calls of 100 differ in the last bits) and per-part
    /// weight-gradient sums. Fixed, not the worker count, so that a run gives the same numbers bit for bit
    /// with any `--threads` (ThreadCountInvarianceTests): one worker runs the parts one after the other.
    /// Two: the cores of the machines this was tuned and measured on, so that numbers made there with two
    /// threads (the demo's, the bench's) stand; runs made with `--threads 1` before parts existed (the
    /// studies) are reproduced by the builds their READMEs pin. The price: those kernels (convolutions,
    /// large GEMMs) keep at most two threads busy; elementwise kernels, pooling, batch norm and depthwise
    /// convolutions split over every worker.
    public static let parts = 2

    /// Sets the worker count. OpenBLAS is pinned to one thread: we parallelise around it
    /// (by image or by row block), one level of parallelism, as the recipe measured equal speed
    /// and no oversubscription.
    public static func configure(workers: Int) {
        _workers = max(1, workers)
        _ = blasPinned
    }

    static let blasPinned: Void = { openblas_set_num_threads(1) }()

    /// The name OpenBLAS picked for this CPU (e.g. "Zen").
    public static var blasCore: String { String(cString: openblas_get_corename()) }
}

import Foundation
enum ProcessInfoShim {
    static var activeProcessorCount: Int { ProcessInfo.processInfo.activeProcessorCount }
}

/// Calls `body` on disjoint subranges covering `0..<n`, in parallel when the work is large enough.
/// `grain` is the smallest number of items worth giving a worker.
@inline(__always)
public func parallelFor(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = min(Compute.workers, max(1, n / max(grain, 1)))
    if chunks <= 1 || n <= 1 {
        if n > 0 { body(0..<n) }
        return
    }
    let size = (n + chunks - 1) / chunks
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let b = body
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * size, hi = min(n, lo + size)
            if lo < hi { b(lo..<hi) }
        }
    }
}

/// Splits `0..<n` into `slots` contiguous ranges run in parallel, and tells each body which slot it
/// is: slot `k` owns the `k`-th scratch buffer. The ranges depend on `n` and `slots` alone; with fewer workers than
/// slots a worker runs several, one after the other.
@inline(__always)
func parallelSlices(_ n: Int, slots: Int, _ body: (_ slot: Int, _ range: Range<Int>) -> Void) {
    guard n > 0 && slots > 0 else { return }
    let size = (n + slots - 1) / slots
    parallelFor(slots, grain: 1) { r in
        for slot in r where slot * size < n { body(slot, slot * size..<min(n, (slot + 1) * size)) }
    }
}

/// Elementwise work is worth splitting above this many floats (below, thread wake-up dominates).
public let elementwiseGrain = 32_768
