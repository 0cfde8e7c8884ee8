/// The 36 products of a Winograd convolution, M_ξ[tiles × Cout4] = V_ξ[tiles × Cin4] · U_ξ[Cin4 × Cout4],
/// in Swift SIMD for layers with few channels, where a BLAS call per ξ costs more around the product
/// than in it.
///
/// With Cin4 = 16 (tinycnn's 16 → 32 layer) each of a chunk's 36 GEMMs has an inner dimension of 16:
/// OpenBLAS then spends about as long zeroing C (beta = 0 is a pass of its own over the strided M) and
/// packing A and B as in its kernel (perf, APGD-T and Square on tinycnn, 2026-12-06: sgemm_beta 10–13 %,
/// the copies 10 %, the kernel 25–26 % of all samples). Here U_ξ is read from L1 or L2 (at most 64 KB for the
/// layers routed here) while every tile's row of V_ξ is read in place, and each block of outputs is written once.
/// The backward pass's two products, dU_ξ = V_ξᵀ dM_ξ and dV_ξ = dM_ξ U_ξᵀ, run on the same blocks.
///
/// Blocks of six tiles × sixteen output channels (twelve accumulators, two loads of U and six
/// broadcasts per input channel: fifteen of the sixteen AVX registers), then eight and four channels for
/// the last columns. A block that runs past the last tile recomputes the last tile for the missing rows and
/// stores only the real ones. Six rows rather than four: 1.00–1.13× less CPU for APGD-T (median 1.03, six
/// pairs, bench/README.md); the block's shape does not change any entry's sum, so the bits are the same.
/// Each M entry is Σ_k V[t, ξ, k]·U[ξ, k, j] summed in ascending k from zero, each term a fused
/// multiply-add (`addProduct`, rounded once): one instruction with `CPU_FLAGS` (the Makefile's Haswell
/// target), a call to libm's `fmaf` per lane without it, which is slower but rounds the same, so the bits
/// are the same in every build and on every run. Fused, one instruction replaces a multiply and an add:
/// APGD-T on the demo's tinycnn student took 1.09–1.15× less CPU than with the separate multiply and add
/// (bench/README.md), whose outputs differ from these in the last bits. OpenBLAS's kernels sum in another
/// order, so they differ too (the tests hold both kernels to the naive definition).

/// Which kernel computes a Winograd layer's products.
enum WinogradProductKernel: Sendable {
    /// One BLAS GEMM per position ξ.
    case blas
    /// `simdWinogradProducts`.
    case simd
}

extension WinogradGeometry {
    /// The SIMD products when the transformed weights of one position are at most 64 KB (Cin4·Cout4 ≤ 128·128
    /// floats); BLAS otherwise. History (bench/README.md, one thread, alternating pairs): at first only layers
    /// with Cin4 ≤ 32 and 8 KB of weights, as ResNet-18's 64 → 64 layers (16 KB) then lost 8–13 %; with fused
    /// multiply-adds and six-row blocks, the 64 → 32 dX convolutions (Cin4 = 64, 8 KB) gained (APGD-T 1.05–1.11×
    /// less CPU); and then the SIMD products beat BLAS up to 128 × 128 channels, forward and backward: ResNet-18's
    /// 64 → 64 layers 1.6×, 128 → 128 1.2–1.4×, smallcnn's 64 → 128 1.1–1.25×. At 256 × 256 (256 KB) the two were
    /// level, and at 512 × 512 (1 MB a position, ResNet-18's last stage: one tile per image) BLAS was 1.6× faster.
    var productKernel: WinogradProductKernel {
        cin4 * cout4 <= 128 * 128 ? .simd : .blas
    }
}

/// M_ξ = V_ξ · U_ξ for ξ in `positions` and tiles 0..<`tiles` of the chunk: V is `[tiles, 36, Cin4]`,
/// U `[36, Cin4, Cout4]`, M `[tiles, 36, Cout4]` (the layouts of Winograd.swift). The backward pass's
/// dV_ξ = dM_ξ · U_ξᵀ is this with dM for V, Uᵀ (`transposedPositions`) for U and the channel counts swapped.
func simdWinogradProducts(_ v: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                          tiles: Int, cin4: Int, cout4: Int, positions: Range<Int>) {
    let vRow = 36 * cin4, mRow = 36 * cout4
    let red = Reduction(count: cin4, aStride: 1, bStride: cout4, adding: false)
    for xi in positions {
        productRows(tiles, { v + $0 * vRow + xi * cin4 }, u + xi * cin4 * cout4, columns: cout4, red,
                    into: m + xi * cout4, rowStride: mRow)
    }
}

