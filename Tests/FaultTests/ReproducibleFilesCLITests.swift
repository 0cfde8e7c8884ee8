import Foundation
import NN
import Testing

/// The same command writes the same bytes, run after run: the model spec that checkpoints and ONNX files carry in
/// their metadata is JSON with sorted keys, not keys in the order of each process's hash seed (which made two
/// trainings with bit-identical weights write checkpoints that differed in one metadata string).
@Suite struct ReproducibleFilesThroughTheCLI {
    @Test func initAndExportWriteTheSameBytesEveryRun() throws {
        let workspace = try Workspace(side: 8, train: 16, test: 16)
        var checkpoints: Set<Data> = [], exports: Set<Data> = []
        for i in 0..<4 {
            let checkpoint = workspace.sub("init-\(i).safetensors"), onnx = workspace.sub("model-\(i).onnx")
            let made = try workspace.run(["init", "--model", "tinycnn", "--seed", "3", "--out", checkpoint])
            try #require(made.exitStatus == 0, "\(made.log)")
            let exported = try workspace.run(["export", "--checkpoint", workspace.sub("init-0.safetensors"), "--onnx", onnx])
            try #require(exported.exitStatus == 0, "\(exported.log)")
            checkpoints.insert(try Data(contentsOf: URL(fileURLWithPath: checkpoint)))
            exports.insert(try Data(contentsOf: URL(fileURLWithPath: onnx)))
        }
        #expect(checkpoints.count == 1, "4 runs of init wrote \(checkpoints.count) different files")
        #expect(exports.count == 1, "4 runs of export wrote \(exports.count) different files")
    }

    /// `--threads` changes how fast, never what: a PGD-AT training (smallcnn, whose layers take both Winograd
    /// product kernels and the BLAS GEMMs of the linear layers) and an evaluation with PGD-20 and APGD-T give the
    /// same weights, batch norm statistics and optimizer state bit for bit, and the same examples broken, with
    /// 1, 2 and 3 threads (Compute.parts). Before, the GEMMs' sizes followed the thread count.
    @Test func trainingAndEvaluationGiveTheSameNumbersWithAnyThreadCount() throws {
        let workspace = try Workspace(side: 20, train: 256, test: 64)
        let config = try workspace.config(epochs: 1, batchSize: 32,
                                          changes: ["method.name": "pgd_at", "attack.steps": 3, "eval.attacks": "pgd20"])
        var weights: [[String: [UInt32]]] = [], evaluations: [[String: Any]] = []
        for threads in [1, 2, 3] {
            let output = workspace.sub("threads-\(threads)")
            let trained = try workspace.run(["train", "--config", config, "--threads", "\(threads)", "--output", output])
            try #require(trained.exitStatus == 0, "\(trained.log)")
            let checkpoint = try SafeTensorsFile.read(path: output + "/run/checkpoint.safetensors")
            weights.append(Dictionary(uniqueKeysWithValues: checkpoint.entries.map { ($0.name, $0.values.map(\.bitPattern)) }))
            let json = workspace.sub("eval-\(threads).json")
            let evaluated = try workspace.run(["eval", "--checkpoint", output + "/run/best.safetensors", "--data", workspace.sub("data"),
                                               "--eps", "0.1", "--attacks", "pgd20,apgd-t", "--limit", "24", "--batch-size", "10",
                                               "--threads", "\(threads)", "--json", json])
            try #require(evaluated.exitStatus == 0, "\(evaluated.log)")
            evaluations.append(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any])
        }
        #expect(!weights[0].isEmpty)
        /// What an evaluation found: clean accuracy, and per attack its accuracy and the examples it left robust.
        func findings(_ e: [String: Any]) -> [String] {
            let clean = (e["clean"] as? [String: Any])?["accuracy"] as? Double
            let attacks = (e["attacks"] as? [[String: Any]] ?? []).map { "\($0["key"] ?? "") \($0["accuracy"] ?? "") \($0["robust"] ?? "")" }
            return ["clean \(clean.map { "\($0)" } ?? "missing")"] + attacks
        }
        #expect(findings(evaluations[0]).count == 3)
        for i in 1..<3 {
            let threads = i + 1
            #expect(weights[i].keys.sorted() == weights[0].keys.sorted())
            for (name, bits) in weights[0] where weights[i][name] != bits {
                Issue.record("\(name) differs between 1 and \(threads) threads")
            }
            #expect(findings(evaluations[i]) == findings(evaluations[0]), "1 and \(threads) threads")
        }
    }
}
