@testable import Engine
import Testing

/// Results do not depend on the number of threads: every kernel whose cut of the work reaches a float sum
/// (the sizes of its BLAS calls, per-part partial sums of dW) cuts it into `Compute.parts`, never by
/// `Compute.workers`. Each case runs forward and backward (dx, dW, db) with 1, 2 and 3 workers and asks
/// for the same bits. OpenBLAS alone would not give them: an `sgemm` of 200 rows and the same rows as two
/// calls of 100 differ in the last bits of many elements (`openBLASResultsDependOnTheSizeOfTheCall` checks
/// that this still holds, so that these cases keep meaning something with a later OpenBLAS).
///
/// The worker count is process-wide, so tests running meanwhile see it change; with kernels invariant, as
/// checked here, that changes their speed only.

struct InvarianceCase: CustomTestStringConvertible, Sendable {
    let name: String
    let run: @Sendable () -> [[Float]]
    var testDescription: String { name }

    /// A convolution (`pool`: with the fused ReLU and 2×2 max-pool) forward and backward: y, dx, dW, db.
    static func conv(_ name: String, n: Int, cin: Int, cout: Int, side: Int, kernel: Int = 3, stride: Int = 1,
                     padding: Int = 1, groups: Int = 1, pool: Bool = false) -> InvarianceCase {
        InvarianceCase(name: name) {
            let x = smoothInput([n, cin, side, side], seed: 91)
            let w = smoothInput([cout, cin / groups, kernel, kernel], seed: 92, scale: 0.3)
            let b = smoothInput([cout], seed: 93)
            for t in [x, w, b] { t.requiresGrad = true }
            let y = pool ? conv2dReLUMaxPool2(x, weight: w, bias: b, stride: stride, padding: .symmetric(padding), groups: groups)
                : conv2d(x, weight: w, bias: b, stride: stride, padding: .symmetric(padding), groups: groups)
            let g = y.sum().gradients(wrt: [x, w, b], seed: nil)
            // And the plain convolution under a random upstream gradient.
            let plain = conv2d(x, weight: w, bias: b, stride: stride, padding: .symmetric(padding), groups: groups)
            let h = plain.gradients(wrt: [x, w, b], seed: smoothInput(plain.shape, seed: 94))
            return [y.scalars, plain.scalars] + g.map(\.scalars) + h.map(\.scalars)
        }
    }

    /// y = x·Wᵀ + b, forward and backward with a random upstream gradient.
    static func linear(_ name: String, n: Int, inF: Int, outF: Int) -> InvarianceCase {
        InvarianceCase(name: name) {
            let x = smoothInput([n, inF], seed: 95)
            let w = smoothInput([outF, inF], seed: 96, scale: 0.05)
            let b = smoothInput([outF], seed: 97)
            for t in [x, w, b] { t.requiresGrad = true }
            let y = Engine.linear(x, weight: w, bias: b)
            let grads = y.gradients(wrt: [x, w, b], seed: smoothInput(y.shape, seed: 98))
            return [y.scalars] + grads.map(\.scalars)
        }
    }

    static let all: [InvarianceCase] = [
        .conv("Winograd, 64 → 64 channels (BLAS products), 5 images of 12×12", n: 5, cin: 64, cout: 64, side: 12),
        .conv("Winograd, 16 → 32 channels (SIMD products), 7 images of 28×28", n: 7, cin: 16, cout: 32, side: 28),
        .conv("Winograd + ReLU + max-pool, 32 → 64 channels, 9 images of 14×14", n: 9, cin: 32, cout: 64, side: 14, pool: true),
        .conv("Winograd, one image, 64 → 96 channels", n: 1, cin: 64, cout: 96, side: 16),
        .conv("im2col, stride 2, 8 → 24 channels, 6 images", n: 6, cin: 8, cout: 24, side: 17, stride: 2),
        .conv("im2col, small planes (several images per GEMM), 5×5 kernel", n: 11, cin: 12, cout: 20, side: 6, kernel: 5, padding: 1),
        .conv("pointwise 1×1, 32 → 48 channels, 4 images", n: 4, cin: 32, cout: 48, side: 9, kernel: 1, padding: 0),
        .conv("im2col, one image (its GEMMs split)", n: 1, cin: 16, cout: 64, side: 32, stride: 2),
        .conv("depthwise 3×3, 24 channels", n: 5, cin: 24, cout: 24, side: 10, groups: 24),
        .linear("linear, 200 × 3136 → 128 (row blocks)", n: 200, inF: 3136, outF: 128),
        .linear("linear, 24 × 1000 → 600 (column blocks)", n: 24, inF: 1000, outF: 600),
    ]
}

/// Runs `body` with `workers` workers, then restores the count it found.
func withWorkers<T>(_ workers: Int, _ body: () -> T) -> T {
    let before = Compute.workers
    Compute.configure(workers: workers)
    defer { Compute.configure(workers: before) }
    return body()
}

@Test func openBLASResultsDependOnTheSizeOfTheCall() {
    let (m, n, k) = (200, 128, 3136)
    let a = smoothInput([m, k], seed: 81), b = smoothInput([k, n], seed: 82)
    let whole = Tensor(uninitializedShape: [m, n]), halves = Tensor(uninitializedShape: [m, n])
    serialGEMM(a.data, b.data, whole.data, m: m, n: n, k: k)
    serialGEMM(a.data, b.data, halves.data, m: m / 2, n: n, k: k)
    serialGEMM(a.data + m / 2 * k, b.data, halves.data + m / 2 * n, m: m / 2, n: n, k: k)
    let differing = zip(whole.scalars, halves.scalars).filter { $0.bitPattern != $1.bitPattern }.count
    // If this ever fails, OpenBLAS became size-invariant: `Compute.parts` is then no longer needed for it.
    #expect(differing > 0, "OpenBLAS gave the same bits for one call of 200 rows and two of 100")
}

@Test(arguments: InvarianceCase.all)
func resultsAreTheSameForEveryThreadCount(_ c: InvarianceCase) {
    let one = withWorkers(1, c.run)
    for workers in [2, 3] {
        let other = withWorkers(workers, c.run)
        #expect(one.count == other.count)
        for (i, (a, b)) in zip(one, other).enumerated() {
            let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(a.count == b.count && differing == 0,
                    "\(c.name): output \(i) differs in \(differing) of \(a.count) floats between 1 and \(workers) workers")
        }
    }
}
