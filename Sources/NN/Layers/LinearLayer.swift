import Engine

/// `nn.Linear`: keys `weight` [out, in], `bias` [out]; PyTorch's default U(−1/√in, 1/√in) init.
final class LinearLayer: StateProviding {
    let weight: Tensor
    let bias: Tensor?

    init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout SeededGenerator) {
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Tensor.uniform([outFeatures, inFeatures], -bound, bound, using: &rng)
        weight.requiresGrad = true
        self.bias = bias ? Tensor.uniform([outFeatures], -bound, bound, using: &rng) : nil
        self.bias?.requiresGrad = true
    }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) -> Int {
        outFeatures * inFeatures + (bias ? outFeatures : 0)
    }

    /// x: [N, in] → [N, out]
    func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }

    func collect(_ prefix: String, into c: inout StateCollector) {
        c.add(prefix + "weight", weight)
        if let bias { c.add(prefix + "bias", bias) }
    }
}