/// dU_ξ = V_ξᵀ · dM_ξ for ξ in `positions` (`adding`: dU_ξ += that), summed over tiles 0..<`tiles` of
/// the chunk in ascending order: V is `[tiles, 36, Cin4]`, dM `[tiles, 36, Cout4]`, dU `[36, Cin4, Cout4]`.
func simdWinogradWeightProducts(_ v: UnsafePointer<Float>, _ dm: UnsafePointer<Float>, _ du: UnsafeMutablePointer<Float>,
                                tiles: Int, cin4: Int, cout4: Int, positions: Range<Int>, adding: Bool) {
    let red = Reduction(count: tiles, aStride: 36 * cin4, bStride: 36 * cout4, adding: adding)
    for xi in positions {
        productRows(cin4, { v + xi * cin4 + $0 }, dm + xi * cout4, columns: cout4, red,
                    into: du + xi * cin4 * cout4, rowStride: cout4)
    }
}

/// U_ξᵀ for every position: `[36, Cout4, Cin4]` from U `[36, Cin4, Cout4]`.
func transposedPositions(_ u: UnsafePointer<Float>, cin4: Int, cout4: Int) -> Tensor {
    let t = Tensor(uninitializedShape: [36, cout4, cin4])
    for xi in 0..<36 {
        transposeMatrix(u + xi * cin4 * cout4, rows: cin4, cols: cout4, into: t.data + xi * cin4 * cout4, ld: cin4)
    }
    return t
}

/// out[r, 0..<columns] (+)= Σ_k A[r, k]·b[k·bStride + 0..<columns] for rows r in 0..<`rowCount` (out's rows
/// `rowStride` apart, `columns` a multiple of 4), where row r of A reads `row(r)[k·aStride]`: blocks of six
/// rows by sixteen, eight and four columns. A block that runs past the last row recomputes the last row for
/// the missing ones and stores only the real ones.
@inline(__always)
private func productRows(_ rowCount: Int, _ row: (Int) -> UnsafePointer<Float>, _ b: UnsafePointer<Float>, columns: Int,
                         _ red: Reduction, into out: UnsafeMutablePointer<Float>, rowStride: Int) {
    var t = 0
    while t < rowCount {
        let rows = min(6, rowCount - t)
        @inline(__always) func a(_ r: Int) -> UnsafePointer<Float> { row(t + r < rowCount ? t + r : rowCount - 1) }
        let vs = Rows6(a(0), a(1), a(2), a(3), a(4), a(5))
        let o = out + t * rowStride
        var j = 0
        while j + 16 <= columns {
            productBlock16(vs, b + j, red, rows: rows, into: o + j, rowStride: rowStride)
            j += 16
        }
        if j + 8 <= columns {
            productBlock8(vs, b + j, red, rows: rows, into: o + j, rowStride: rowStride)
            j += 8
        }
        if j < columns {  // columns is a multiple of 4: one block of four is left
            productBlock4(vs, b + j, red, rows: rows, into: o + j, rowStride: rowStride)
        }
        t += 6
    }
}

/// The six rows of A a block reads.
private struct Rows6 {
    let r0, r1, r2, r3, r4, r5: UnsafePointer<Float>
    @inline(__always) init(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>,
                           _ r3: UnsafePointer<Float>, _ r4: UnsafePointer<Float>, _ r5: UnsafePointer<Float>) {
        self.r0 = r0; self.r1 = r1; self.r2 = r2; self.r3 = r3; self.r4 = r4; self.r5 = r5
    }
}

/// The reduction a block runs: `count` terms, the k-th reading row r's scalar at `r_r + k·aStride` and
/// the columns at `b + k·bStride`; `adding`: the block's sums are added to what `out` holds (one more
/// rounding) instead of replacing it.
private struct Reduction {
    let count: Int, aStride: Int, bStride: Int
    let adding: Bool
}

