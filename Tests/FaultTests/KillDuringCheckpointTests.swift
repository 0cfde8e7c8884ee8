import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `kill -9` while `checkpoint.safetensors` is being written, again and again: the file on disk always
/// loads and is the previous or the new checkpoint, never a torn one, and the next run goes on from it.
@Test func killMinus9DuringCheckpointWritesNeverLeavesABrokenCheckpoint() throws {
    // smallcnn on 28×28 images: a 13.6 MB checkpoint, so writing it (create, write, fsync, rename) takes
    // milliseconds, while an epoch of one batch takes little more.
    let workspace = try Workspace(side: 28, train: 16, test: 16)
    let config = try workspace.config(epochs: 100_000)
    let runDirectory = try workspace.runDirectory()
    let checkpoint = runDirectory + "/checkpoint.safetensors"
    let temporaryPrefix = ".checkpoint.safetensors.tmp-"

    var writeSeconds = 0.005     // create → rename of one checkpoint, measured on the way
    var epoch = 0                // of the checkpoint on disk
    var rounds = 0, midWrite = 0
    while midWrite < 4 && rounds < 16 {
        let watcher = try DirectoryWatcher(runDirectory)
        let child = try workspace.launch(["train", "--config", config, "--threads", "1"] + (rounds == 0 ? [] : ["--resume"]))
        // Kill during this process's first or second checkpoint write (a fresh run's first has nothing to keep).
        let target = rounds == 0 ? 2 : Int.random(in: 1...2)
        var creates = 0, renames = 0, createdAt = Date()
        func count(_ events: [DirectoryWatcher.Event]) -> Bool {
            for event in events {
                if event.created && event.name.hasPrefix(temporaryPrefix) {
                    creates += 1
                    createdAt = event.seen
                } else if !event.created && event.name == "checkpoint.safetensors" {
                    renames += 1
                    writeSeconds = event.seen.timeIntervalSince(createdAt)
                }
            }
            return creates >= target
        }
        let deadline = Date().addingTimeInterval(60)
        var reached = false
        while !reached && child.isRunning && Date() < deadline { reached = count(watcher.next(timeout: 0.05)) }
        try #require(reached, "round \(rounds): the run ended or stalled before checkpoint write \(target):\n\(child.log)")
        // Somewhere in the write: just after the temporary file appeared, up to most of a write later.
        usleep(UInt32.random(in: 0...UInt32(max(writeSeconds, 0.001) * 0.8e6)))
        kill(child.pid, SIGKILL)
        child.waitForExit()
        _ = count(watcher.drain())

        #expect(child.killedBy == SIGKILL, "round \(rounds): the run was not the one that ended it:\n\(child.log)")
        let leftovers = temporaryFiles(in: runDirectory).filter { $0.hasPrefix(temporaryPrefix) }
        let position = try checkpointPosition(checkpoint)
        #expect(position.batch == 0)
        #expect(position.epoch == epoch + renames, "round \(rounds): the checkpoint is from epoch \(position.epoch), expected \(epoch) + \(renames) completed writes")
        #expect(renames == creates || renames == creates - 1, "round \(rounds): \(creates) writes begun, \(renames) completed")
        if !leftovers.isEmpty {
            midWrite += 1
            #expect(renames == creates - 1, "a write cut short must not have replaced the file")
        }
        epoch = position.epoch
        rounds += 1
    }
    #expect(midWrite >= 4, "only \(midWrite) of \(rounds) kills landed inside a checkpoint write")

    // The next run takes over the killed run's lock, clears the temporary files the kill left, resumes and
    // finishes with one metrics line per epoch.
    let leftBehind = temporaryFiles(in: runDirectory)
    let final = try workspace.run(["train", "--config", config, "--threads", "1", "--resume", "--epochs", "\(epoch + 1)"])
    #expect(final.exitStatus == 0, "\(final.log)")
    #expect(final.log.contains("took over a stale lock"), "\(final.log)")
    #expect(temporaryFiles(in: runDirectory).isEmpty)
    if !leftBehind.isEmpty { #expect(final.log.contains("removed \(leftBehind.count) temporary file"), "\(final.log)") }
    #expect(try checkpointPosition(checkpoint).epoch == epoch + 1)
    #expect(try metricsEpochs(runDirectory) == Array(1...(epoch + 1)))
}
