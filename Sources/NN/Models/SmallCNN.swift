import Engine

/// `smallcnn` and `tinycnn` (28×28 grey by default):
/// conv1 C→w1 3×3 pad 1 (no bias), bn1, ReLU; conv2 w1→w2, bn2, ReLU, max-pool 2;
/// conv3 w2→w3, bn3, ReLU, max-pool 2; fc1 w3·(S/4)²→hidden, ReLU; fc2 hidden→K.
/// smallcnn: widths 32/64/128, hidden 256; tinycnn: 16/32/64, hidden 128.
final class SmallCNN: Model, GraphDescribing {
    let spec: ModelSpec
    let conv1, conv2, conv3: Conv2DLayer
    let bn1, bn2, bn3: BatchNormLayer
    let fc1, fc2: LinearLayer

    init(spec: ModelSpec, widths: (Int, Int, Int), hidden: Int, rng: inout SeededGenerator) {
        self.spec = spec
        let (w1, w2, w3) = widths
        conv1 = Conv2DLayer(spec.inChannels, w1, kernel: 3, padding: 1, rng: &rng); bn1 = BatchNormLayer(w1)
        conv2 = Conv2DLayer(w1, w2, kernel: 3, padding: 1, rng: &rng); bn2 = BatchNormLayer(w2)
        conv3 = Conv2DLayer(w2, w3, kernel: 3, padding: 1, rng: &rng); bn3 = BatchNormLayer(w3)
        let side = spec.inputSize / 4
        fc1 = LinearLayer(w3 * side * side, hidden, rng: &rng)
        fc2 = LinearLayer(hidden, spec.numClasses, rng: &rng)
    }

    /// Values `init` allocates for the same arguments, without allocating them.
    static func elementCount(spec: ModelSpec, widths: (Int, Int, Int), hidden: Int) -> Int {
        let (w1, w2, w3) = widths
        let side = spec.inputSize / 4
        return Conv2DLayer.elementCount(spec.inChannels, w1, kernel: 3) + BatchNormLayer.elementCount(w1)
            + Conv2DLayer.elementCount(w1, w2, kernel: 3) + BatchNormLayer.elementCount(w2)
            + Conv2DLayer.elementCount(w2, w3, kernel: 3) + BatchNormLayer.elementCount(w3)
            + LinearLayer.elementCount(w3 * side * side, hidden) + LinearLayer.elementCount(hidden, spec.numClasses)
    }

    // x: [N, C, S, S] → logits [N, K]
    func forward(_ x: Tensor, training: Bool) -> Tensor {
        checkInput(x)
        var h = conv1(x, then: bn1, training: training, relu: true)
        h = conv2.reluMaxPool2(h, then: bn2, training: training)
        h = conv3.reluMaxPool2(h, then: bn3, training: training)
        h = fc1(h.flattened()).relu()
        return fc2(h)
    }

    /// `forward` in eval mode, written down for export.
    func describeForward(_ x: GraphValue) -> GraphValue {
        var h = conv1(x, then: bn1, relu: true)
        h = conv2(h, then: bn2, relu: true).maxPool2d(kernel: 2)
        h = conv3(h, then: bn3, relu: true).maxPool2d(kernel: 2)
        h = fc1(h.flattened()).relu()
        return fc2(h)
    }

    var state: [StateEntry] {
        var c = StateCollector()
        c.add("conv1", conv1); c.add("bn1", bn1)
        c.add("conv2", conv2); c.add("bn2", bn2)
        c.add("conv3", conv3); c.add("bn3", bn3)
        c.add("fc1", fc1); c.add("fc2", fc2)
        return c.entries
    }
}
