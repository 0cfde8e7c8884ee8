import Foundation
import Engine
import NN

/// Cyclic Iterative Adversarial Robustness Distillation (CIARD; Lu et al., ICCV 2025): two teachers as in
/// B-MTARD, a push loss that steers the student away from the clean teacher where that teacher is fooled,
/// and a robust teacher that keeps training on the student's adversarial examples. One step:
/// 1. x′ = PGD on the student's CE (BN eval, x + 0.001·N start, 10 signed steps of 2/255 at ε = 8/255).
/// 2. L_adv = KLc(softmax(T_adv(x′)/τ_adv), log_softmax(S(x′))), L_nat = KLc(softmax(T_nat(x)/τ_nat), log_softmax(S(x)));
///    τ from B-MTARD's Entropy-Based Balance (η = 0.001, decaying ×0.1 with each learning-rate milestone).
/// 3. Push loss over W = {i : argmax T_nat(x′_i) ≠ y_i}, where the clean teacher is fooled:
///    L_push = mean over W·K of KL(softmax(T_nat(x′)) ‖ softmax(S(x′)/T_push)), T_push = 5 (0 when W is empty).
/// 4. L = L_adv + L_nat − λ·s·L_push, with s = 10^(min(⌊log₁₀ L_adv⌋, ⌊log₁₀ L_nat⌋) − ⌊log₁₀ L_push⌋) putting
///    the push term at the magnitude of the smaller KL term (a constant, not differentiated) and λ = 1.
/// 5. Iterative teacher training: on its cycle (every `teacher_every`-th batch from epoch `teacher_start_epoch`)
///    the robust teacher runs in train mode on x′, its logits give step 2's soft labels (detached) and its own
///    loss CE(T_adv(x′), y), and it takes an SGD step (momentum 0.1, weight decay 2e-4) at a rate annealed
///    from `teacher_lr` = 1e-4: lr_T = teacher_lr·(1 + cos(π·p))/2·exp(−0.01·p²), p = (epoch − start)/(epochs − start).
///    Off its cycle it runs in eval mode without gradient: it does not change at all.
///
/// Defaults from the authors' `CIARD.py` (CIARD2025/CIARD): T_push = 5, λ = 1 ("lambda here is 1"), the scale s,
/// τ and η as B-MTARD, the teacher's SGD (lr 1e-4, momentum 0.1, wd 2e-4), updates from epoch 50 of 300 on every
/// batch, its rate annealed by that cosine × exp. The loss weights: the authors' script computes MTARD's
/// normalised weights but trains on L_adv + L_nat (their comment: the weighted sum was an ablation), so
/// the weights here are 1 and 1.
///
/// Choices where the script is not the paper's description: it keeps the robust teacher in train mode on
/// every batch, so its BN statistics drift even before its updates start; here it is in eval mode off its
/// cycle, so that it changes only when it is trained. Its annealing uses p = (epoch − start)/(epochs − start)
/// with 0-based epochs, which starts the updates at the full `teacher_lr` (the script's 1-based epochs give
/// the last epoch a rate of 0). The teacher is a copy of the robust checkpoint, saved with the run
/// (`advdistill.trainable.robust_teacher.`); the checkpoint file itself is never written.
final class CIARDTraining: Method {
    let name = "ciard"
    let attack: TrainingAttack
    let reduction: KLReduction
    let pushTemperature: Float, pushWeight: Float
    let teacherLR: Float, startEpoch: Int, every: Int
    let baseEta: Float
    var entropy: EntropyBalance
    /// The robust teacher being trained, and its optimizer.
    let teacher: Model
    let teacherOptimizer: SGD

    init(attack: TrainingAttack, reduction: KLReduction, eta: Float, pushTemperature: Float, pushWeight: Float,
         teacher: Model, teacherLR: Float, teacherMomentum: Float, teacherWeightDecay: Float, startEpoch: Int, every: Int) {
        self.attack = attack; self.reduction = reduction
        self.pushTemperature = pushTemperature; self.pushWeight = pushWeight
        self.teacherLR = teacherLR; self.startEpoch = startEpoch; self.every = every
        entropy = EntropyBalance(eta: eta); baseEta = eta
        self.teacher = teacher
        teacherOptimizer = SGD(parameters: teacher.parameters, learningRate: teacherLR, momentum: teacherMomentum,
                               weightDecay: teacherWeightDecay)
    }

