import Attacks
import Engine
import NN

/// TRADES (Zhang et al. 2019): CE(f(x), y) + β·mean_b KL(f(x) ‖ f(x′)), β = 6. x′ maximises that KL from
/// x + 0.001·N (10 steps of 0.007 at ε = 0.031, eval-mode BN). The clean side is not detached: the
/// gradient flows through both f(x) and f(x′).
final class TRADESTraining: Method {
    let name = "trades"
    let attack: TrainingAttack
    let beta: Float

    init(attack: TrainingAttack, beta: Float) { self.attack = attack; self.beta = beta }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let trainBN = attack.trainModeBN
        let xAdv = attack.run(student, x, labels: labels, rng: &context.rng, keys: context.exampleKeys) { x, _ in
            .kl(reference: withNoGrad { softmax(student.forward(x, training: trainBN)) })
        }
        let (loss, natural, robust) = Self.loss(student: student, x: x, xAdv: xAdv, labels: labels, beta: beta)
        return StepOutput(loss: loss, logs: ["loss_ce": Double(natural.item), "loss_kl": Double(robust.item)], adversarial: xAdv)
    }

    /// CE(f(x), y) + β·mean_b KL(f(x) ‖ f(x′)), both forward passes in train mode and both differentiated.
    static func loss(student: Model, x: Tensor, xAdv: Tensor, labels: [Int], beta: Float)
        -> (total: Tensor, natural: Tensor, robust: Tensor) {
        let logitsNat = student.forward(x, training: true)
        let logitsAdv = student.forward(xAdv, training: true)
        let natural = crossEntropy(logitsNat, labels: labels)
        let robust = klDivergenceRows(target: softmax(logitsNat), logQ: logSoftmax(logitsAdv)).mean()
        return (natural + beta * robust, natural, robust)
    }
}
