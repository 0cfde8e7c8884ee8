import Engine
import NN

/// Introspective Adversarial Distillation (IAD-I, Zhu et al. 2022): the ARD loss, and from epoch
/// `startEpoch` (60) also mean_b (1 − p_T(x′)[y]^0.1)·KL(S(x) ‖ S(x′)): the student trusts its own clean
/// prediction where the teacher is unreliable on the adversarial example.
final class IADTraining: Method {
    let name = "iad"
    let ard: ARDTraining
    let startEpoch: Int

    init(attack: TrainingAttack, temperature: Float, alpha: Float, startEpoch: Int) {
        ard = ARDTraining(name: "iad", attack: attack, temperature: temperature, alpha: alpha)
        self.startEpoch = startEpoch
    }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        var r = ard.ardLoss(student: student, x: x, labels: labels, context: &context)
        guard context.epoch >= startEpoch else { return StepOutput(loss: r.loss, logs: r.logs, adversarial: r.xAdv) }
        let teacher = context.teachers.robust!
        let trust = teacherProbabilities(teacher, r.xAdv).pick(labels: labels).map { 1 - powf(max($0, 0), 0.1) }
        let logitsNat = r.logitsNat ?? student.forward(x, training: true)
        let kl = klDivergenceRows(target: softmax(logitsNat), logQ: logSoftmax(r.logitsAdv))
        let introspection = (kl * Tensor(shape: [labels.count], scalars: trust)).mean()
        r.logs["loss_introspection"] = Double(introspection.item)
        return StepOutput(loss: r.loss + introspection, logs: r.logs, adversarial: r.xAdv)
    }
}

import Foundation
