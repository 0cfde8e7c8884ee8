import Engine
import NN

/// Adaptive Adversarial Distillation (Huang et al. 2023): the inner maximisation searches for the point
/// where teacher and student disagree most, x′ = argmax KL(T(x′) ‖ S(x′)) (both models see x′; the
/// gradient flows through both, the teacher's parameters stay frozen); loss KL(T(x′) ‖ S(x′)).
/// Default reduction "batchmean" (per-example sum over classes, mean over the batch).
final class AdaADTraining: Method {
    let name = "adaad"
    let attack: TrainingAttack
    let reduction: KLReduction

    init(attack: TrainingAttack, reduction: KLReduction) { self.attack = attack; self.reduction = reduction }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let teacher = context.teachers.robust!
        let xa = maximallyDisagreeing(student: student, teacher: teacher, x: x, attack: attack, rng: &context.rng, keys: context.exampleKeys)
        let p = teacherProbabilities(teacher, xa)
        let loss = klc(p, logSoftmax(student.forward(xa, training: true)), reduction)
        return StepOutput(loss: loss, logs: ["loss_kl": Double(loss.item)], adversarial: xa)
    }
}

/// AdaAD's inner maximisation (DGAD uses it too): x′ = argmax over the ε-ball of KL(T(x′) ‖ S(x′)), signed steps
/// from the attack's start, the gradient flowing through both models (the teacher in eval mode, its parameters
/// frozen; the student's BN as `attack.trainModeBN` says). x: [N, C, H, W] in [0, 1] → x′ of the same shape.
func maximallyDisagreeing(student: Model, teacher: Model, x: Tensor, attack: TrainingAttack, rng: inout SeededGenerator,
                          keys: [UInt64]? = nil) -> Tensor {
    var xa: Tensor
    switch attack.start {
    case .none: xa = x.detachedCopy()
    case .uniform:
        xa = Tensor.keyedUniform(x.shape, -attack.eps, attack.eps, using: &rng, keys: keys).adding(x)
    case .gaussian(let sigma):
        xa = Tensor.keyedNormal(x.shape, std: sigma, using: &rng, keys: keys).adding(x)
    }
    xa = projectLinf(xa, center: x, eps: attack.eps)
    for _ in 0..<attack.steps {
        let probe = xa.detachedCopy()
        probe.requiresGrad = true
        let t = teacher.forward(probe, training: false)
        let s = student.forward(probe, training: attack.trainModeBN)
        let g = klDivergenceRows(target: softmax(t), logQ: logSoftmax(s)).sum().gradients(wrt: [probe])[0]
        let stepped = xa.detachedCopy()
        for i in 0..<stepped.count { stepped.data[i] += attack.stepSize * (g.data[i] > 0 ? 1 : (g.data[i] < 0 ? -1 : 0)) }
        xa = projectLinf(stepped, center: x, eps: attack.eps)
    }
    return xa
}
