import Engine
import NN

/// Dynamic Guidance Adversarial Distillation (DGAD; Park et al., ECCV 2024), from the robust teacher T:
/// 1. x′ = AdaAD's inner maximisation of KL(T(x′) ‖ S(x′)) (x + 0.001·N start, 10 signed steps of 2/255 at
///    ε = 8/255, the student's BN in eval mode).
/// 2. Misclassification-aware partition: examples the teacher gets wrong on clean inputs (argmax T(x) ≠ y,
///    the set M) are distilled on their clean input, the others on x′.
/// 3. Error-corrective label swapping, on the teacher's logits before the softmax: where argmax T(x) ≠ y, its
///    logits at y and at the argmax trade places; where T(x′)[y] < max_{j≠y} T(x′)[j], likewise on T(x′). The
///    swapped teacher is then right, and as confident as it was in its mistake.
/// 4. L = (1/B)·[Σ_{i∈M} KL(T̃(x_i) ‖ S(x_i)) + Σ_{i∉M} KL(T̃(x′_i) ‖ S(x′_i))] + β·MSE(softmax(S(x′)), softmax(S(x)))
///    (KL summed over classes; the MSE, the consistency term, averaged over B·K).
/// That is the authors' `main.py` (`--method DGAD`, ALP on): its (|M|/B)·loss_clean + ((B−|M|)/B)·loss_adv with
/// loss_clean averaged over M and loss_adv over the rest, written here as the one sum over the batch (which also
/// leaves no 0/0 when M is empty or everything). Defaults there: β = 1 (`--ALP_beta`). Their MobileNetV2 branch
/// halves the distillation part; it is not reproduced. B is the batch's own size (theirs divides by the
/// configured 128 also on the last, smaller batch).
final class DGADTraining: Method {
    let name = "dgad"
    let attack: TrainingAttack
    let alpBeta: Float

    init(attack: TrainingAttack, alpBeta: Float) { self.attack = attack; self.alpBeta = alpBeta }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let teacher = context.teachers.robust!
        let xAdv = maximallyDisagreeing(student: student, teacher: teacher, x: x, attack: attack, rng: &context.rng, keys: context.exampleKeys)
        let guidance = withNoGrad {
            Self.guidance(teacherClean: teacher.forward(x, training: false), teacherAdversarial: teacher.forward(xAdv, training: false),
                          labels: labels)
        }
        let logitsNat = student.forward(x, training: true), logitsAdv = student.forward(xAdv, training: true)
        let (distill, consistency) = Self.loss(studentClean: logitsNat, studentAdversarial: logitsAdv, guidance: guidance)
        let loss = distill + alpBeta * consistency
        return StepOutput(loss: loss, logs: [
            "loss_kl": Double(distill.item), "loss_alp": Double(consistency.item),
            "teacher_wrong": Double(guidance.teacherWrong.filter { $0 }.count) / Double(labels.count),
        ], adversarial: xAdv)
    }

    /// The teacher's guidance for one batch: its swapped logits on x and on x′ and the partition M.
    struct Guidance {
        /// T̃(x), T̃(x′): [N, K], labels swapped where the teacher was wrong.
        var clean: Tensor
        var adversarial: Tensor
        /// M: argmax T(x) ≠ y, per example.
        var teacherWrong: [Bool]
    }

    /// Steps 2 and 3: the partition from T(x) and the swapped logits. teacherClean, teacherAdversarial: [N, K].
    static func guidance(teacherClean: Tensor, teacherAdversarial: Tensor, labels: [Int]) -> Guidance {
        let k = teacherClean.shape[1]
        let clean = teacherClean.detachedCopy(), adversarial = teacherAdversarial.detachedCopy()
        let top = argmaxRows(teacherClean)
        let wrong = top.enumerated().map { $0.element != labels[$0.offset] }
        func swap(_ t: Tensor, _ a: Int, _ b: Int) { let v = t.data[a]; t.data[a] = t.data[b]; t.data[b] = v }
        for (i, y) in labels.enumerated() {
            let row = i * k
            if wrong[i] { swap(clean, row + y, row + top[i]) }
            // The strongest other class (the first, on ties); a swap only when it beats the label (margin < 0).
            var rival = y == 0 ? 1 : 0
            for j in 0..<k where j != y && adversarial.data[row + j] > adversarial.data[row + rival] { rival = j }
            if adversarial.data[row + y] < adversarial.data[row + rival] { swap(adversarial, row + y, row + rival) }
        }
        return Guidance(clean: clean, adversarial: adversarial, teacherWrong: wrong)
    }

    /// Step 4 from the student's logits on x and x′ ([N, K]): the partitioned distillation and the consistency term.
    static func loss(studentClean: Tensor, studentAdversarial: Tensor, guidance g: Guidance) -> (distill: Tensor, consistency: Tensor) {
        let n = g.teacherWrong.count
        let klClean = klDivergenceRows(target: softmax(g.clean), logQ: logSoftmax(studentClean))
        let klAdv = klDivergenceRows(target: softmax(g.adversarial), logQ: logSoftmax(studentAdversarial))
        let onClean = Tensor(shape: [n], scalars: g.teacherWrong.map { $0 ? 1 / Float(n) : 0 })
        let onAdv = Tensor(shape: [n], scalars: g.teacherWrong.map { $0 ? 0 : 1 / Float(n) })
        let distill = (klClean * onClean).sum() + (klAdv * onAdv).sum()
        let gap = softmax(studentAdversarial) - softmax(studentClean)
        return (distill, (gap * gap).mean())
    }
}
