import Engine
import Foundation
import Testing
@testable import NN

/// Parity with PyTorch on the same weights, for every architecture of the zoo.
///
/// The fixtures come from Tests/Fixtures/parity/make_parity_fixtures.py (committed next to them), which
/// fills a PyTorch model with formula weights, runs one batch and records logits, loss, the input
/// gradient, every parameter gradient (sum, Σ|·|, 8 samples), BatchNorm running statistics and the
/// losses of 3 SGD steps. Here the same formula fills our model and every number is compared.
/// Tolerances: logits and losses 1e-4 relative (1e-5 absolute floor); gradients 2e-3 relative
/// (longer Float32 accumulation chains), with an absolute floor of 1e-5·(1 + Σ|g|/n) for samples near 0.
struct ParityFixture: Decodable {
    struct Summary: Decodable { let sum: Double; let abs_sum: Double; let count: Int; let samples: [Double] }
    let arch: String, in_channels: Int, size: Int, batch: Int, num_classes: Int, parameter_count: Int
    let state_keys: [String]
    let logits_eval: [Double], logits_train: [Double]
    let loss_train: Double
    /// "train": gradients of the train-mode loss; "eval": of the eval-mode loss (after the train-mode forward),
    /// where train-mode BatchNorm makes the problem ill-conditioned at these weights even for PyTorch.
    let grad_mode: String
    let grad_input: Summary
    let grad_params: [String: Summary]
    let running_stats_sums: [String: Double]
    let sgd_losses: [Double]

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/parity")

    static func load(_ name: String) throws -> ParityFixture {
        try JSONDecoder().decode(ParityFixture.self, from: Data(contentsOf: directory.appendingPathComponent(name + ".json")))
    }
}

/// The fixture script's weight formula (see its docstring), entry j in state order, element i.
func fillWithFormula(_ model: Model) {
    for (j, entry) in model.state.enumerated() {
        let t = entry.tensor, key = entry.key
        let fanIn = t.shape.dropFirst().reduce(1, *)
        for i in 0..<t.count {
            let (di, dj) = (Double(i), Double(j))
            let v: Double
            if key.hasSuffix("num_batches_tracked") { v = 0 }
            else if key.hasSuffix("running_mean") { v = 0.1 * sin(0.83 * di + dj) }
            else if key.hasSuffix("running_var") { v = 1 + 0.5 * abs(sin(0.61 * di + dj)) }
            else if t.rank == 1 && key.hasSuffix(".weight") { v = 0.5 + 0.2 * sin(1.3 * di + dj) }
            else if t.rank == 1 && key.hasSuffix(".bias") { v = 0.1 * sin(0.97 * di + dj) }
            else { v = (2 * hash(12.9898 * di + 78.233 * dj + 1) - 1) * (3 / Double(fanIn)).squareRoot() }
            t.data[i] = Float(v)
        }
    }
}

/// frac(|sin(a)|·43758.5453): the fixtures' irregular but reproducible values in [0, 1).
func hash(_ a: Double) -> Double {
    let v = abs(sin(a)) * 43758.5453
    return v - v.rounded(.down)
}

func formulaInput(_ f: ParityFixture) -> (Tensor, [Int]) {
    let shape = [f.batch, f.in_channels, f.size, f.size]
    let x = Tensor(uninitializedShape: shape)
    for i in 0..<x.count { x.data[i] = Float(hash(12.9898 * Double(i) + 1)) }
    return (x, (0..<f.batch).map { (3 * $0 + 1) % f.num_classes })
}

func close(_ a: Double, _ b: Double, rel: Double, abs floor: Double) -> Bool {
    Swift.abs(a - b) <= floor + rel * Swift.abs(b)
}

let parityArchitectures = ["tinycnn", "smallcnn", "resnet18", "preactresnet18", "mobilenetv2", "resnet56",
                           "trades-wrn-10-2", "dm-wrn-10-2"]

