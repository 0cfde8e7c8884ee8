import Engine
import NN

/// Natural training: CE(S(x), y) on clean data.
final class NaturalTraining: Method {
    let name = "natural"
    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        let loss = crossEntropy(student.forward(x, training: true), labels: labels)
        return StepOutput(loss: loss, logs: ["loss_ce": Double(loss.item)])
    }
}
