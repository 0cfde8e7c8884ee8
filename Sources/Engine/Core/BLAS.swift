import CBLAS

/// Row-major single-precision GEMM on the calling thread: C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C.
/// One single-threaded OpenBLAS `cblas_sgemm` call: for callers that already run one GEMM per worker.
/// `parallelGEMM` computes the same product split over the workers.
@inline(__always)
public func serialGEMM(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                       m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0,
                       transA: Bool = false, transB: Bool = false,
                       lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil) {
    _ = Compute.blasPinned
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda ?? (transA ? m : k)),
                b, Int32(ldb ?? (transB ? k : n)), beta, c, Int32(ldc ?? n))
}

/// The same GEMM as `serialGEMM`, cut into `Compute.parts` row blocks of C (when `m` is the larger side) or
/// column blocks (when `n` is), each block an independent `serialGEMM`, run in parallel; below 4 MFLOP, or
/// with fewer than 8 rows (columns) per block, one call. The cut depends on the sizes alone, never on the
/// worker count, so every `--threads` computes each element in the same call of the same size.
public func parallelGEMM(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                         m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0,
                         transA: Bool = false, transB: Bool = false) {
    let flops = 2 * m * n * k
    let side = max(m, n), parts = min(Compute.parts, max(1, side / 8))
    if parts <= 1 || flops < 4_000_000 {
        serialGEMM(a, b, c, m: m, n: n, k: k, alpha: alpha, beta: beta, transA: transA, transB: transB)
        return
    }
    let lda = transA ? m : k, ldb = transB ? k : n
    nonisolated(unsafe) let (pa, pb, pc) = (a, b, c)
    if m >= n {
        // Rows of C ↔ rows of op(A): A's row i starts at a + i*lda (no trans) or column i (trans).
        parallelSlices(m, slots: parts) { _, r in
            let aOff = transA ? r.lowerBound : r.lowerBound * lda
            serialGEMM(pa + aOff, pb, pc + r.lowerBound * n, m: r.count, n: n, k: k, alpha: alpha, beta: beta,
                       transA: transA, transB: transB, lda: lda, ldb: ldb, ldc: n)
        }
    } else {
        parallelSlices(n, slots: parts) { _, r in
            let bOff = transB ? r.lowerBound * ldb : r.lowerBound
            serialGEMM(pa, pb + bOff, pc + r.lowerBound, m: m, n: r.count, k: k, alpha: alpha, beta: beta,
                       transA: transA, transB: transB, lda: lda, ldb: ldb, ldc: n)
        }
    }
}
