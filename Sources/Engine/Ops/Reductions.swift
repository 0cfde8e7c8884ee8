/// Reductions. Sums accumulate in Double so that a 10⁷-element sum keeps Float precision.
extension Tensor {
    /// Σ x over every element → shape `[]`... represented as `[1]`.
    public func sum() -> Tensor {
        let out = Tensor(uninitializedShape: [1])
        out.data[0] = Float(sumDouble())
        let shape = self.shape
        record(out, "sum", [self]) { g, _ in [Tensor(repeating: g.data[0], shape: shape)] }
        return out
    }

    /// Mean of every element → `[1]`.
    public func mean() -> Tensor {
        let n = Float(count)
        let out = Tensor(uninitializedShape: [1])
        out.data[0] = Float(sumDouble() / Double(count))
        let shape = self.shape
        record(out, "mean", [self]) { g, _ in [Tensor(repeating: g.data[0] / n, shape: shape)] }
        return out
    }

    /// `[N, K] → [N]`: sum over the last axis of a matrix.
    public func sumRows() -> Tensor {
        require(rank == 2, "sumRows needs [N, K], got \(shape)")
        let (n, k) = (shape[0], shape[1])
        let out = Tensor(uninitializedShape: [n])
        for i in 0..<n {
            var s: Double = 0
            for j in 0..<k { s += Double(data[i * k + j]) }
            out.data[i] = Float(s)
        }
        record(out, "sumRows", [self]) { g, _ in
            let gx = Tensor(uninitializedShape: [n, k])
            for i in 0..<n { for j in 0..<k { gx.data[i * k + j] = g.data[i] } }
            return [gx]
        }
        return out
    }

    /// Σ x in Double, not recorded.
    public func sumDouble() -> Double {
        var s: Double = 0
        let p = data
        for i in 0..<count { s += Double(p[i]) }
        return s
    }
}
