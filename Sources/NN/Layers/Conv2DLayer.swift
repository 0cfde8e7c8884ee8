import Engine

/// `nn.Conv2d`: keys `weight` [Cout, Cin/groups, k, k] and optional `bias` [Cout].
/// Initialised like PyTorch: Kaiming-uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in), bias the same.
final class Conv2DLayer: StateProviding {
    let weight: Tensor
    let bias: Tensor?
    let stride: Int
    let padding: Padding
    let groups: Int

    init(_ cin: Int, _ cout: Int, kernel: Int, stride: Int = 1, padding: Padding = .symmetric(0),
         groups: Int = 1, bias: Bool = false, rng: inout SeededGenerator) {
        let fanIn = cin / groups * kernel * kernel
        let bound = 1 / Float(fanIn).squareRoot()
        weight = Tensor.uniform([cout, cin / groups, kernel, kernel], -bound, bound, using: &rng)
        weight.requiresGrad = true
        self.bias = bias ? Tensor.uniform([cout], -bound, bound, using: &rng) : nil
        self.bias?.requiresGrad = true
        self.stride = stride; self.padding = padding; self.groups = groups
    }

    convenience init(_ cin: Int, _ cout: Int, kernel: Int, stride: Int = 1, padding: Int,
                     groups: Int = 1, bias: Bool = false, rng: inout SeededGenerator) {
        self.init(cin, cout, kernel: kernel, stride: stride, padding: .symmetric(padding),
                  groups: groups, bias: bias, rng: &rng)
    }

    /// Values `init` allocates for the same arguments (weight, then bias), without allocating them.
    static func elementCount(_ cin: Int, _ cout: Int, kernel: Int, groups: Int = 1, bias: Bool = false) -> Int {
        cout * (cin / groups) * kernel * kernel + (bias ? cout : 0)
    }

    /// x: [N, Cin, H, W] → [N, Cout, OH, OW]
    func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
    }

    /// `self(x) + residual`, bit for bit, as one op (the residual added as the outputs are stored).
    func callAsFunction(_ x: Tensor, adding residual: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups, adding: residual)
    }

    func collect(_ prefix: String, into c: inout StateCollector) {
        c.add(prefix + "weight", weight)
        if let bias { c.add(prefix + "bias", bias) }
    }
}
