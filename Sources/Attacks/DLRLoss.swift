import Engine

/// Difference-of-logits ratio (Croce & Hein 2020), per example, to be maximised.
/// Untargeted: −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12);
/// targeted towards t: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12), π sorting the logits in
/// descending order. Scale-invariant in the logits, which defeats gradient masking by logit scaling.
/// logits: [N, K] (K ≥ 3, or ≥ 4 targeted) → [N]
public func dlrRows(_ logits: Tensor, labels: [Int], targets: [Int]?) -> Tensor {
    let (n, k) = (logits.shape[0], logits.shape[1])
    require(k >= (targets == nil ? 3 : 4), "DLR needs at least \(targets == nil ? 3 : 4) classes, got \(k)")
    let out = Tensor(uninitializedShape: [n])
    // Per example: the coefficients c with value = −(Σ a_j z_j)/(Σ d_j z_j + 1e-12) for the backward.
    var numerators = [Float](repeating: 0, count: n), denominators = [Float](repeating: 0, count: n)
    var numIdx: [(Int, Int)] = [], denIdx: [[(Int, Float)]] = []
    for i in 0..<n {
        let z = Array(UnsafeBufferPointer(start: logits.data + i * k, count: k))
        let order = (0..<k).sorted { z[$0] > z[$1] }
        let y = labels[i]
        let other: Int
        var den: [(Int, Float)]
        if let targets {
            other = targets[i]
            den = [(order[0], 1), (order[2], -0.5), (order[3], -0.5)]
        } else {
            other = order[0] == y ? order[1] : order[0]
            den = [(order[0], 1), (order[2], -1)]
        }
        let num = z[y] - z[other]
        let d = den.reduce(Float(1e-12)) { $0 + $1.1 * z[$1.0] }
        numerators[i] = num; denominators[i] = d
        numIdx.append((y, other)); denIdx.append(den)
        out.data[i] = -num / d
    }
    record(out, "dlr", [logits]) { g, _ in
        let gz = Tensor(zeros: [n, k])
        for i in 0..<n {
            let (num, d) = (numerators[i], denominators[i])
            // ∂(−num/d)/∂z = −(∂num·d − num·∂d)/d²
            let row = gz.data + i * k
            row[numIdx[i].0] += -g.data[i] / d
            row[numIdx[i].1] += g.data[i] / d
            for (j, c) in denIdx[i] { row[j] += g.data[i] * num * c / (d * d) }
        }
        return [gz]
    }
    return out
}
