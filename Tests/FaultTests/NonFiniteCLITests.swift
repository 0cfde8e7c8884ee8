import Foundation
import Testing

/// A learning rate of 1e30: the first step sends the weights to ~1e29 and every later loss overflows.
@Suite struct NonFiniteCLI {
    @Test func theRunStopsNamingEpochAndBatchAndExits1() throws {
        let workspace = try Workspace(side: 8, train: 64, test: 16)
        let config = try workspace.config(epochs: 1, arch: "tinycnn", changes: ["optimizer.lr": 1e30])
        let run = try workspace.run(["train", "--config", config, "--threads", "1"])
        #expect(run.exitStatus == 1, "\(run.log)")
        #expect(run.log.contains("Error: the loss became NaN or infinite at epoch 1, batch 2; the run stopped and the last checkpoint is intact (lower the learning rate, or set \"nan_policy\": \"skip\")"), "\(run.log)")
        #expect(!FileManager.default.fileExists(atPath: workspace.sub("runs/run/checkpoint.safetensors")))
    }

    /// `nan_policy: skip` skips and counts the bad batches per epoch, and stops once an epoch has nothing
    /// else: training cannot recover from there.
    @Test func skipCountsSkippedBatchesAndStopsWhenAWholeEpochIsSkipped() throws {
        let workspace = try Workspace(side: 8, train: 64, test: 16)
        let config = try workspace.config(epochs: 3, arch: "tinycnn", changes: ["optimizer.lr": 1e30, "nan_policy": "skip"])
        let run = try workspace.run(["train", "--config", config, "--threads", "1"])
        #expect(run.exitStatus == 1, "\(run.log)")
        #expect(run.log.contains("epoch 1, batch 4: non-finite loss, batch skipped (3 in this epoch)"), "\(run.log)")
        #expect(run.log.contains("non-finite batches skipped") && run.log.contains("epoch 1: loss"), "\(run.log)")
        #expect(run.log.contains("Error: all 4 batches of epoch 2 had a non-finite loss or gradient and were skipped: the model has diverged, so the run stopped; the last checkpoint is from before epoch 2"), "\(run.log)")
        let lines = try metricsLines(workspace.sub("runs/run"))
        #expect(lines.map { $0["skipped_batches"] as? Int } == [3])
        #expect(try checkpointPosition(workspace.sub("runs/run/checkpoint.safetensors")).epoch == 1)
    }
}