/// Six rows × sixteen columns: out[r, 0..<16] (+)= Σ_k v_r[k·aStride]·b[k·bStride + 0..<16], in ascending k
/// from zero, stored for r < `rows`.
@inline(__always)
private func productBlock16(_ v: Rows6, _ b: UnsafePointer<Float>, _ red: Reduction, rows: Int,
                            into out: UnsafeMutablePointer<Float>, rowStride: Int) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>(), a4 = SIMD8<Float>(), a5 = SIMD8<Float>()
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>(), c4 = SIMD8<Float>(), c5 = SIMD8<Float>()
    var bk = b, k = 0
    for _ in 0..<red.count {
        let lo = load8(bk), hi = load8(bk, 8)
        bk += red.bStride
        var s = SIMD8<Float>(repeating: v.r0[k]); a0.addProduct(s, lo); c0.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r1[k]); a1.addProduct(s, lo); c1.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r2[k]); a2.addProduct(s, lo); c2.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r3[k]); a3.addProduct(s, lo); c3.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r4[k]); a4.addProduct(s, lo); c4.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r5[k]); a5.addProduct(s, lo); c5.addProduct(s, hi)
        k += red.aStride
    }
    storeRows((a0, a1, a2, a3, a4, a5), rows: rows, red, into: out, rowStride: rowStride)
    storeRows((c0, c1, c2, c3, c4, c5), rows: rows, red, into: out + 8, rowStride: rowStride)
}

/// Six rows × eight columns (as `productBlock16`).
@inline(__always)
private func productBlock8(_ v: Rows6, _ b: UnsafePointer<Float>, _ red: Reduction, rows: Int,
                           into out: UnsafeMutablePointer<Float>, rowStride: Int) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>(), a4 = SIMD8<Float>(), a5 = SIMD8<Float>()
    var bk = b, k = 0
    for _ in 0..<red.count {
        let lo = load8(bk)
        bk += red.bStride
        a0.addProduct(SIMD8<Float>(repeating: v.r0[k]), lo)
        a1.addProduct(SIMD8<Float>(repeating: v.r1[k]), lo)
        a2.addProduct(SIMD8<Float>(repeating: v.r2[k]), lo)
        a3.addProduct(SIMD8<Float>(repeating: v.r3[k]), lo)
        a4.addProduct(SIMD8<Float>(repeating: v.r4[k]), lo)
        a5.addProduct(SIMD8<Float>(repeating: v.r5[k]), lo)
        k += red.aStride
    }
    storeRows((a0, a1, a2, a3, a4, a5), rows: rows, red, into: out, rowStride: rowStride)
}

/// Six rows × four columns (as `productBlock16`; one function per vector width, see `positivePart` in SIMD.swift).
@inline(__always)
private func productBlock4(_ v: Rows6, _ b: UnsafePointer<Float>, _ red: Reduction, rows: Int,
                           into out: UnsafeMutablePointer<Float>, rowStride: Int) {
    var a0 = SIMD4<Float>(), a1 = SIMD4<Float>(), a2 = SIMD4<Float>(), a3 = SIMD4<Float>(), a4 = SIMD4<Float>(), a5 = SIMD4<Float>()
    var bk = b, k = 0
    for _ in 0..<red.count {
        let lo = load4(bk)
        bk += red.bStride
        a0.addProduct(SIMD4<Float>(repeating: v.r0[k]), lo)
        a1.addProduct(SIMD4<Float>(repeating: v.r1[k]), lo)
        a2.addProduct(SIMD4<Float>(repeating: v.r2[k]), lo)
        a3.addProduct(SIMD4<Float>(repeating: v.r3[k]), lo)
        a4.addProduct(SIMD4<Float>(repeating: v.r4[k]), lo)
        a5.addProduct(SIMD4<Float>(repeating: v.r5[k]), lo)
        k += red.aStride
    }
    storeRows((a0, a1, a2, a3, a4, a5), rows: rows, red, into: out, rowStride: rowStride)
}

/// A block's six rows of sums, `rowStride` apart from `out` on, the first `rows` of them stored (the others are a
/// repeated last row); with `red.adding`, each added to what `out` holds there. Generic over the vector width
/// because it runs once per block, after the reduction (the reductions stay one function per width).
@inline(__always)
private func storeRows<V: SIMD>(_ a: (V, V, V, V, V, V), rows: Int, _ red: Reduction, into out: UnsafeMutablePointer<Float>,
                                rowStride: Int) where V.Scalar == Float {
    @inline(__always) func put(_ v: V, _ r: Int) {
        storeVector(red.adding ? v + loadVector(out, r * rowStride) : v, out, r * rowStride)
    }
    put(a.0, 0)
    if rows > 1 { put(a.1, 1) }
    if rows > 2 { put(a.2, 2) }
    if rows > 3 { put(a.3, 3) }
    if rows > 4 { put(a.4, 4) }
    if rows > 5 { put(a.5, 5) }
}
