import Engine
import Foundation
import NN
import Testing
@testable import Distillation

extension TrainerRuns {
    /// A method that trains a model of its own beside the student (as PeerAiD trains a peer): the trainer
    /// saves the peer and its optimizer with the run, and `--resume` continues both.
    @Suite struct Trainables {
        static let registry = MethodRegistry(methods: MethodRegistry.standard.methods + [
            MethodEntry("peer", "test only: CE plus the soft labels of a peer trained beside the student") { PeerTraining(numClasses: $0.numClasses) },
        ])

        func trainer(_ dir: TempDir, epochs: Int, output: String) throws -> Trainer {
            var object = try configObject(dir, epochs: epochs, output: output)
            set(&object, "method", ["name": "peer"])
            let config = try RunConfig.parse(JSONSerialization.data(withJSONObject: object), source: "peer.json", methods: Self.registry)
            return try Trainer(config: config, methods: Self.registry)
        }

        @Test func aMethodsTrainablesAreCheckpointedAndResumed() throws {
            let dir = TempDir()
            let straight = try trainer(dir, epochs: 2, output: "a")
            #expect(try straight.run() == .finished)
            #expect(try trainer(dir, epochs: 1, output: "b").run() == .finished)
            let resumed = try trainer(dir, epochs: 2, output: "b")
            #expect(try resumed.run(resume: true) == .finished)

            let a = try SafeTensorsFile.read(path: straight.checkpointPath), b = try SafeTensorsFile.read(path: resumed.checkpointPath)
            let peer = Trainer.trainablePrefix("peer")
            #expect(a.entries.contains { $0.name == peer + "model.conv1.weight" })
            #expect(a.entries.contains { $0.name.hasPrefix(peer + "optimizer.") })
            #expect(a.metadata[Trainer.trainableStepsMetadataKey] == #"{"peer":8}"#)
            #expect(a.entries.map(\.name).sorted() == b.entries.map(\.name).sorted())
            for e in a.entries {
                #expect(try #require(b[e.name]).values.map(\.bitPattern) == e.values.map(\.bitPattern), "\(e.name)")
            }
            // best.safetensors is for evaluation: the student alone.
            let best = try SafeTensorsFile.read(path: straight.bestPath)
            #expect(!best.entries.contains { $0.name.hasPrefix(Checkpoint.reservedPrefix) })
        }
    }
}

/// CE, plus KL towards a peer that learns the labels on its own, one SGD step per batch.
final class PeerTraining: Method {
    let name = "peer"
    let peer: Model
    let peerOptimizer: SGD

    init(numClasses: Int) {
        var rng = SeededGenerator(seed: 21)
        peer = try! ModelZoo.make(ModelSpec(arch: "tinycnn", numClasses: numClasses, inChannels: 1, inputSize: side), rng: &rng)
        peerOptimizer = SGD(parameters: peer.parameters, learningRate: 0.05, momentum: 0.9)
    }

    var trainables: [Trainable] { [Trainable(name: "peer", model: peer, optimizer: peerOptimizer)] }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        // The trainer differentiates and steps the peer with the student.
        let peerLoss = crossEntropy(peer.forward(x, training: true), labels: labels)
        let p = withNoGrad { softmax(peer.forward(x, training: false)) }
        let logits = student.forward(x, training: true)
        let ce = crossEntropy(logits, labels: labels), kl = klDivergenceRows(target: p, logQ: logSoftmax(logits)).mean()
        return StepOutput(loss: ce + kl, logs: ["loss_ce": Double(ce.item), "loss_kl": Double(kl.item)], trainableLosses: ["peer": peerLoss])
    }
}
