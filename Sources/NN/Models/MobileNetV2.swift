import Engine

/// Inverted residual: conv1 1×1 expand, bn1, ReLU; conv2 3×3 depthwise (stride), bn2, ReLU;
/// conv3 1×1 project, bn3; residual only at stride 1 (`shortcut.0/1` 1×1 conv + BN when widths differ).
final class InvertedResidual: StateProviding {
    let conv1, conv2, conv3: Conv2DLayer
    let bn1, bn2, bn3: BatchNormLayer
    let shortcut: (Conv2DLayer, BatchNormLayer)?
    let stride: Int

    init(_ cin: Int, _ cout: Int, expansion: Int, stride: Int, rng: inout SeededGenerator) {
        let planes = expansion * cin
        conv1 = Conv2DLayer(cin, planes, kernel: 1, padding: 0, rng: &rng); bn1 = BatchNormLayer(planes)
        conv2 = Conv2DLayer(planes, planes, kernel: 3, stride: stride, padding: 1, groups: planes, rng: &rng)
        bn2 = BatchNormLayer(planes)
        conv3 = Conv2DLayer(planes, cout, kernel: 1, padding: 0, rng: &rng); bn3 = BatchNormLayer(cout)
        shortcut = Self.hasShortcut(cin, cout, stride: stride)
            ? (Conv2DLayer(cin, cout, kernel: 1, padding: 0, rng: &rng), BatchNormLayer(cout)) : nil
        self.stride = stride
    }

    static func hasShortcut(_ cin: Int, _ cout: Int, stride: Int) -> Bool { stride == 1 && cin != cout }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(_ cin: Int, _ cout: Int, expansion: Int, stride: Int) -> Int {
        let planes = expansion * cin
        return Conv2DLayer.elementCount(cin, planes, kernel: 1) + BatchNormLayer.elementCount(planes)
            + Conv2DLayer.elementCount(planes, planes, kernel: 3, groups: planes) + BatchNormLayer.elementCount(planes)
            + Conv2DLayer.elementCount(planes, cout, kernel: 1) + BatchNormLayer.elementCount(cout)
            + (hasShortcut(cin, cout, stride: stride)
                ? Conv2DLayer.elementCount(cin, cout, kernel: 1) + BatchNormLayer.elementCount(cout) : 0)
    }

    func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        var out = conv1(x, then: bn1, training: training, relu: true)
        out = conv2(out, then: bn2, training: training, relu: true)
        out = conv3(out, then: bn3, training: training)
        guard stride == 1 else { return out }
        return out + (shortcut.map { $0.0(x, then: $0.1, training: training) } ?? x)
    }

    /// `callAsFunction(_:training:)` in eval mode, written down for export.
    func callAsFunction(_ x: GraphValue) -> GraphValue {
        var out = conv1(x, then: bn1, relu: true)
        out = conv2(out, then: bn2, relu: true)
        out = conv3(out, then: bn3)
        guard stride == 1 else { return out }
        return out + (shortcut.map { $0.0(x, then: $0.1) } ?? x)
    }

    func collect(_ prefix: String, into c: inout StateCollector) {
        c.add(prefix + "conv1", conv1); c.add(prefix + "bn1", bn1)
        c.add(prefix + "conv2", conv2); c.add(prefix + "bn2", bn2)
        c.add(prefix + "conv3", conv3); c.add(prefix + "bn3", bn3)
        if let (conv, bn) = shortcut { c.add(prefix + "shortcut.0", conv); c.add(prefix + "shortcut.1", bn) }
    }
}

/// `mobilenetv2`, CIFAR layout (stride-1 stem; (expansion, width, blocks, stride) stages below),
/// conv2 1×1 320→1280, bn2, 4×4 average pool, `linear`. Keys: conv1, bn1, layers.<i>.*, conv2, bn2, linear.
final class MobileNetV2: Model, GraphDescribing {
    static let stages = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                         (6, 160, 3, 2), (6, 320, 1, 1)]
    let spec: ModelSpec
    let conv1, conv2: Conv2DLayer
    let bn1, bn2: BatchNormLayer
    let blocks: [InvertedResidual]
    let head: LinearLayer

    init(spec: ModelSpec, rng: inout SeededGenerator) {
        self.spec = spec
        conv1 = Conv2DLayer(spec.inChannels, 32, kernel: 3, padding: 1, rng: &rng); bn1 = BatchNormLayer(32)
        blocks = Self.blockLayout.map { InvertedResidual($0.cin, $0.cout, expansion: $0.expansion, stride: $0.stride, rng: &rng) }
        conv2 = Conv2DLayer(320, 1280, kernel: 1, padding: 0, rng: &rng); bn2 = BatchNormLayer(1280)
        head = LinearLayer(1280, spec.numClasses, rng: &rng)
    }

    /// The inverted residuals of `stages`, one entry per block: each stage's first block has its stride.
    static let blockLayout: [(cin: Int, cout: Int, expansion: Int, stride: Int)] = {
        var cin = 32
        return stages.flatMap { expansion, cout, n, stride in
            (0..<n).map { i in
                defer { cin = cout }
                return (cin, cout, expansion, i == 0 ? stride : 1)
            }
        }
    }()

    /// Values `init` allocates for the same spec, without allocating them.
    static func elementCount(spec: ModelSpec) -> Int {
        Conv2DLayer.elementCount(spec.inChannels, 32, kernel: 3) + BatchNormLayer.elementCount(32)
            + blockLayout.reduce(0) { $0 + InvertedResidual.elementCount($1.cin, $1.cout, expansion: $1.expansion, stride: $1.stride) }
            + Conv2DLayer.elementCount(320, 1280, kernel: 1) + BatchNormLayer.elementCount(1280)
            + LinearLayer.elementCount(1280, spec.numClasses)
    }

    func forward(_ x: Tensor, training: Bool) -> Tensor {
        checkInput(x)
        var h = conv1(x, then: bn1, training: training, relu: true)
        for b in blocks { h = b(h, training: training) }
        h = conv2(h, then: bn2, training: training, relu: true)
        return head(globalAvgPool2d(h))
    }

    /// `forward` in eval mode, written down for export.
    func describeForward(_ x: GraphValue) -> GraphValue {
        var h = conv1(x, then: bn1, relu: true)
        for b in blocks { h = b(h) }
        h = conv2(h, then: bn2, relu: true)
        return head(h.globalAvgPool2d())
    }

    var state: [StateEntry] {
        var c = StateCollector()
        c.add("conv1", conv1); c.add("bn1", bn1)
        for (i, b) in blocks.enumerated() { c.add("layers.\(i)", b) }
        c.add("conv2", conv2); c.add("bn2", bn2); c.add("linear", head)
        return c.entries
    }
}