    /// Trains a copy of the run's robust teacher (the loaded one stays frozen for anything else that reads it).
    convenience init(_ s: MethodSettings) throws {
        let env = try s.requireEnvironment()
        guard let robust = env.teachers.robust else {
            throw ConfigError.invalid(field: "teachers.robust", message: "method 'ciard' needs a robust teacher checkpoint")
        }
        self.init(attack: s.attack, reduction: s[.klReduction], eta: s[.eta], pushTemperature: s[.pushTemperature],
                  pushWeight: s[.pushWeight], teacher: try Self.trainableCopy(of: robust), teacherLR: s[.teacherLR],
                  teacherMomentum: s[.teacherMomentum], teacherWeightDecay: s[.teacherWeightDecay],
                  startEpoch: s[.teacherStartEpoch], every: s[.teacherEvery])
    }

    /// A model of `model`'s architecture holding a copy of its weights and BN statistics, its parameters
    /// receiving gradients.
    static func trainableCopy(of model: Model) throws -> Model {
        var rng = SeededGenerator(seed: 0)
        let copy = try ModelZoo.make(model.spec, rng: &rng)
        for (to, from) in zip(copy.state, model.state) {
            precondition(to.key == from.key && to.tensor.count == from.tensor.count, "copy of \(model.spec.arch): \(to.key) ≠ \(from.key)")
            to.tensor.data.update(from: from.tensor.data, count: from.tensor.count)
        }
        for p in copy.parameters { p.requiresGrad = true }
        return copy
    }

    var trainables: [Trainable] { [Trainable(name: "robust_teacher", model: teacher, optimizer: teacherOptimizer)] }

    func epochStarted(_ epoch: Int, lrDecays: Int) { entropy.eta = baseEta * powf(0.1, Float(lrDecays)) }

    /// Whether the teacher is trained on batch `batch` of `epoch`: its cycle.
    func teacherUpdates(epoch: Int, batch: Int) -> Bool { epoch >= startEpoch && batch % every == 0 }

