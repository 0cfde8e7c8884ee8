import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Two `advdistill train` processes on one run directory: the second refuses, naming the first and
/// `--force`, and exits 1 without touching the run; with `--force` (and `--overwrite`, as the first run has
/// results there) it takes the directory over.
@Test func aSecondRunOnTheSameDirectoryRefusesUnlessForced() throws {
    let workspace = try Workspace(side: 8, train: 64, test: 16)
    let long = try workspace.config("long", epochs: 100_000, arch: "tinycnn")
    let short = try workspace.config("short", epochs: 1, arch: "tinycnn")
    let runDirectory = try workspace.runDirectory()
    let first = try workspace.launch(["train", "--config", long, "--threads", "1"])
    try #require(waitUntil(first) { FileManager.default.fileExists(atPath: runDirectory + "/checkpoint.safetensors") }, "\(first.log)")

    let second = try workspace.run(["train", "--config", short, "--threads", "1"])
    #expect(second.exitStatus == 1, "\(second.log)")
    #expect(second.log.contains("Error: another run (process \(first.pid)) is writing to \(runDirectory) (lock file \(runDirectory)/.lock); wait for it to finish, or pass --force if it is not really running"), "\(second.log)")
    let lock = try String(contentsOfFile: runDirectory + "/.lock", encoding: .utf8)
    #expect(lock.split(separator: " ").first == "\(first.pid)" && lock.hasSuffix("\n"), "the first run still holds it: \(lock)")
    #expect(first.isRunning, "and goes on")

    let forced = try workspace.run(["train", "--config", short, "--threads", "1", "--force", "--overwrite"])
    #expect(forced.exitStatus == 0, "\(forced.log)")
    #expect(forced.log.contains("--force: took over the lock \(runDirectory)/.lock held by process \(first.pid)"), "\(forced.log)")
    #expect(forced.log.contains("done: \(runDirectory)"))
    first.stop()
}
