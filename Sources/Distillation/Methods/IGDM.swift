import Engine
import NN

/// Indirect Gradient Distillation Module (IGDM; Lee et al., ICLR 2025), a modifier of any method that distils
/// from a robust teacher: besides the base method's loss, the student matches the teacher's *output difference*
/// across the base method's adversarial perturbation δ = x′ − x, which matches their input gradients along δ
/// without computing them (f(x+δ) − f(x−δ) ≈ 2·∇f(x)·δ):
///
///     L = L_base + α·(e/E)·KL(softmax(T(x+δ) − T(x−δ)) ‖ softmax(S(x+δ) − S(x−δ)))
///
/// KL summed over classes and averaged over the batch; e the 1-based epoch of E. The teacher is the robust
/// one, in eval mode without gradient; the student runs in train mode. Defaults from `igdm.py` and `args.py`
/// of HongsinLee/saad (the authors' code): α = 1 (`--igdm_alpha`), the weight ramped linearly with the epoch
/// (`epoch/200` over its 200 epochs). As there, x − δ is not clipped to [0, 1]: it is the mirror point
/// of the perturbation, not an input the model will meet; and S(x+δ) is a forward pass of its own (the base
/// method's pass on x′ is not shared), which moves the student's BN running statistics once more per batch.
/// One difference from the script, by choice: `igdm.py` calls AdaAD's inner maximisation with step 8/255 and
/// ε 2/255 (keyword arguments, the reverse of that function's own defaults and of `saad.py`'s call), so both
/// its AdaAD term and δ live in a 2/255 ball; here x′ is made at the config's `attack` (8/255 with step 2/255
/// in Configs/cifar10-adaad-igdm-resnet18.json). `"attack": {"eps": "2/255", "step_size": 0.0313725}` there
/// trains what the script trains.
final class IGDMModified<Base: Method>: MethodWrapper {
    typealias State = Base.State
    let base: Base
    let alpha: Float

    init(base: Base, alpha: Float) { self.base = base; self.alpha = alpha }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        var out = base.step(student: student, x: x, labels: labels, context: &context)
        guard let xAdv = out.adversarial else { preconditionFailure("igdm wraps \(base.name), which returned no adversarial example") }
        let teacher = context.teachers.robust!
        // x + δ is x′ itself; x − δ = 2x − x′.
        let xMinus = withNoGrad { x - (xAdv - x) }
        let teacherDifference = withNoGrad { teacher.forward(xAdv, training: false) - teacher.forward(xMinus, training: false) }
        let studentDifference = student.forward(xAdv, training: true) - student.forward(xMinus, training: true)
        let matching = Self.matchingLoss(student: studentDifference, teacher: teacherDifference)
        let weight = alpha * Float(context.epoch + 1) / Float(max(context.epochs, 1))
        out.loss = out.loss + weight * matching
        out.logs["loss_igdm"] = Double(matching.item)
        out.logs["igdm_weight"] = Double(weight)
        return out
    }

    /// KL(softmax(ΔT) ‖ softmax(ΔS)), summed over classes, averaged over the batch. ΔS, ΔT: [N, K] → scalar;
    /// the teacher side is a constant (no gradient).
    static func matchingLoss(student: Tensor, teacher: Tensor) -> Tensor {
        klDivergenceRows(target: withNoGrad { softmax(teacher) }, logQ: logSoftmax(student)).mean()
    }
}

/// Opens the base method to its type, which `IGDMModified` is generic over.
func igdm<Base: Method>(_ base: Base, alpha: Float) -> any Method { IGDMModified(base: base, alpha: alpha) }
