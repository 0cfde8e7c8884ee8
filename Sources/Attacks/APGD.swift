import Engine
import NN

/// Auto-PGD under L∞ (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
/// of diverse parameter-free attacks"): PGD with momentum 0.75 and a per-example step size that starts at
/// 2ε and halves at checkpoints w_j = ⌈p_j·N⌉ (p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06))
/// when the objective increased in fewer than ρ = 75 % of the steps since the last checkpoint, or when the
/// step size was not reduced at the last checkpoint and the best objective has not improved since; the
/// iterate then restarts from the best point. Each example keeps the first iterate that fools the model.
///
/// `APGD-CE` maximises cross-entropy; `APGD-T` runs the targeted DLR loss against each of the
/// `targetClasses` highest-ranked wrong classes in turn, only on examples not yet fooled.
public struct APGD: Attack {
    public enum Loss: Sendable { case crossEntropy, dlr, targetedDLR }

    public var eps: Float
    public var steps: Int
    public var loss: Loss
    public var targetClasses = 9
    public var rho: Float = 0.75

    public var name: String {
        switch loss { case .crossEntropy: "APGD-CE"; case .dlr: "APGD-DLR"; case .targetedDLR: "APGD-T" }
    }
    public var gradientSteps: Int { loss == .targetedDLR ? steps * targetClasses : steps }

    public init(eps: Float, steps: Int = 100, loss: Loss = .crossEntropy, targetClasses: Int = 9) {
        self.eps = eps; self.steps = steps; self.loss = loss; self.targetClasses = targetClasses
    }

    public func perturb(_ model: Model, _ x: Tensor, labels: [Int], rng: inout SeededGenerator) -> Tensor {
        switch loss {
        case .crossEntropy: return run(model, x, labels: labels, objective: .crossEntropy, rng: &rng).adversarial
        case .dlr: return run(model, x, labels: labels, objective: .dlr, rng: &rng).adversarial
        case .targetedDLR:
            let n = labels.count
            let k = withNoGrad { model.forward(x, training: false) }
            let classes = k.shape[1]
            let result = x.detachedCopy()
            var fooled = [Bool](repeating: false, count: n)
            let ranking: [[Int]] = (0..<n).map { i in
                (0..<classes).sorted { k.data[i * classes + $0] > k.data[i * classes + $1] }
            }
            for t in 0..<min(targetClasses, classes - 1) {
                let active = (0..<n).filter { !fooled[$0] }
                if active.isEmpty { break }
                let xs = x.gatherBatch(active)
                let ys = active.map { labels[$0] }
                // The (t+2)-th ranked class, skipping the true label (as AutoAttack's y_target = sorted[-(t+2)]).
                let targets = active.map { i in ranking[i].filter { $0 != labels[i] }[t] }
                let (adv, nowFooled) = run(model, xs, labels: ys, objective: .targetedDLR(targets: targets), rng: &rng)
                let hits = active.indices.filter { nowFooled[$0] }
                if !hits.isEmpty {
                    result.scatterBatch(adv.gatherBatch(hits), at: hits.map { active[$0] })
                    for h in hits { fooled[active[h]] = true }
                }
            }
            return result
        }
    }

