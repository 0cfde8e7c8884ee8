import Engine
import NN

/// Stochastic weight averaging (SWA; Izmailov et al., UAI 2018) of a model being trained, as PeerAiD's authors
/// average their student (`--swa_s`: `moving_average` and `bn_update` of utils/SWA.py, called from `train_kd`
/// in main.py). After epoch e (0-based) of E, for every e ≥ s = ⌊f·E⌋ (`startFraction` f in [0, 1)), and for
/// every later epoch once averaging has begun:
/// 1. Parameters (weights, biases, BN γ and β; not the BN statistics) move to the running mean of the snapshots:
///      θ̄ ← (1 − α)·θ̄ + α·θ,  α = 1/(n + 1),  then n ← n + 1,
///    each product rounded to Float and then the sum, as the authors' two in-place tensor ops do. After n updates
///    θ̄ is the arithmetic mean of the n snapshots (the first update copies θ: α = 1).
/// 2. The BN running statistics of θ̄ are computed afresh in one pass over the training images, train mode and no
///    gradient: reset to mean 0 and variance 1, then batch b of n_b images after N_b seen moves them with momentum
///    n_b/(N_b + n_b), which leaves for every BN layer
///      running_mean = Σ_b n_b·μ_b / Σ_b n_b,   running_var = Σ_b n_b·σ²_b / Σ_b n_b   (σ²_b unbiased, as PyTorch).
///    `num_batches_tracked` counts on (the authors reset only the mean and variance).
///
/// The model is built like the trained one and changed only here: its parameters take no gradient, and it is
/// meaningful once n ≥ 1.
final class StochasticWeightAverage {
    /// θ̄ and its BN statistics.
    let model: Model
    /// f: averaging starts after epoch ⌊f·E⌋ (0-based) of a run of E epochs.
    let startFraction: Float
    /// n: the snapshots averaged so far.
    var count = 0

    /// An average held in `model` (of the trained model's architecture), not yet holding any snapshot.
    init(model: Model, startFraction: Float) {
        self.model = model
        for p in model.parameters { p.requiresGrad = false }
        self.startFraction = startFraction
    }

    /// An average of models of architecture `spec`, not yet holding any snapshot.
    convenience init(spec: ModelSpec, startFraction: Float) throws {
        // The initial values are never read: the first update overwrites every parameter and statistic.
        var rng = SeededGenerator(seed: 0)
        self.init(model: try ModelZoo.make(spec, rng: &rng), startFraction: startFraction)
    }

    /// s = ⌊f·E⌋: the first epoch (0-based) averaged in a run of `epochs` epochs.
    func startEpoch(epochs: Int) -> Int { Int((Double(startFraction) * Double(epochs)).rounded(.down)) }

    /// Whether epoch `epoch` of `epochs` is averaged: from s on, and always once averaging has begun (a run
    /// resumed with more epochs, whose s moved past the current epoch, keeps its average going).
    func averages(epoch: Int, epochs: Int) -> Bool { epoch >= startEpoch(epochs: epochs) || count > 0 }

    /// Step 1: θ̄ ← (1 − α)·θ̄ + α·θ with α = 1/(n + 1), over the parameters of `trained` (same architecture).
    func add(_ trained: Model) {
        let alpha = 1 / Double(count + 1)
        let (keep, take) = (Float(1 - alpha), Float(alpha))
        let target = model.state.filter(\.isParameter), source = trained.state.filter(\.isParameter)
        precondition(target.count == source.count, "SWA of \(trained.spec.arch): \(source.count) parameters, the average has \(target.count)")
        for (to, from) in zip(target, source) {
            precondition(to.key == from.key && to.tensor.count == from.tensor.count, "SWA: \(to.key) ≠ \(from.key)")
            let (a, b) = (to.tensor.data, from.tensor.data)
            for i in 0..<to.tensor.count {
                let kept = a[i] * keep, taken = b[i] * take
                a[i] = kept + taken
            }
        }
        count += 1
    }

    /// Step 2: the BN running statistics of θ̄ from `images` (batches [n_b, C, H, W] in [0, 1]).
    func recomputeBatchNorm(_ images: some Sequence<Tensor>) {
        for entry in model.state where !entry.isParameter {
            if entry.key.hasSuffix("running_mean") { entry.tensor.data.update(repeating: 0, count: entry.tensor.count) }
            if entry.key.hasSuffix("running_var") { entry.tensor.data.update(repeating: 1, count: entry.tensor.count) }
        }
        var seen = 0
        for x in images {
            let n = x.shape[0]
            withBatchNormMomentum(Double(n) / Double(seen + n)) {
                withNoGrad { _ = model.forward(x, training: true) }
            }
            seen += n
        }
    }
}