@Test(arguments: parityArchitectures)
func modelMatchesPyTorchOnTheSameWeights(_ arch: String) throws {
    let f = try ParityFixture.load(arch)
    var rng = SeededGenerator(seed: 0)
    let spec = ModelSpec(arch: arch, numClasses: f.num_classes, inChannels: f.in_channels, inputSize: f.size)
    let model = try ModelZoo.make(spec, rng: &rng)
    #expect(model.state.map(\.key) == f.state_keys, "state_dict keys and order")
    #expect(model.parameterCount == f.parameter_count)
    fillWithFormula(model)
    let (x, y) = formulaInput(f)

    let eval = withNoGrad { model.forward(x, training: false) }
    for (a, b) in zip(eval.scalars, f.logits_eval) {
        #expect(close(Double(a), b, rel: 1e-4, abs: 1e-5), "eval logit \(a) vs PyTorch \(b)")
    }

    var probe = x.detachedCopy()
    probe.requiresGrad = true
    let logits = model.forward(probe, training: true)
    for (a, b) in zip(logits.scalars, f.logits_train) {
        #expect(close(Double(a), b, rel: 1e-4, abs: 1e-5), "train logit \(a) vs PyTorch \(b)")
    }
    var loss = crossEntropy(logits, labels: y)
    #expect(close(Double(loss.item), f.loss_train, rel: 1e-4, abs: 1e-6))
    let trainMode = f.grad_mode == "train"
    if !trainMode {
        probe = x.detachedCopy()
        probe.requiresGrad = true
        loss = crossEntropy(model.forward(probe, training: false), labels: y)
    }
    loss.backward()

    // Gradients that are exactly zero in exact arithmetic (a BatchNorm β whose shift the next train-mode
    // BatchNorm removes) are rounding noise in float32: the floor is 1e-4 of the model's mean |g| (the
    // fixture script uses the same floor for its conditioning check).
    let meanAbs = f.grad_params.values.reduce(0.0) { $0 + $1.abs_sum } / Double(f.parameter_count)
    func compare(_ g: Tensor, _ s: ParityFixture.Summary, _ what: String) {
        let absSum = g.scalars.reduce(0.0) { $0 + Swift.abs(Double($1)) }
        let floor = 1e-4 * meanAbs
        #expect(close(absSum, s.abs_sum, rel: 2e-3, abs: floor * Double(s.count)), "\(what): Σ|g| \(absSum) vs \(s.abs_sum)")
        #expect(close(g.sumDouble(), s.sum, rel: 2e-3, abs: 2e-3 * s.abs_sum + floor * Double(s.count)),
                "\(what): Σg \(g.sumDouble()) vs \(s.sum)")
        for (k, expected) in s.samples.enumerated() {
            let v = Double(g.data[(k * g.count) / 8])
            #expect(close(v, expected, rel: 2e-3, abs: 2e-3 * s.abs_sum / Double(s.count) + floor), "\(what)[\(k)]: \(v) vs \(expected)")
        }
    }
    compare(probe.grad!, f.grad_input, "∂L/∂x")
    for e in model.state where e.isParameter {
        compare(e.tensor.grad!, f.grad_params[e.key]!, e.key)
    }
    for e in model.state where e.key.hasSuffix("running_mean") || e.key.hasSuffix("running_var") {
        #expect(close(e.tensor.sumDouble(), f.running_stats_sums[e.key]!, rel: 1e-4, abs: 1e-5), "\(e.key) after one step")
    }

    // Three SGD steps from fresh formula weights.
    let fresh = try ModelZoo.make(spec, rng: &rng)
    fillWithFormula(fresh)
    let sgd = SGD(parameters: fresh.parameters, learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4)
    for expected in f.sgd_losses {
        sgd.zeroGrad()
        let l = crossEntropy(fresh.forward(x, training: trainMode), labels: y)
        #expect(close(Double(l.item), expected, rel: 2e-4, abs: 1e-5), "SGD loss \(l.item) vs \(expected)")
        l.backward()
        sgd.step()
    }
}
