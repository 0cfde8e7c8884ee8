/// The 36 products of a Winograd convolution, M_ξ[tiles × Cout4] = V_ξ[tiles × Cin4] · U_ξ[Cin4 × Cout4],
/// in Swift SIMD for layers with few channels, where a BLAS call per ξ costs more around the product
/// than in it.
///
/// With Cin4 = 16 (tinycnn's 16 → 32 layer) each of a chunk's 36 GEMMs has an inner dimension of 16:
/// OpenBLAS then spends about as long zeroing C (beta = 0 is a pass of its own over the strided M) and
/// packing A and B as in its kernel (perf, APGD-T and Square on tinycnn, 2026-12-06: sgemm_beta 10–13 %,
/// the copies 10 %, the kernel 25–26 % of all samples). Here U_ξ (at most 8 KB for the layers routed here)
/// stays in L1 while every tile's row of V_ξ is read in place, and each block of outputs is written once.
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
    /// The SIMD products when the transformed weights of one position fit in L1 (Cin4·Cout4 ≤ 32·64
    /// floats, 8 KB); BLAS otherwise. Measured one thread, alternating pairs (bench/README.md): smallcnn's
    /// 32 → 64 layer gains, ResNet-18's 64 → 64 layers (16 KB) lose 8–13 %. With fused multiply-adds and
    /// six-row blocks the SIMD products also beat BLAS at an inner dimension of 64 when the weights fit:
    /// the dX convolutions 64 → 32 of tinycnn's and smallcnn's middle layers, APGD-T 1.05–1.11× less CPU
    /// (median 1.09, four pairs); until then they went to BLAS (Cin4 ≤ 32 was also required).
    var productKernel: WinogradProductKernel {
        cin4 * cout4 <= 32 * 64 ? .simd : .blas
    }
}

/// M_ξ = V_ξ · U_ξ for ξ in `positions` and tiles 0..<`tiles` of the chunk: V is `[tiles, 36, Cin4]`,
/// U `[36, Cin4, Cout4]`, M `[tiles, 36, Cout4]` (the layouts of Winograd.swift).
func simdWinogradProducts(_ v: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                          tiles: Int, cin4: Int, cout4: Int, positions: Range<Int>) {
    guard tiles > 0 else { return }
    let vRow = 36 * cin4, mRow = 36 * cout4
    for xi in positions {
        let ux = u + xi * cin4 * cout4
        var t = 0
        while t < tiles {
            let rows = min(6, tiles - t)
            // Rows past the last tile read the last tile again (their results are not stored).
            @inline(__always) func row(_ r: Int) -> UnsafePointer<Float> { v + (t + r < tiles ? t + r : tiles - 1) * vRow + xi * cin4 }
            let vs = Rows6(row(0), row(1), row(2), row(3), row(4), row(5))
            let m0 = m + t * mRow + xi * cout4
            var j = 0
            while j + 16 <= cout4 {
                productBlock16(vs, ux + j, cin4: cin4, cout4: cout4, rows: rows, into: m0 + j, rowStride: mRow)
                j += 16
            }
            if j + 8 <= cout4 {
                productBlock8(vs, ux + j, cin4: cin4, cout4: cout4, rows: rows, into: m0 + j, rowStride: mRow)
                j += 8
            }
            if j < cout4 {  // Cout4 is a multiple of 4: one block of four is left
                productBlock4(vs, ux + j, cin4: cin4, cout4: cout4, rows: rows, into: m0 + j, rowStride: mRow)
            }
            t += 6
        }
    }
}

/// The six rows of V a block reads.
private struct Rows6 {
    let r0, r1, r2, r3, r4, r5: UnsafePointer<Float>
    @inline(__always) init(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>,
                           _ r3: UnsafePointer<Float>, _ r4: UnsafePointer<Float>, _ r5: UnsafePointer<Float>) {
        self.r0 = r0; self.r1 = r1; self.r2 = r2; self.r3 = r3; self.r4 = r4; self.r5 = r5
    }
}