    /// The teacher's learning rate in `epoch` (0-based) of `epochs`: 0 before its start, then annealed.
    func teacherRate(epoch: Int, epochs: Int) -> Float {
        guard epoch >= startEpoch else { return 0 }
        let p = Double(epoch - startEpoch) / Double(max(epochs - startEpoch, 1))
        return Float(Double(teacherLR) * (1 + cos(Double.pi * p)) / 2 * exp(-0.01 * p * p))
    }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        // What a modifier (IGDM) reads as the robust teacher is the one being trained.
        context.teachers.robust = teacher
        let natural = context.teachers.natural!
        let updates = teacherUpdates(epoch: context.epoch, batch: context.batchIndex)
        teacherOptimizer.learningRate = teacherRate(epoch: context.epoch, epochs: context.epochs)
        let xAdv = attack.run(student, x, labels: labels, rng: &context.rng, keys: context.exampleKeys)
        let teacherLogits = updates ? teacher.forward(xAdv, training: true) : withNoGrad { teacher.forward(xAdv, training: false) }
        let (naturalOnX, naturalOnAdv) = withNoGrad { (natural.forward(x, training: false), natural.forward(xAdv, training: false)) }
        let pAdv = withNoGrad { softmax(teacherLogits.detachedCopy(), temperature: entropy.tauAdv) }
        let pNat = withNoGrad { softmax(naturalOnX, temperature: entropy.tauNat) }
        let logitsAdv = student.forward(xAdv, training: true)
        let lossAdv = klc(pAdv, logSoftmax(logitsAdv), reduction)
        let lossNat = klc(pNat, logSoftmax(student.forward(x, training: true)), reduction)
        let (tauNat, tauAdv) = (entropy.tauNat, entropy.tauAdv)
        // Agreed over the ranks of a data-parallel job (the global batch's means).
        let entropies = context.globalMean([Double(Float(entropyRows(pNat).sumDouble()) / Float(labels.count)),
                                            Double(Float(entropyRows(pAdv).sumDouble()) / Float(labels.count))]).map(Float.init)
        entropy.update(entropyNat: entropies[0], entropyAdv: entropies[1])
        var loss = lossAdv + lossNat
        var logs = ["loss_adv": Double(lossAdv.item), "loss_nat": Double(lossNat.item),
                    "tau_nat_used": Double(tauNat), "tau_adv_used": Double(tauAdv)]
        let push = pushLoss(naturalOnAdversarial: naturalOnAdv, studentOnAdversarial: logitsAdv, labels: labels)
        // Called on every rank (a rank whose slice fooled nothing contributes 0 for the push term).
        let agreed = context.globalMean([Double(lossAdv.item), Double(lossNat.item), Double(push?.item ?? 0)]).map(Float.init)
        if let push {
            let scale = Self.magnitudeScale(agreed[0], agreed[1], agreed[2])
            loss = loss - (pushWeight * scale) * push
            logs["loss_push"] = Double(push.item)
            logs["push_scale"] = Double(scale)
        }
        var out = StepOutput(loss: loss, logs: logs, adversarial: xAdv)
        if updates {
            let teacherLoss = crossEntropy(teacherLogits, labels: labels)
            out.trainableLosses["robust_teacher"] = teacherLoss
            out.logs["loss_teacher"] = Double(teacherLoss.item)
        }
        return out
    }

    /// L_push: mean over the fooled examples' B_W·K entries of KL(softmax(T_nat(x′)) ‖ softmax(S(x′)/T_push))
    /// (with KLc's 1e-5 inside the log); nil when the clean teacher is right on every x′.
    /// naturalOnAdversarial, studentOnAdversarial: [N, K].
    func pushLoss(naturalOnAdversarial t: Tensor, studentOnAdversarial s: Tensor, labels: [Int]) -> Tensor? {
        let fooled = argmaxRows(t).enumerated().map { $0.element != labels[$0.offset] }
        let count = fooled.filter { $0 }.count
        guard count > 0 else { return nil }
        let k = t.shape[1]
        let rows = klDivergenceRows(target: softmax(t), logQ: logSoftmax(s, temperature: pushTemperature), epsInLog: 1e-5)
        let weights = Tensor(shape: [fooled.count], scalars: fooled.map { $0 ? 1 / Float(count * k) : 0 })
        return (rows * weights).sum()
    }

    /// s = 10^(min(⌊log₁₀ a⌋, ⌊log₁₀ b⌋) − ⌊log₁₀ c⌋), values within 1e-9 of 0 taken as 1e-7 (as the authors do).
    static func magnitudeScale(_ a: Float, _ b: Float, _ c: Float) -> Float {
        func order(_ v: Float) -> Double { floor(log10(abs(Double(v)) < 1e-9 ? 1e-7 : abs(Double(v)))) }
        return Float(pow(10, min(order(a), order(b)) - order(c)))
    }

    var state: CIARDState {
        get { CIARDState(tauNat: entropy.tauNat, tauAdv: entropy.tauAdv, eta: entropy.eta) }
        set { entropy.tauNat = newValue.tauNat; entropy.tauAdv = newValue.tauAdv; entropy.eta = newValue.eta }
    }
}

/// CIARD's temperatures and step η (its teacher and the teacher's optimizer are trainables, saved as tensors).
/// metrics.jsonl shows them as a balancer whose two losses weigh the same.
public struct CIARDState: MethodState {
    public var tauNat: Float
    public var tauAdv: Float
    public var eta: Float

    enum CodingKeys: String, CodingKey { case tauNat = "tau_nat", tauAdv = "tau_adv", eta }

    public var balancer: BalancerState? {
        BalancerState(tauNat: tauNat, tauAdv: tauAdv, wAdv: 0.5, eta: eta, weightRate: 0, initialLossAdv: nil, initialLossNat: nil)
    }
}
