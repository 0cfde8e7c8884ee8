import Engine
import NN

/// Square Attack under L∞ (Andriushchenko et al. 2020): a score-based black-box attack. It never reads a
/// gradient: it starts from vertical stripes of ±ε and, per query, proposes to set one random square
/// window (side shrinking on a fixed schedule of the query budget) to ±ε per channel, keeping the proposal
/// for the examples whose margin z_y − max_{j≠y} z_j went down. Only examples still classified correctly
/// are queried.
public struct SquareAttack: Attack {
    public var eps: Float
    public var queries: Int
    public var pInit: Float = 0.8
    public var name: String { "Square" }
    /// Queries are forward passes, not gradient steps; counted as such for throughput.
    public var gradientSteps: Int { queries }

    public init(eps: Float, queries: Int = 1000, pInit: Float = 0.8) {
        self.eps = eps; self.queries = queries; self.pInit = pInit
    }

    /// Fraction of pixels a window covers at iteration `it` (the reference schedule, rescaled to 10,000 queries).
    func fraction(_ it: Int) -> Float {
        let i = Int(Double(it) / Double(max(queries, 1)) * 10_000)
        let divisor: Float
        switch i {
        case ...10: divisor = 1
        case ...50: divisor = 2
        case ...200: divisor = 4
        case ...500: divisor = 8
        case ...1000: divisor = 16
        case ...2000: divisor = 32
        case ...4000: divisor = 64
        case ...6000: divisor = 128
        case ...8000: divisor = 256
        default: divisor = 512
        }
        return pInit / divisor
    }

    func margins(_ model: Model, _ x: Tensor, labels: [Int]) -> [Float] {
        withNoGrad {
            let z = model.forward(x, training: false)
            let k = z.shape[1]
            return labels.enumerated().map { i, y in
                var other = -Float.infinity
                for j in 0..<k where j != y { other = max(other, z.data[i * k + j]) }
                return z.data[i * k + y] - other
            }
        }
    }

    public func perturb(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let per = c * h * w
        let best = Tensor(uninitializedShape: x.shape)
        for i in 0..<n { for ch in 0..<c {
            for col in 0..<w {
                let s: Float = rng.next() & 1 == 0 ? -eps : eps
                for row in 0..<h {
                    let j = ((i * c + ch) * h + row) * w + col
                    best.data[j] = min(max(x.data[j] + s, 0), 1)
                }
            }
        } }
        var margin = margins(model, best, labels: labels)
        for it in 0..<max(queries - 1, 0) {
            let active = (0..<n).filter { margin[$0] > 0 }
            if active.isEmpty { break }
            let side = min(max(Int((fraction(it) * Float(h * w)).squareRoot().rounded()), 1), h - 1)
            let top = Int(rng.next() % UInt64(h - side + 1)), left = Int(rng.next() % UInt64(w - side + 1))
            let signs = (0..<c).map { _ in rng.next() & 1 == 0 ? -2 * eps : 2 * eps }
            let candidate = best.gatherBatch(active)
            let xs = x.gatherBatch(active)
            for a in 0..<active.count { for ch in 0..<c {
                for row in top..<(top + side) { for col in left..<(left + side) {
                    let j = a * per + (ch * h + row) * w + col
                    let v = candidate.data[j] + signs[ch]
                    candidate.data[j] = min(max(min(max(v, xs.data[j] - eps), xs.data[j] + eps), 0), 1)
                } }
            } }
            let m = margins(model, candidate, labels: active.map { labels[$0] })
            let improved = active.indices.filter { m[$0] < margin[active[$0]] }
            if improved.isEmpty { continue }
            best.scatterBatch(candidate.gatherBatch(improved), at: improved.map { active[$0] })
            for a in improved { margin[active[a]] = m[a] }
        }
        return best
    }
}
