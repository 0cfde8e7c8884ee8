import Foundation
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
}
