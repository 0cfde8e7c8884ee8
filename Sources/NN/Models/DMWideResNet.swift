import Engine

/// DeepMind-style block (Gowal et al.): batchnorm_0, Swish, explicit padding — (1,1,1,1) at stride 1,
/// asymmetric (0,1,0,1) before a stride-2 conv_0 —, batchnorm_1, Swish, conv_1, plus `shortcut`
/// (1×1 conv of the pre-activated input) when the width changes.
final class DMBlock: StateProviding {
    let batchnorm0, batchnorm1: BatchNormLayer
    let conv0, conv1: Conv2DLayer
    let shortcut: Conv2DLayer?

    init(_ cin: Int, _ cout: Int, stride: Int, rng: inout SeededGenerator) {
        batchnorm0 = BatchNormLayer(cin)
        let pad = stride == 1 ? Padding.symmetric(1) : Padding(top: 0, bottom: 1, left: 0, right: 1)
        conv0 = Conv2DLayer(cin, cout, kernel: 3, stride: stride, padding: pad, rng: &rng)
        batchnorm1 = BatchNormLayer(cout)
        conv1 = Conv2DLayer(cout, cout, kernel: 3, padding: 1, rng: &rng)
        shortcut = Self.hasShortcut(cin, cout) ? Conv2DLayer(cin, cout, kernel: 1, stride: stride, padding: 0, rng: &rng) : nil
    }

    static func hasShortcut(_ cin: Int, _ cout: Int) -> Bool { cin != cout }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(_ cin: Int, _ cout: Int, stride: Int) -> Int {
        BatchNormLayer.elementCount(cin) + Conv2DLayer.elementCount(cin, cout, kernel: 3)
            + BatchNormLayer.elementCount(cout) + Conv2DLayer.elementCount(cout, cout, kernel: 3)
            + (hasShortcut(cin, cout) ? Conv2DLayer.elementCount(cin, cout, kernel: 1) : 0)
    }

    func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
        let pre = batchnorm0(x, training: training).swish()
        let sc = shortcut.map { $0(pre) } ?? x
        return conv1(conv0(pre, then: batchnorm1, training: training).swish(), adding: sc)  // conv1(…) + sc
    }

    /// `callAsFunction(_:training:)` in eval mode, written down for export.
    func callAsFunction(_ x: GraphValue) -> GraphValue {
        let pre = batchnorm0(x).swish()
        let out = conv1(conv0(pre, then: batchnorm1).swish())
        return out + (shortcut.map { $0(pre) } ?? x)
    }

    func collect(_ prefix: String, into c: inout StateCollector) {
        c.add(prefix + "batchnorm_0", batchnorm0); c.add(prefix + "conv_0", conv0)
        c.add(prefix + "batchnorm_1", batchnorm1); c.add(prefix + "conv_1", conv1)
        if let shortcut { c.add(prefix + "shortcut", shortcut) }
    }
}

/// `dm-wrn-D-W` (alias `wrn-D-W` other than 34-10): (x − mean)/std from the spec, init_conv 3×3 →16,
/// layer.<g>.block.<i>.* (widths 16W/32W/64W, (D−4)/6 blocks, strides 1/2/2), batchnorm, Swish,
/// 8×8 average pool, `logits`.
final class DMWideResNet: Model, GraphDescribing {
    static let cifar10Mean: [Float] = [0.4914, 0.4822, 0.4465]
    static let cifar10Std: [Float] = [0.2471, 0.2435, 0.2616]
    let spec: ModelSpec
    let initConv: Conv2DLayer
    let groups: [[DMBlock]]
    let batchnorm: BatchNormLayer
    let logits: LinearLayer

    init(spec: ModelSpec, depth: Int, width: Int, rng: inout SeededGenerator) {
        self.spec = spec
        let (widths, n) = Self.layout(depth: depth, width: width)
        initConv = Conv2DLayer(spec.inChannels, widths[0], kernel: 3, padding: 1, rng: &rng)
        groups = residualStages(inWidth: widths[0], widths: Array(widths.dropFirst()), blocks: n, rng: &rng) {
            DMBlock($0, $1, stride: $2, rng: &$3)
        }
        batchnorm = BatchNormLayer(widths[3])
        logits = LinearLayer(widths[3], spec.numClasses, rng: &rng)
    }

    /// Stem width then the three stage widths, and blocks per stage.
    static func layout(depth: Int, width: Int) -> (widths: [Int], blocks: Int) {
        ([16, 16 * width, 32 * width, 64 * width], (depth - 4) / 6)
    }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(spec: ModelSpec, depth: Int, width: Int) -> Int {
        let (widths, n) = layout(depth: depth, width: width)
        return Conv2DLayer.elementCount(spec.inChannels, widths[0], kernel: 3)
            + residualElementCount(inWidth: widths[0], widths: Array(widths.dropFirst()), blocks: n,
                                   DMBlock.elementCount)
            + BatchNormLayer.elementCount(widths[3]) + LinearLayer.elementCount(widths[3], spec.numClasses)
    }

    func forward(_ x: Tensor, training: Bool) -> Tensor {
        checkInput(x)
        var h = initConv(normalize(x, mean: spec.mean ?? Self.cifar10Mean, std: spec.std ?? Self.cifar10Std))
        for group in groups { for block in group { h = block(h, training: training) } }
        return logits(globalAvgPool2d(batchnorm(h, training: training).swish()))
    }

    /// `forward` in eval mode, written down for export.
    func describeForward(_ x: GraphValue) -> GraphValue {
        var h = initConv(normalize(x, mean: spec.mean ?? Self.cifar10Mean, std: spec.std ?? Self.cifar10Std))
        for group in groups { for block in group { h = block(h) } }
        return logits(batchnorm(h).swish().globalAvgPool2d())
    }

    var state: [StateEntry] {
        var c = StateCollector()
        c.add("init_conv", initConv)
        for (g, group) in groups.enumerated() {
            for (i, block) in group.enumerated() { c.add("layer.\(g).block.\(i)", block) }
        }
        c.add("batchnorm", batchnorm); c.add("logits", logits)
        return c.entries
    }
}
