import Engine

/// Pre-activation block: bn1, ReLU, conv1 (stride), bn2, ReLU, conv2, plus the input. When the shape
/// changes, the shortcut is a 1×1 conv of the *pre-activated* input (identity otherwise, on the raw input).
/// PreActResNet keys it `shortcut.0`; the TRADES WideResNet's identical block keys it `convShortcut`.
final class PreActBlock: StateProviding {
    let bn1, bn2: BatchNormLayer
    let conv1, conv2: Conv2DLayer
    let shortcut: Conv2DLayer?
    let shortcutKey: String

    init(_ cin: Int, _ cout: Int, stride: Int, shortcutKey: String = "shortcut.0", rng: inout SeededGenerator) {
        bn1 = BatchNormLayer(cin)
        conv1 = Conv2DLayer(cin, cout, kernel: 3, stride: stride, padding: 1, rng: &rng)
        bn2 = BatchNormLayer(cout)
        conv2 = Conv2DLayer(cout, cout, kernel: 3, padding: 1, rng: &rng)
        shortcut = Self.hasShortcut(cin, cout, stride: stride)
            ? Conv2DLayer(cin, cout, kernel: 1, stride: stride, padding: 0, rng: &rng) : nil
        self.shortcutKey = shortcutKey
    }

    static func hasShortcut(_ cin: Int, _ cout: Int, stride: Int) -> Bool { stride != 1 || cin != cout }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(_ cin: Int, _ cout: Int, stride: Int) -> Int {
        BatchNormLayer.elementCount(cin) + Conv2DLayer.elementCount(cin, cout, kernel: 3)
            + BatchNormLayer.elementCount(cout) + Conv2DLayer.elementCount(cout, cout, kernel: 3)
            + (hasShortcut(cin, cout, stride: stride) ? Conv2DLayer.elementCount(cin, cout, kernel: 1) : 0)
    }

    func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        let pre = bn1(x, training: training, relu: true)
        let sc = shortcut.map { $0(pre) } ?? x
        return conv2(conv1(pre, then: bn2, training: training, relu: true), adding: sc)  // conv2(…) + sc
    }

    /// `callAsFunction(_:training:)` in eval mode, written down for export.
    func callAsFunction(_ x: GraphValue) -> GraphValue {
        let pre = bn1(x, relu: true)
        let sc = shortcut.map { $0(pre) } ?? x
        let out = conv2(conv1(pre, then: bn2, relu: true))
        return out + sc
    }

    func collect(_ prefix: String, into c: inout StateCollector) {
        c.add(prefix + "bn1", bn1); c.add(prefix + "conv1", conv1)
        c.add(prefix + "bn2", bn2); c.add(prefix + "conv2", conv2)
        if let shortcut { c.add(prefix + shortcutKey, shortcut) }
    }
}

/// `preactresnet18` as in the adversarial-training literature: conv1, layer1–4 of PreActBlocks,
/// final `bn` + ReLU, 4×4 average pool, `linear`.
final class PreActResNet18: Model, GraphDescribing {
    let spec: ModelSpec
    let conv1: Conv2DLayer
    let stages: [[PreActBlock]]
    let bn: BatchNormLayer
    let head: LinearLayer

    init(spec: ModelSpec, rng: inout SeededGenerator) {
        self.spec = spec
        conv1 = Conv2DLayer(spec.inChannels, 64, kernel: 3, padding: 1, rng: &rng)
        stages = residualStages(inWidth: 64, widths: Self.widths, blocks: 2, rng: &rng) {
            PreActBlock($0, $1, stride: $2, rng: &$3)
        }
        bn = BatchNormLayer(512)
        head = LinearLayer(512, spec.numClasses, rng: &rng)
    }

    static let widths = [64, 128, 256, 512]

    /// Values `init` allocates for the same spec, without allocating them.
    static func elementCount(spec: ModelSpec) -> Int {
        Conv2DLayer.elementCount(spec.inChannels, 64, kernel: 3)
            + residualElementCount(inWidth: 64, widths: widths, blocks: 2, PreActBlock.elementCount)
            + BatchNormLayer.elementCount(512) + LinearLayer.elementCount(512, spec.numClasses)
    }

    func forward(_ x: Tensor, training: Bool) -> Tensor {
        checkInput(x)
        var h = conv1(x)
        for stage in stages { for block in stage { h = block(h, training: training) } }
        return head(globalAvgPool2d(bn(h, training: training, relu: true)))
    }

    /// `forward` in eval mode, written down for export.
    func describeForward(_ x: GraphValue) -> GraphValue {
        var h = conv1(x)
        for stage in stages { for block in stage { h = block(h) } }
        return head(bn(h, relu: true).globalAvgPool2d())
    }

    var state: [StateEntry] {
        var c = StateCollector()
        c.add("conv1", conv1)
        for (s, stage) in stages.enumerated() {
            for (b, block) in stage.enumerated() { c.add("layer\(s + 1).\(b)", block) }
        }
        c.add("bn", bn); c.add("linear", head)
        return c.entries
    }
}
