import Foundation
import Engine
import NN

/// Balanced Multi-Teacher Adversarial Robustness Distillation (B-MTARD) and MTARD (the same with the
/// temperatures fixed at 1). One step (DESIGN.md "Methods"):
/// 1. x′ = PGD on the student's CE (BN eval, x + 0.001·N start, 10 signed steps of 2/255 at ε = 8/255).
/// 2. L_adv = KLc(softmax(T_adv(x′)/τ_adv), log_softmax(S(x′))), L_nat = KLc(softmax(T_nat(x)/τ_nat), log_softmax(S(x))),
///    student in train mode, teachers in eval mode without gradient.
/// 3. Entropy-Based Balance updates τ from this batch's teacher entropies (applies next batch; B-MTARD only).
/// 4. Normalization Loss Balance updates (w_adv, w_nat) from this batch's losses (applies to this batch).
/// 5. L = w_adv·L_adv + w_nat·L_nat, × `lossScale` (10 on 100-class data).
/// 6. η and r_w decay ×0.1 whenever the learning rate does.
final class MultiTeacherDistillation: Method {
    let name: String
    let attack: TrainingAttack
    let reduction: KLReduction
    let lossScale: Float
    let balancesTemperature: Bool
    let baseEta: Float, baseRate: Float
    var entropy: EntropyBalance
    var weights: LossBalance

    /// `eta`: B-MTARD's temperature step; nil for MTARD, whose temperatures stay at 1.
    init(name: String, attack: TrainingAttack, reduction: KLReduction, lossScale: Float, eta: Float?, rate: Float, beta: Float) {
        self.name = name; self.attack = attack; self.reduction = reduction; self.lossScale = lossScale
        balancesTemperature = eta != nil
        entropy = eta.map(EntropyBalance.init(eta:)) ?? EntropyBalance()
        baseEta = entropy.eta; baseRate = rate
        weights = LossBalance(beta: beta, rate: rate)
    }

    func epochStarted(_ epoch: Int, lrDecays: Int) {
        let decay = powf(0.1, Float(lrDecays))
        entropy.eta = baseEta * decay
        weights.rate = baseRate * decay
    }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let xAdv = attack.run(student, x, labels: labels, rng: &context.rng, keys: context.exampleKeys)
        let pAdv = teacherProbabilities(context.teachers.robust!, xAdv, temperature: entropy.tauAdv)
        let pNat = teacherProbabilities(context.teachers.natural!, x, temperature: entropy.tauNat)
        let lossAdv = klc(pAdv, logSoftmax(student.forward(xAdv, training: true)), reduction)
        let lossNat = klc(pNat, logSoftmax(student.forward(x, training: true)), reduction)
        // The balancers update from the global batch's entropies and losses (identical on every rank).
        let global = context.globalMean([Double(Float(entropyRows(pAdv).sumDouble()) / Float(labels.count)),
                                         Double(Float(entropyRows(pNat).sumDouble()) / Float(labels.count)),
                                         Double(lossAdv.item), Double(lossNat.item)]).map(Float.init)
        let (hAdv, hNat) = (global[0], global[1])
        let (tauNat, tauAdv) = (entropy.tauNat, entropy.tauAdv)
        if balancesTemperature { entropy.update(entropyNat: hNat, entropyAdv: hAdv) }
        weights.update(lossAdv: global[2], lossNat: global[3])
        let loss = lossScale * (weights.wAdv * lossAdv + weights.wNat * lossNat)
        return StepOutput(loss: loss, logs: [
            "loss_adv": Double(lossAdv.item), "loss_nat": Double(lossNat.item),
            "entropy_adv": Double(hAdv), "entropy_nat": Double(hNat),
            "tau_nat_used": Double(tauNat), "tau_adv_used": Double(tauAdv),
        ], adversarial: xAdv)
    }

    var state: BalancerState {
        get {
            BalancerState(tauNat: entropy.tauNat, tauAdv: entropy.tauAdv, wAdv: weights.wAdv, eta: entropy.eta,
                          weightRate: weights.rate, initialLossAdv: weights.initialAdv, initialLossNat: weights.initialNat)
        }
        set {
            entropy.tauNat = newValue.tauNat; entropy.tauAdv = newValue.tauAdv; weights.wAdv = newValue.wAdv
            entropy.eta = newValue.eta; weights.rate = newValue.weightRate
            weights.initialAdv = newValue.initialLossAdv; weights.initialNat = newValue.initialLossNat
        }
    }
}
