import Engine
import NN

/// PGD adversarial training (Madry et al. 2018): CE(S(x′), y) with x′ = PGD-10 on the student's CE
/// (uniform start, 2/255 steps at ε = 8/255; BN in eval mode during the attack by default).
final class PGDAdversarialTraining: Method {
    let name = "pgd_at"
    let attack: TrainingAttack

    init(attack: TrainingAttack) { self.attack = attack }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let xAdv = attack.run(student, x, labels: labels, rng: &context.rng, keys: context.exampleKeys)
        let loss = crossEntropy(student.forward(xAdv, training: true), labels: labels)
        return StepOutput(loss: loss, logs: ["loss_adv_ce": Double(loss.item)], adversarial: xAdv)
    }
}
