import Engine
import NN

/// Adversarially Robust Distillation (Goldblum et al. 2020):
/// α·T²·KLc(T_adv(x)/T ‖ S(x′)/T) + (1 − α)·CE(S(x), y), T = 30, α = 1. x′ = PGD on the student's CE,
/// uniform start, student in train mode during the attack.
final class ARDTraining: Method {
    let name: String
    let attack: TrainingAttack
    let temperature: Float
    let alpha: Float

    init(name: String = "ard", attack: TrainingAttack, temperature: Float, alpha: Float) {
        self.name = name; self.attack = attack; self.temperature = temperature; self.alpha = alpha
    }

    /// The ARD loss and its parts; IAD adds to it.
    func ardLoss(student: Model, x: Tensor, labels: [Int], context: inout StepContext)
        -> (loss: Tensor, xAdv: Tensor, logitsAdv: Tensor, logitsNat: Tensor?, logs: [String: Double]) {
        let teacher = context.teachers.robust!
        let xAdv = attack.run(student, x, labels: labels, rng: &context.rng, keys: context.exampleKeys)
        let logitsAdv = student.forward(xAdv, training: true)
        let p = teacherProbabilities(teacher, x, temperature: temperature)
        let distill = (temperature * temperature) * klc(p, logSoftmax(logitsAdv, temperature: temperature), .mean)
        var logs = ["loss_kd": Double(distill.item)]
        guard alpha < 1 else { return (alpha * distill, xAdv, logitsAdv, nil, logs) }
        let logitsNat = student.forward(x, training: true)
        let ce = crossEntropy(logitsNat, labels: labels)
        logs["loss_ce"] = Double(ce.item)
        return (alpha * distill + (1 - alpha) * ce, xAdv, logitsAdv, logitsNat, logs)
    }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let r = ardLoss(student: student, x: x, labels: labels, context: &context)
        return StepOutput(loss: r.loss, logs: r.logs, adversarial: r.xAdv)
    }
}
