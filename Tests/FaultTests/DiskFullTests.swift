import Foundation
import Testing

/// A checkpoint that cannot be written, in a real `advdistill train`: the run stops with an error naming
/// the file and the system's reason, exits 1, and leaves the previous checkpoint as it was and no
/// temporary file; `--resume` continues once there is room again.
@Suite struct DiskFull {
    /// smallcnn on 20×20 images: best.safetensors is 3.7 MB, checkpoint.safetensors (with momentum) 7.3 MB.
    static let side = 20

    /// A write that fails partway: under `ulimit -f 1024` no file may grow past 1 MiB, so the write of the
    /// second epoch's first checkpoint file fails with EFBIG after 1 MiB.
    @Test func aWriteThatFailsPartwayStopsTheRunNamingTheFileAndKeepsTheLastCheckpoint() throws {
        let workspace = try Workspace(side: Self.side, train: 64, test: 16)
        let config = try workspace.config(epochs: 1)
        let first = try workspace.run(["train", "--config", config, "--threads", "1"])
        #expect(first.exitStatus == 0, "\(first.log)")
        let runDirectory = workspace.sub("runs/run")
        let files = ["checkpoint.safetensors", "best.safetensors"].map { runDirectory + "/" + $0 }
        let before = files.map { FileManager.default.contents(atPath: $0) }

        // The signal a write past the limit raises (SIGXFSZ) is reset to its default, killing the process:
        // the CLI must ignore it itself to report the error.
        let limited = try workspace.launch(
            ["-c", "trap - XFSZ; ulimit -f 1024; exec \"$0\" \"$@\"", try CLI.require(),
             "train", "--config", config, "--threads", "1", "--resume", "--epochs", "2"],
            executable: "/bin/sh").waitForExit()
        #expect(limited.exitStatus == 1, "not a clean error exit:\n\(limited.log)")
        let failure = try #require(limited.log.firstMatch(
            of: /Error: Writing '(.+)' failed during writing the temporary file '.+': File too large \(errno \d+\)\. Any previous file at that path is unchanged\. The run stopped; once the cause is fixed, --resume continues from the last complete checkpoint\./),
            "\(limited.log)")
        #expect(files.contains(String(failure.output.1)))
        #expect(files.map { FileManager.default.contents(atPath: $0) } == before, "both checkpoints as they were")
        #expect(temporaryFiles(in: runDirectory).isEmpty)
        #expect(try checkpointPosition(files[0]).epoch == 1)

        let resumed = try workspace.run(["train", "--config", config, "--threads", "1", "--resume", "--epochs", "2"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(try metricsEpochs(runDirectory) == [1, 2])
        #expect(try checkpointPosition(files[0]).epoch == 2)
    }

    /// `unshare` arguments that give a private mount namespace in which this user may mount a tmpfs
    /// (as root; otherwise through a user namespace), or nil where neither works.
    static let privateMount: [String]? = {
        let probe = NSTemporaryDirectory() + "fault-tests-mount-" + UUID().uuidString
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
              (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil
        else { return nil }
        defer { try? FileManager.default.removeItem(atPath: probe) }
        return [["--mount"], ["--user", "--map-root-user", "--mount"]].first { flags in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            p.arguments = flags + ["/bin/sh", "-c", "mount -t tmpfs -o size=1m tmpfs \"$0\"", probe]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return false }
            p.waitUntilExit()
            return p.terminationReason == .exit && p.terminationStatus == 0
        }
    }()

    /// A full disk: the run writes to a 16 MiB tmpfs. Epoch 1 leaves 11 MB of checkpoints; epoch 2's new
    /// best.safetensors still fits beside them, its checkpoint.safetensors (7.3 MB more) does not: ENOSPC.
    @Test(.enabled(if: DiskFull.privateMount != nil, "needs a private tmpfs mount (root, or user namespaces)"))
    func aFullDiskStopsTheRunNamingTheFileAndKeepsTheLastCheckpoint() throws {
        let workspace = try Workspace(side: Self.side, train: 64, test: 16)
        let mountPoint = workspace.sub("small-disk"), kept = workspace.sub("kept")
        for dir in [mountPoint, kept] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let config = try workspace.config(epochs: 2, changes: ["output": mountPoint])
        // The mount lives as long as the namespace, so the run's files are copied out before it ends.
        let script = """
            mount -t tmpfs -o size=16m tmpfs "$1" || exit 97
            "$0" train --config "$2" --threads 1
            status=$?
            cp -a "$1/." "$3/" || exit 98
            exit $status
            """
        let run = try workspace.launch(
            try #require(Self.privateMount) + ["/bin/sh", "-c", script, try CLI.require(), mountPoint, config, kept],
            executable: "/usr/bin/unshare").waitForExit()
        let runDirectory = kept + "/run"
        #expect(run.exitStatus == 1, "not a clean error exit:\n\(run.log)")
        #expect(run.log.contains("Error: Writing '\(mountPoint)/run/checkpoint.safetensors' failed during writing the temporary file"), "\(run.log)")
        #expect(run.log.contains("No space left on device"), "\(run.log)")
        #expect(try checkpointPosition(runDirectory + "/checkpoint.safetensors").epoch == 1, "epoch 1's checkpoint intact")
        #expect(temporaryFiles(in: runDirectory).isEmpty)

        // On a disk with room (the copy), --resume trains epoch 2 again and finishes.
        let resumed = try workspace.run(["train", "--config", config, "--threads", "1", "--output", kept, "--resume"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(try metricsEpochs(runDirectory) == [1, 2])
        #expect(try checkpointPosition(runDirectory + "/checkpoint.safetensors").epoch == 2)
    }
}
