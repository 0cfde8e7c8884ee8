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

    init(name: String, attack: TrainingAttack, reduction: KLReduction, lossScale: Float,
         balancesTemperature: Bool, eta: Float, rate: Float, beta: Float) {
        self.name = name; self.attack = attack; self.reduction = reduction; self.lossScale = lossScale
        self.balancesTemperature = balancesTemperature
        baseEta = eta; baseRate = rate
        entropy = EntropyBalance(eta: eta)
        weights = LossBalance(beta: beta, rate: rate)
    }

    func epochStarted(_ epoch: Int, lrDecays: Int) {
        let decay = powf(0.1, Float(lrDecays))
        entropy.eta = baseEta * decay
        weights.rate = baseRate * decay
    }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let xAdv = attack.run(student, x, labels: labels, rng: &context.rng)
        let pAdv = teacherProbabilities(context.teachers.robust!, xAdv, temperature: entropy.tauAdv)
        let pNat = teacherProbabilities(context.teachers.natural!, x, temperature: entropy.tauNat)
        let lossAdv = klc(pAdv, logSoftmax(student.forward(xAdv, training: true)), reduction)
        let lossNat = klc(pNat, logSoftmax(student.forward(x, training: true)), reduction)
        let hAdv = Float(entropyRows(pAdv).sumDouble()) / Float(labels.count)
        let hNat = Float(entropyRows(pNat).sumDouble()) / Float(labels.count)
        let (tauNat, tauAdv) = (entropy.tauNat, entropy.tauAdv)
        if balancesTemperature { entropy.update(entropyNat: hNat, entropyAdv: hAdv) }
        weights.update(lossAdv: lossAdv.item, lossNat: lossNat.item)
        let loss = lossScale * (weights.wAdv * lossAdv + weights.wNat * lossNat)
        return StepOutput(loss: loss, logs: [
            "loss_adv": Double(lossAdv.item), "loss_nat": Double(lossNat.item),
            "entropy_adv": Double(hAdv), "entropy_nat": Double(hNat),
            "tau_nat_used": Double(tauNat), "tau_adv_used": Double(tauAdv),
        ])
    }

    var state: [String: Double] {
        var s: [String: Double] = ["tau_nat": Double(entropy.tauNat), "tau_adv": Double(entropy.tauAdv),
                                   "w_nat": Double(weights.wNat), "w_adv": Double(weights.wAdv),
                                   "eta": Double(entropy.eta), "weight_rate": Double(weights.rate)]
        if let a = weights.initialAdv, let n = weights.initialNat { s["loss_adv_0"] = Double(a); s["loss_nat_0"] = Double(n) }
        return s
    }

    func restore(_ s: [String: Double]) throws {
        guard let tn = s["tau_nat"], let ta = s["tau_adv"], let wa = s["w_adv"] else {
            throw ConfigError.invalid(field: "checkpoint balancer state", message: "missing tau_nat/tau_adv/w_adv for \(name)")
        }
        entropy.tauNat = Float(tn); entropy.tauAdv = Float(ta); weights.wAdv = Float(wa)
        if let e = s["eta"] { entropy.eta = Float(e) }
        if let r = s["weight_rate"] { weights.rate = Float(r) }
        weights.initialAdv = s["loss_adv_0"].map(Float.init); weights.initialNat = s["loss_nat_0"].map(Float.init)
    }
}

import Foundation
