import Engine
import Testing

/// ε-ball projections: constraints on random points, exact hand-computed cases, and points inside
/// left alone.

/// Centers in [0, 1] (clean images) and iterates scattered up to 3ε around them, some outside [0, 1].
private func cloud(_ shape: [Int], eps: Float, seed: UInt64) -> (x: Tensor, center: Tensor) {
    var rng = SeededGenerator(seed: seed)
    let center = Tensor.uniform(shape, 0, 1, using: &rng)
    let x = Tensor.uniform(shape, -3 * eps, 3 * eps, using: &rng)
    for i in 0..<x.count { x.data[i] += center.data[i] }
    return (x, center)
}

/// ‖a_n − b_n‖₂ per example, in Double.
private func rowNorms(_ a: Tensor, _ b: Tensor) -> [Double] {
    let d = a.count / a.shape[0]
    return (0..<a.shape[0]).map { n in
        (0..<d).map { j in
            let v = Double(a.data[n * d + j]) - Double(b.data[n * d + j])
            return v * v
        }.reduce(0, +).squareRoot()
    }
}

@Test func projectLinfKeepsEveryElementInTheBallAndInTheUnitInterval() {
    let eps: Float = 8.0 / 255
    // 49,152 elements: enough for the kernel to split across workers.
    let (x, center) = cloud([16, 3, 32, 32], eps: eps, seed: 61)
    let out = projectLinf(x, center: center, eps: eps)
    let worst = (0..<out.count).map { abs(out.data[$0] - center.data[$0]) }.max()!
    #expect(worst <= eps + 1e-6)
    #expect(out.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    // It really moved points: a no-op would fail the bound on the cloud.
    #expect((0..<x.count).contains { abs(x.data[$0] - center.data[$0]) > eps })
}

@Test func projectLinfMatchesHandComputedClamps() {
    // c = 0.5, ε = 0.1: 0.9 → 0.6, 0.1 → 0.4, 0.52 stays. c = 0.95: 1.2 → min(1.05, 1) = 1.
    // c = 0.02: −0.3 → max(−0.08, 0) = 0.
    let c = Tensor(shape: [1, 5], scalars: [0.5, 0.5, 0.5, 0.95, 0.02])
    let x = Tensor(shape: [1, 5], scalars: [0.9, 0.1, 0.52, 1.2, -0.3])
    #expect(projectLinf(x, center: c, eps: 0.1).scalars == [0.6, 0.4, 0.52, 1, 0])
}

@Test func projectL2KeepsEveryExampleInTheBallAndInTheUnitInterval() {
    let eps: Float = 0.5
    // 256 examples of 192 elements: enough for the kernel to split examples across workers.
    let (x, center) = cloud([256, 3, 8, 8], eps: 0.1, seed: 62)  // δ uniform in ±0.3: ‖δ‖ ≈ √(192·0.03) ≈ 2.4 > ε
    let out = projectL2(x, center: center, eps: eps)
    #expect(rowNorms(x, center).allSatisfy { $0 > Double(eps) })
    #expect(rowNorms(out, center).max()! <= Double(eps) + 1e-6)
    #expect(out.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
}

@Test func projectL2ScalesAnOutsidePointOntoTheSphere() {
    // c = 0.5, δ = (0.3, 0.4, 0) with ‖δ‖ = 0.5; ε = 0.25 halves δ: (0.65, 0.7, 0.5).
    let c = Tensor(repeating: 0.5, shape: [1, 3])
    let x = Tensor(shape: [1, 3], scalars: [0.8, 0.9, 0.5])
    expectClose(projectL2(x, center: c, eps: 0.25).scalars, [0.65, 0.7, 0.5], tolerance: 1e-7)
}

@Test func projectionsLeavePointsAlreadyInsideUnchanged() {
    // Iterates within 0.9ε of the center (L∞) and of norm ≤ 0.9ε (L2), all inside [0, 1].
    var rng = SeededGenerator(seed: 63)
    let shape = [4, 2, 5, 5], eps: Float = 0.05
    let center = Tensor.uniform(shape, 0.1, 0.9, using: &rng)
    let x = Tensor.uniform(shape, -0.9 * eps, 0.9 * eps, using: &rng)
    for i in 0..<x.count { x.data[i] += center.data[i] }
    #expect(projectLinf(x, center: center, eps: eps).scalars == x.scalars)
    // For L2, an ε larger than the largest norm.
    let epsL2 = Float(rowNorms(x, center).max()! * 1.01)
    #expect(projectL2(x, center: center, eps: epsL2).scalars == x.scalars)
}
