import Attacks
import Engine
import NN

/// PeerAiD (Jung et al., CVPR 2024): no pretrained teacher. A peer network P, trained beside the student S
/// on the student's own adversarial examples, is the one the student distils from. One step:
/// 1. x′ maximises KL(softmax(P(x)) ‖ softmax(S(x′))) from x + 0.001·N: 10 signed steps of 2/255 at ε = 8/255,
///    the student's BN in eval mode, the peer's clean prediction (eval mode) fixed.
/// 2. The peer learns on x′: L_P = γ1·CE(P(x′), y) + γ2·T_r²·KL(softmax(S(x′)/T_r) ‖ softmax(P(x′)/T_r)).
/// 3. The student: L_S = λ1·CE(S(x′), y) + λ2·T²·KL(softmax(P(x′)/T) ‖ softmax(S(x′)/T))
///                      + λ3·T²·KL(softmax(S(x)/T) ‖ softmax(S(x′)/T)).
/// KL averaged over B·K (PyTorch's `KLDivLoss()` default, as the authors' `main.py` uses it); the peer's soft
/// labels are detached in L_S, the clean side S(x) is not (as there). Defaults: the authors' CIFAR-10 command
/// in jaewonalive/PeerAiD's README (T = 5, γ1 = 1, γ2 = 0.1, T_r = 1, λ1 = 0, λ2 = 1, λ3 = 1). The peer has the
/// student's architecture (p_type = s_type there), and the student's optimizer and learning-rate schedule
/// (the authors' configs give both lr 0.1 with the same milestones).
///
/// Choices where the authors' code differs from the paper's two separate minimisations: there, S(x′) enters
/// L_P without detaching, so L_P's gradient also reaches the student; here L_P sees S(x′) detached and
/// trains only the peer (the paper minimises L_P over the peer's parameters). And S(x′) is one forward pass
/// shared by both losses (the authors run it twice, in train mode, moving BN statistics twice).
///
/// Stochastic weight averaging of the student (`"swa"`, default on: the authors' commands all pass `--swa_s`):
/// after each epoch from s = ⌊f·E⌋ (0-based, E the run's epochs, f = `swa_start` = 0.715) the average θ̄ of the
/// student's weights takes in the new snapshot and its BN statistics are recomputed in one pass over the training
/// images (`StochasticWeightAverage` has the formulas). The authors start at their first learning-rate milestone
/// (`swa_s_start = lr_decay_epochs_student[0]` in main.py): epoch 214 of 300 in the CIFAR schedule of
/// Configs/cifar10-peeraid-resnet18.json, which f = 0.715 gives (⌊0.715·300⌋ = 214); a 5-epoch run averages
/// its epochs 4 and 5 (s = 3). From its first update the average is the run's model (`evaluatedModel`): the
/// per-epoch evaluation measures it, best.safetensors is chosen among its evaluations and checkpoint.safetensors
/// holds it as the model (the student's own weights under `advdistill.student.`), as the authors evaluate
/// (PGD, FGSM, AutoAttack) their best SWA student. They also keep the plain student's best; here the student
/// is measured only before averaging begins. The average never feeds back into training: the student, the
/// peer and their optimizers follow the same trajectory with SWA on or off.
final class PeerAiDTraining: Method {
    let name = "peeraid"
    let attack: TrainingAttack
    let temperature: Float, peerTemperature: Float
    let lambda1: Float, lambda2: Float, lambda3: Float
    let gamma1: Float, gamma2: Float
    let peer: Model
    let peerOptimizer: Optimizer
    /// The student's weight average; nil with `"swa": false`.
    let average: StochasticWeightAverage?

    init(attack: TrainingAttack, temperature: Float, peerTemperature: Float, lambda1: Float, lambda2: Float, lambda3: Float,
         gamma1: Float, gamma2: Float, peer: Model, peerOptimizer: Optimizer, average: StochasticWeightAverage? = nil) {
        self.attack = attack; self.temperature = temperature; self.peerTemperature = peerTemperature
        self.lambda1 = lambda1; self.lambda2 = lambda2; self.lambda3 = lambda3; self.gamma1 = gamma1; self.gamma2 = gamma2
        self.peer = peer; self.peerOptimizer = peerOptimizer; self.average = average
    }