/// Six rows × sixteen columns: out[r, 0..<16] = Σ_k v_r[k]·b[k·cout4 + 0..<16], stored for r < `rows`.
@inline(__always)
private func productBlock16(_ v: Rows6, _ b: UnsafePointer<Float>, cin4: Int, cout4: Int, rows: Int,
                            into out: UnsafeMutablePointer<Float>, rowStride: Int) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>(), a4 = SIMD8<Float>(), a5 = SIMD8<Float>()
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>(), c4 = SIMD8<Float>(), c5 = SIMD8<Float>()
    var bk = b
    for k in 0..<cin4 {
        let lo = load8(bk), hi = load8(bk, 8)
        bk += cout4
        var s = SIMD8<Float>(repeating: v.r0[k]); a0.addProduct(s, lo); c0.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r1[k]); a1.addProduct(s, lo); c1.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r2[k]); a2.addProduct(s, lo); c2.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r3[k]); a3.addProduct(s, lo); c3.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r4[k]); a4.addProduct(s, lo); c4.addProduct(s, hi)
        s = SIMD8<Float>(repeating: v.r5[k]); a5.addProduct(s, lo); c5.addProduct(s, hi)
    }
    store8(a0, out); store8(c0, out, 8)
    if rows > 1 { store8(a1, out, rowStride); store8(c1, out, rowStride + 8) }
    if rows > 2 { store8(a2, out, 2 * rowStride); store8(c2, out, 2 * rowStride + 8) }
    if rows > 3 { store8(a3, out, 3 * rowStride); store8(c3, out, 3 * rowStride + 8) }
    if rows > 4 { store8(a4, out, 4 * rowStride); store8(c4, out, 4 * rowStride + 8) }
    if rows > 5 { store8(a5, out, 5 * rowStride); store8(c5, out, 5 * rowStride + 8) }
}

/// Six rows × eight columns (as `productBlock16`).
@inline(__always)
private func productBlock8(_ v: Rows6, _ b: UnsafePointer<Float>, cin4: Int, cout4: Int, rows: Int,
                           into out: UnsafeMutablePointer<Float>, rowStride: Int) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>(), a4 = SIMD8<Float>(), a5 = SIMD8<Float>()
    var bk = b
    for k in 0..<cin4 {
        let lo = load8(bk)
        bk += cout4
        a0.addProduct(SIMD8<Float>(repeating: v.r0[k]), lo)
        a1.addProduct(SIMD8<Float>(repeating: v.r1[k]), lo)
        a2.addProduct(SIMD8<Float>(repeating: v.r2[k]), lo)
        a3.addProduct(SIMD8<Float>(repeating: v.r3[k]), lo)
        a4.addProduct(SIMD8<Float>(repeating: v.r4[k]), lo)
        a5.addProduct(SIMD8<Float>(repeating: v.r5[k]), lo)
    }
    store8(a0, out)
    if rows > 1 { store8(a1, out, rowStride) }
    if rows > 2 { store8(a2, out, 2 * rowStride) }
    if rows > 3 { store8(a3, out, 3 * rowStride) }
    if rows > 4 { store8(a4, out, 4 * rowStride) }
    if rows > 5 { store8(a5, out, 5 * rowStride) }
}

/// Six rows × four columns (as `productBlock16`; one function per vector width, see `positivePart` in SIMD.swift).
@inline(__always)
private func productBlock4(_ v: Rows6, _ b: UnsafePointer<Float>, cin4: Int, cout4: Int, rows: Int,
                           into out: UnsafeMutablePointer<Float>, rowStride: Int) {
    var a0 = SIMD4<Float>(), a1 = SIMD4<Float>(), a2 = SIMD4<Float>(), a3 = SIMD4<Float>(), a4 = SIMD4<Float>(), a5 = SIMD4<Float>()
    var bk = b
    for k in 0..<cin4 {
        let lo = load4(bk)
        bk += cout4
        a0.addProduct(SIMD4<Float>(repeating: v.r0[k]), lo)
        a1.addProduct(SIMD4<Float>(repeating: v.r1[k]), lo)
        a2.addProduct(SIMD4<Float>(repeating: v.r2[k]), lo)
        a3.addProduct(SIMD4<Float>(repeating: v.r3[k]), lo)
        a4.addProduct(SIMD4<Float>(repeating: v.r4[k]), lo)
        a5.addProduct(SIMD4<Float>(repeating: v.r5[k]), lo)
    }
    store4(a0, out)
    if rows > 1 { store4(a1, out, rowStride) }
    if rows > 2 { store4(a2, out, 2 * rowStride) }
    if rows > 3 { store4(a3, out, 3 * rowStride) }
    if rows > 4 { store4(a4, out, 4 * rowStride) }
    if rows > 5 { store4(a5, out, 5 * rowStride) }
}