    /// One APGD run; returns the adversarial batch (first fooling iterate, else the best) and which fooled.
    func run(_ model: Model, _ x: Tensor, labels: [Int], objective: AttackObjective,
             rng: inout SeededGenerator) -> (adversarial: Tensor, fooled: [Bool]) {
        let n = labels.count, per = x.count / max(n, 1)
        // Start: x + ε·t/‖t‖∞ with t uniform in [−1, 1] (a corner-ish point of the ball), clipped.
        var xa = Tensor(uninitializedShape: x.shape)
        for i in 0..<n {
            let t = (0..<per).map { _ in rng.uniform(-1, 1) }
            let m = max(t.map(abs).max() ?? 1, 1e-12)
            for j in 0..<per { xa.data[i * per + j] = min(max(x.data[i * per + j] + eps * t[j] / m, 0), 1) }
        }
        let (values, logits, grad) = objectiveAndGradient(model, xa, labels: labels, objective: objective)
        var fooled = misclassified(logits, labels: labels)
        let bestAdv = x.detachedCopy()
        for i in 0..<n where fooled[i] { (bestAdv.data + i * per).update(from: xa.data + i * per, count: per) }
        var lossBest = values
        let xBest = xa.detachedCopy(), gradBest = grad.detachedCopy()
        var stepSize = [Float](repeating: 2 * eps, count: n)
        var xOld = xa.detachedCopy()

        let nIter = steps
        var checkLength = max(Int(0.22 * Double(nIter)), 1)
        let sizeDecrease = max(Int(0.03 * Double(nIter)), 1), minLength = max(Int(0.06 * Double(nIter)), 1)
        var sinceCheck = 0
        var lossBestLastCheck = lossBest
        var reducedLastCheck = [Bool](repeating: true, count: n)
        var lossSteps: [[Float]] = []      // per step: 1 where the objective rose, per example
        var previous = values

        // Examples leave the computation once fooled: their first fooling iterate is kept, and no later
        // step can change the outcome (AutoAttack counts an example as broken once any iterate fools it).
        var active = (0..<n).filter { !fooled[$0] }
        for step in 0..<nIter {
            if active.isEmpty { break }
            let a: Float = step > 0 ? 0.75 : 1.0
            let next = xa.detachedCopy()
            for i in active {
                let alpha = stepSize[i]
                for j in (i * per)..<((i + 1) * per) {
                    let lo = max(x.data[j] - eps, 0), hi = min(x.data[j] + eps, 1)
                    let g = grad.data[j]
                    let z = min(max(xa.data[j] + alpha * (g > 0 ? 1 : (g < 0 ? -1 : 0)), lo), hi)
                    let momentum = xa.data[j] - xOld.data[j]
                    next.data[j] = min(max(xa.data[j] + a * (z - xa.data[j]) + (1 - a) * momentum, lo), hi)
                }
            }
            xOld = xa
            xa = next
            let sub = objectiveAndGradient(model, xa.gatherBatch(active), labels: active.map { labels[$0] },
                                           objective: objective.restricted(to: active))
            grad.scatterBatch(sub.gradient, at: active)
            let nowFooled = misclassified(sub.logits, labels: active.map { labels[$0] })
            var increased = [Float](repeating: 0, count: n)
            for (r, i) in active.enumerated() {
                let value = sub.values[r]
                if nowFooled[r] && !fooled[i] {
                    fooled[i] = true
                    (bestAdv.data + i * per).update(from: xa.data + i * per, count: per)
                }
                increased[i] = value > previous[i] ? 1 : 0
                previous[i] = value
                if value > lossBest[i] {
                    lossBest[i] = value
                    (xBest.data + i * per).update(from: xa.data + i * per, count: per)
                    (gradBest.data + i * per).update(from: grad.data + i * per, count: per)
                }
            }
            lossSteps.append(increased)
            sinceCheck += 1
            if sinceCheck == checkLength {
                for i in active {
                    let increases = lossSteps.suffix(checkLength).reduce(Float(0)) { $0 + $1[i] }
                    let oscillating = increases <= Float(checkLength) * rho
                    let noImprovement = !reducedLastCheck[i] && lossBestLastCheck[i] >= lossBest[i]
                    let reduce = oscillating || noImprovement
                    reducedLastCheck[i] = reduce
                    lossBestLastCheck[i] = lossBest[i]
                    if reduce {
                        stepSize[i] /= 2
                        (xa.data + i * per).update(from: xBest.data + i * per, count: per)
                        (grad.data + i * per).update(from: gradBest.data + i * per, count: per)
                    }
                }
                checkLength = max(checkLength - sizeDecrease, minLength)
                sinceCheck = 0
            }
            active.removeAll { fooled[$0] }
        }
        for i in 0..<n where !fooled[i] { (bestAdv.data + i * per).update(from: xBest.data + i * per, count: per) }
        return (bestAdv, fooled)
    }
}
