import Engine

/// `trades-wrn-D-W` (alias `wrn-34-10`): conv1 3×3 →16, block1..3 of pre-activation blocks (`blockS.layer.i.*`, shortcut `convShortcut`, widths 16W/32W/64W,
/// (D−4)/6 blocks each, strides 1/2/2), bn1, ReLU, 8×8 average pool, `fc`. TRADES checkpoints also hold an
/// unused `sub_block1.*`, which loading ignores.
final class TradesWideResNet: Model, GraphDescribing {
    let spec: ModelSpec
    let conv1: Conv2DLayer
    let groups: [[PreActBlock]]
    let bn1: BatchNormLayer
    let fc: LinearLayer

    init(spec: ModelSpec, depth: Int, widen: Int, rng: inout SeededGenerator) {
        self.spec = spec
        let (widths, n) = Self.layout(depth: depth, widen: widen)
        conv1 = Conv2DLayer(spec.inChannels, widths[0], kernel: 3, padding: 1, rng: &rng)
        groups = residualStages(inWidth: widths[0], widths: Array(widths.dropFirst()), blocks: n, rng: &rng) {
            PreActBlock($0, $1, stride: $2, shortcutKey: "convShortcut", rng: &$3)
        }
        bn1 = BatchNormLayer(widths[3])
        fc = LinearLayer(widths[3], spec.numClasses, rng: &rng)
    }

    /// Stem width then the three stage widths, and blocks per stage.
    static func layout(depth: Int, widen: Int) -> (widths: [Int], blocks: Int) {
        ([16, 16 * widen, 32 * widen, 64 * widen], (depth - 4) / 6)
    }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(spec: ModelSpec, depth: Int, widen: Int) -> Int {
        let (widths, n) = layout(depth: depth, widen: widen)
        return Conv2DLayer.elementCount(spec.inChannels, widths[0], kernel: 3)
            + residualElementCount(inWidth: widths[0], widths: Array(widths.dropFirst()), blocks: n,
                                   PreActBlock.elementCount)
            + BatchNormLayer.elementCount(widths[3]) + LinearLayer.elementCount(widths[3], spec.numClasses)
    }

    func forward(_ x: Tensor, training: Bool) -> Tensor {
        checkInput(x)
        var h = conv1(x)
        for group in groups { for block in group { h = block(h, training: training) } }
        return fc(globalAvgPool2d(bn1(h, training: training, relu: true)))
    }

    /// `forward` in eval mode, written down for export.
    func describeForward(_ x: GraphValue) -> GraphValue {
        var h = conv1(x)
        for group in groups { for block in group { h = block(h) } }
        return fc(bn1(h, relu: true).globalAvgPool2d())
    }

    var state: [StateEntry] {
        var c = StateCollector()
        c.add("conv1", conv1)
        for (g, group) in groups.enumerated() {
            for (i, block) in group.enumerated() { c.add("block\(g + 1).layer.\(i)", block) }
        }
        c.add("bn1", bn1); c.add("fc", fc)
        return c.entries
    }
}
