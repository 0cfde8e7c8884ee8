import Engine

/// Post-activation basic block (CIFAR ResNets): conv1 3×3 (stride), bn1, ReLU, conv2 3×3, bn2,
/// plus a shortcut (identity, or `shortcut.0` 1×1 conv + `shortcut.1` BN when the shape changes), ReLU.
final class BasicBlock: StateProviding {
    let conv1, conv2: Conv2DLayer
    let bn1, bn2: BatchNormLayer
    let shortcut: (Conv2DLayer, BatchNormLayer)?

    init(_ cin: Int, _ cout: Int, stride: Int, rng: inout SeededGenerator) {
        conv1 = Conv2DLayer(cin, cout, kernel: 3, stride: stride, padding: 1, rng: &rng); bn1 = BatchNormLayer(cout)
        conv2 = Conv2DLayer(cout, cout, kernel: 3, padding: 1, rng: &rng); bn2 = BatchNormLayer(cout)
        shortcut = Self.hasShortcut(cin, cout, stride: stride)
            ? (Conv2DLayer(cin, cout, kernel: 1, stride: stride, padding: 0, rng: &rng), BatchNormLayer(cout)) : nil
    }

    static func hasShortcut(_ cin: Int, _ cout: Int, stride: Int) -> Bool { stride != 1 || cin != cout }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(_ cin: Int, _ cout: Int, stride: Int) -> Int {
        Conv2DLayer.elementCount(cin, cout, kernel: 3) + BatchNormLayer.elementCount(cout)
            + Conv2DLayer.elementCount(cout, cout, kernel: 3) + BatchNormLayer.elementCount(cout)
            + (hasShortcut(cin, cout, stride: stride)
                ? Conv2DLayer.elementCount(cin, cout, kernel: 1) + BatchNormLayer.elementCount(cout) : 0)
    }

    func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        let out = conv1(x, then: bn1, training: training, relu: true)
        let sc = shortcut.map { $0.0(x, then: $0.1, training: training) } ?? x
        return conv2(out, then: bn2, training: training, adding: sc, relu: true)  // (bn2(conv2(out)) + sc).relu()
    }

    /// `callAsFunction(_:training:)` in eval mode, written down for export.
    func callAsFunction(_ x: GraphValue) -> GraphValue {
        var out = conv1(x, then: bn1, relu: true)
        out = conv2(out, then: bn2)
        let sc = shortcut.map { $0.0(x, then: $0.1) } ?? x
        return (out + sc).relu()
    }

    func collect(_ prefix: String, into c: inout StateCollector) {
        c.add(prefix + "conv1", conv1); c.add(prefix + "bn1", bn1)
        c.add(prefix + "conv2", conv2); c.add(prefix + "bn2", bn2)
        if let (conv, bn) = shortcut { c.add(prefix + "shortcut.0", conv); c.add(prefix + "shortcut.1", bn) }
    }
}

/// CIFAR ResNets of basic blocks: `resnet18` (stages 64/128/256/512 × 2 blocks, 4×4 average pool) and
/// `resnet56` (stages 16/32/64 × 9 blocks, global average pool), 3×3 stride-1 stem, `linear` head.
/// Keys: conv1, bn1, layer<s>.<b>.*, linear.
final class ResNet: Model, GraphDescribing {
    let spec: ModelSpec
    let conv1: Conv2DLayer
    let bn1: BatchNormLayer
    let stages: [[BasicBlock]]
    let head: LinearLayer

    init(spec: ModelSpec, widths: [Int], blocksPerStage: Int, rng: inout SeededGenerator) {
        self.spec = spec
        conv1 = Conv2DLayer(spec.inChannels, widths[0], kernel: 3, padding: 1, rng: &rng)
        bn1 = BatchNormLayer(widths[0])
        stages = residualStages(inWidth: widths[0], widths: widths, blocks: blocksPerStage, rng: &rng) {
            BasicBlock($0, $1, stride: $2, rng: &$3)
        }
        head = LinearLayer(widths.last!, spec.numClasses, rng: &rng)
    }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(spec: ModelSpec, widths: [Int], blocksPerStage: Int) -> Int {
        Conv2DLayer.elementCount(spec.inChannels, widths[0], kernel: 3) + BatchNormLayer.elementCount(widths[0])
            + residualElementCount(inWidth: widths[0], widths: widths, blocks: blocksPerStage, BasicBlock.elementCount)
            + LinearLayer.elementCount(widths.last!, spec.numClasses)
    }

    // x: [N, C, 32, 32] → logits [N, K]
    func forward(_ x: Tensor, training: Bool) -> Tensor {
        checkInput(x)
        var h = conv1(x, then: bn1, training: training, relu: true)
        for stage in stages { for block in stage { h = block(h, training: training) } }
        // resnet18's 4×4 average pool and resnet56's global pool coincide on 32×32 inputs (4×4 maps).
        return head(globalAvgPool2d(h))
    }

    /// `forward` in eval mode, written down for export.
    func describeForward(_ x: GraphValue) -> GraphValue {
        var h = conv1(x, then: bn1, relu: true)
        for stage in stages { for block in stage { h = block(h) } }
        return head(h.globalAvgPool2d())
    }

    var state: [StateEntry] {
        var c = StateCollector()
        c.add("conv1", conv1); c.add("bn1", bn1)
        for (s, stage) in stages.enumerated() {
            for (b, block) in stage.enumerated() { c.add("layer\(s + 1).\(b)", block) }
        }
        c.add("linear", head)
        return c.entries
    }
}
