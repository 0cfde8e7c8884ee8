import Engine

/// TRADES-layout wide block: pre-activation (bn1, ReLU) feeding conv1 (stride) and, when the width
/// changes, `convShortcut` (1×1); bn2, ReLU, conv2; sum.
final class WideBlock: StateProviding {
    let bn1, bn2: BatchNormLayer
    let conv1, conv2: Conv2DLayer
    let convShortcut: Conv2DLayer?

    init(_ cin: Int, _ cout: Int, stride: Int, rng: inout SeededGenerator) {
        bn1 = BatchNormLayer(cin)
        conv1 = Conv2DLayer(cin, cout, kernel: 3, stride: stride, padding: 1, rng: &rng)
        bn2 = BatchNormLayer(cout)
        conv2 = Conv2DLayer(cout, cout, kernel: 3, padding: 1, rng: &rng)
        convShortcut = cin == cout ? nil : Conv2DLayer(cin, cout, kernel: 1, stride: stride, padding: 0, rng: &rng)
    }

    func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        let pre = bn1(x, training: training).relu()
        let out = conv2(bn2(conv1(pre), training: training).relu())
        // Equal widths: the identity shortcut takes the raw input; otherwise the 1×1 conv takes the
        // pre-activated one (as in the TRADES code).
        return out + (convShortcut.map { $0(pre) } ?? x)
    }

    func collect(_ prefix: String, into c: inout StateCollector) {
        c.add(prefix + "bn1", bn1); c.add(prefix + "conv1", conv1)
        c.add(prefix + "bn2", bn2); c.add(prefix + "conv2", conv2)
        if let convShortcut { c.add(prefix + "convShortcut", convShortcut) }
    }
}

/// `trades-wrn-D-W` (alias `wrn-34-10`): conv1 3×3 →16, block1..3 (`blockS.layer.i.*`, widths 16W/32W/64W,
/// (D−4)/6 blocks each, strides 1/2/2), bn1, ReLU, 8×8 average pool, `fc`. TRADES checkpoints also hold an
/// unused `sub_block1.*`, which loading ignores.
final class TradesWideResNet: Model {
    let spec: ModelSpec
    let conv1: Conv2DLayer
    let groups: [[WideBlock]]
    let bn1: BatchNormLayer
    let fc: LinearLayer

    init(spec: ModelSpec, depth: Int, widen: Int, rng: inout SeededGenerator) {
        self.spec = spec
        let widths = [16, 16 * widen, 32 * widen, 64 * widen]
        let n = (depth - 4) / 6
        conv1 = Conv2DLayer(spec.inChannels, widths[0], kernel: 3, padding: 1, rng: &rng)
        groups = residualStages(inWidth: widths[0], widths: Array(widths.dropFirst()), blocks: n, rng: &rng) {
            WideBlock($0, $1, stride: $2, rng: &$3)
        }
        bn1 = BatchNormLayer(widths[3])
        fc = LinearLayer(widths[3], spec.numClasses, rng: &rng)
    }

    func forward(_ x: Tensor, training: Bool) -> Tensor {
        checkInput(x)
        var h = conv1(x)
        for group in groups { for block in group { h = block(h, training: training) } }
        return fc(globalAvgPool2d(bn1(h, training: training).relu()))
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
