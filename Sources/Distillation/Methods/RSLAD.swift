import Attacks
import Engine
import NN

/// Robust Soft Label Adversarial Distillation (Zi et al. 2021):
/// (5/6)·KLc(T(x), S(x′)) + (1/6)·KLc(T(x), S(x)), T the robust teacher on *clean* inputs;
/// x′ maximises KL(T(x) ‖ S(x′)) from x + 0.001·N.
final class RSLADTraining: Method {
    let name = "rslad"
    let attack: TrainingAttack
    let reduction: KLReduction

    init(attack: TrainingAttack, reduction: KLReduction) { self.attack = attack; self.reduction = reduction }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let p = teacherProbabilities(context.teachers.robust!, x)
        let xAdv = attack.run(student, x, labels: labels, rng: &context.rng, keys: context.exampleKeys) { _, _ in .kl(reference: p) }
        let adv = klc(p, logSoftmax(student.forward(xAdv, training: true)), reduction)
        let nat = klc(p, logSoftmax(student.forward(x, training: true)), reduction)
        let loss = (5.0 / 6.0) * adv + (1.0 / 6.0) * nat
        return StepOutput(loss: loss, logs: ["loss_adv": Double(adv.item), "loss_nat": Double(nat.item)], adversarial: xAdv)
    }
}