    /// Builds the peer like the student, from its own stream of the run's seed (the student's initialisation
    /// draws from the seed's first stream), with the optimizer the config gives the student; and, with `swa`,
    /// the average (which draws from no stream of the seed).
    convenience init(_ settings: MethodSettings) throws {
        let env = try settings.requireEnvironment()
        var rng = SeededGenerator(seed: env.seed ^ 0x5045_4552_4149_4400)  // "PEERAID"
        let peer = try ModelZoo.make(env.student, rng: &rng)
        let average = settings[.swa] ? try StochasticWeightAverage(spec: env.student, startFraction: settings[.swaStart]) : nil
        self.init(attack: settings.attack, temperature: settings[.temperature], peerTemperature: settings[.peerTemperature],
                  lambda1: settings[.lambda1], lambda2: settings[.lambda2], lambda3: settings[.lambda3],
                  gamma1: settings[.gamma1], gamma2: settings[.gamma2],
                  peer: peer, peerOptimizer: env.optimizer.make(parameters: peer.parameters), average: average)
    }

    var trainables: [Trainable] { [Trainable(name: "peer", model: peer, optimizer: peerOptimizer)] }

    /// SWA's update after the epoch, from s on (see the type's comment).
    func epochTrained(_ epoch: Int, epochs: Int, student: Model, images: AnySequence<Tensor>) {
        guard let average, average.averages(epoch: epoch, epochs: epochs) else { return }
        average.add(student)
        average.recomputeBatchNorm(images)
    }

    /// The weight average once it holds a snapshot.
    var evaluatedModel: EvaluatedModel? {
        guard let average, average.count > 0 else { return nil }
        return EvaluatedModel(name: "swa_student", model: average.model)
    }

    /// The snapshots averaged so far (0 without SWA); the average's tensors are the checkpoint's model.
    var state: PeerAiDState {
        get { PeerAiDState(swaCount: average?.count ?? 0) }
        set { average?.count = newValue.swaCount }
    }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        peerOptimizer.learningRate = context.learningRate
        let peerClean = withNoGrad { softmax(peer.forward(x, training: false)) }
        let xAdv = attack.run(student, x, labels: labels, rng: &context.rng, keys: context.exampleKeys) { _, _ in .kl(reference: peerClean) }
        let peerLogits = peer.forward(xAdv, training: true)
        let studentLogits = student.forward(xAdv, training: true)
        let studentNatural = lambda3 > 0 ? student.forward(x, training: true) : nil
        let (peerLoss, studentLoss) = losses(peer: peerLogits, student: studentLogits, studentNatural: studentNatural, labels: labels)
        return StepOutput(loss: studentLoss, logs: ["loss_student": Double(studentLoss.item), "loss_peer": Double(peerLoss.item)],
                          adversarial: xAdv, trainableLosses: ["peer": peerLoss])
    }

    /// L_P and L_S (see the type's comment) from the logits: peer P(x′), student S(x′) and S(x), all [N, K].
    /// L_P differentiates only the peer's logits, L_S only the student's.
    func losses(peer p: Tensor, student s: Tensor, studentNatural sNat: Tensor?, labels: [Int]) -> (peer: Tensor, student: Tensor) {
        let (t, tr) = (temperature, peerTemperature)
        let studentTarget = softmax(s.detachedCopy(), temperature: tr)
        let peerLoss = gamma1 * crossEntropy(p, labels: labels)
            + (gamma2 * tr * tr) * klMean(studentTarget, logSoftmax(p, temperature: tr))
        let logQ = logSoftmax(s, temperature: t)
        var studentLoss = (lambda2 * t * t) * klMean(softmax(p.detachedCopy(), temperature: t), logQ)
        if lambda1 > 0 { studentLoss = studentLoss + lambda1 * crossEntropy(s, labels: labels) }
        if let sNat { studentLoss = studentLoss + (lambda3 * t * t) * klMean(softmax(sNat, temperature: t), logQ) }
        return (peerLoss, studentLoss)
    }

    /// PyTorch's `KLDivLoss()` (reduction "mean"): Σ p·(log p − log q) averaged over all N·K entries.
    private func klMean(_ p: Tensor, _ logQ: Tensor) -> Tensor {
        (1 / Float(p.count)) * klDivergenceRows(target: p, logQ: logQ).sum()
    }
}

/// PeerAiD's count n of averaged snapshots (`swa_count` in the checkpoint's method state).
public struct PeerAiDState: MethodState {
    public var swaCount: Int

    enum CodingKeys: String, CodingKey { case swaCount = "swa_count" }

    public init(swaCount: Int) { self.swaCount = swaCount }

    /// Read as a number (the trainer stores method states as `[String: Double]`); absent in checkpoints of
    /// runs from before SWA, which had averaged nothing.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let n = try c.decodeIfPresent(Double.self, forKey: .swaCount) ?? 0
        guard let count = Int(exactly: n), count >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .swaCount, in: c, debugDescription: "swa_count must be a whole number ≥ 0, got \(n)")
        }
        swaCount = count
    }
}
