import Foundation
import Testing
@testable import Distillation
#if canImport(Glibc)
import Glibc
#endif

extension TrainerRuns {
    @Suite struct Lock {
        func trainer(_ dir: TempDir, progress: RecordingProgress = RecordingProgress()) throws -> Trainer {
            let t = try Trainer(config: try loadConfig(try configObject(dir, epochs: 1), in: dir), progress: progress)
            try FileManager.default.createDirectory(atPath: t.runDirectory, withIntermediateDirectories: true)
            return t
        }

        func writeLock(_ t: Trainer, _ text: String) throws {
            try text.write(toFile: t.runDirectory + "/.lock", atomically: false, encoding: .utf8)
        }

        /// The pid of a process that has exited (and been reaped), so no process has it.
        func deadPID() throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/true")
            try p.run()
            p.waitUntilExit()
            return p.processIdentifier
        }

        @Test func liveOwnerRefusesAndItsLockIsLeftAlone() throws {
            let dir = TempDir()
            let t = try trainer(dir)
            let owner = "\(getpid())\n"     // this very process: certainly running
            try writeLock(t, owner)
            let error = try #require(throws: TrainerError.self) { try t.run() }
            guard case let .runLocked(dir: lockedDir, pid: pid) = error else { Issue.record("\(error)"); return }
            #expect(lockedDir == t.runDirectory && pid == getpid())
            #expect(error.description.contains("process \(getpid())") && error.description.contains("--force"))
            #expect(try String(contentsOfFile: t.runDirectory + "/.lock", encoding: .utf8) == owner)
            #expect(!FileManager.default.fileExists(atPath: t.checkpointPath))
        }

        @Test func forceTakesOverALiveLock() throws {
            let dir = TempDir()
            let progress = RecordingProgress()
            let t = try trainer(dir, progress: progress)
            try writeLock(t, "1\n")        // init: always running
            #expect(try t.run(force: true) == .finished)
            #expect(progress.notes.contains { $0.contains("--force") && $0.contains("process 1") })
            #expect(!FileManager.default.fileExists(atPath: t.runDirectory + "/.lock"))
        }

        @Test func staleLockOfADeadProcessIsTakenOverWithANote() throws {
            let dir = TempDir()
            let progress = RecordingProgress()
            let t = try trainer(dir, progress: progress)
            let dead = try deadPID()
            #expect(kill(dead, 0) == -1 && errno == ESRCH)
            try writeLock(t, "\(dead)\n")
            var heldDuringTraining: String?
            t.beforeStep = { _, b, _ in
                if b == 0 { heldDuringTraining = try? String(contentsOfFile: t.runDirectory + "/.lock", encoding: .utf8) }
            }
            #expect(try t.run() == .finished)
            #expect(heldDuringTraining == "\(getpid()) \(try #require(RunLock.startTime(of: getpid())))\n")
            #expect(progress.notes.contains { $0.contains("stale") && $0.contains("process \(dead)") })
            #expect(!FileManager.default.fileExists(atPath: t.runDirectory + "/.lock"), "removed on exit")
        }

        /// A lock whose pid runs but started at another time than the lock says: the pid was reused by
        /// an unrelated process (here: this test process, under a made-up start time), so the lock is stale.
        @Test func lockOfAReusedPIDIsTakenOverWithANote() throws {
            let dir = TempDir()
            let progress = RecordingProgress()
            let t = try trainer(dir, progress: progress)
            let started = try #require(RunLock.startTime(of: getpid()))
            try writeLock(t, "\(getpid()) \(started + 1)\n")
            #expect(try t.run() == .finished)
            #expect(progress.notes.contains { $0.contains("stale") && $0.contains("started at another time") })
            // The same pid with its true start time is a live owner.
            try writeLock(t, "\(getpid()) \(started)\n")
            #expect(throws: TrainerError.self) { try t.run() }
        }

        @Test func startTimeMatchesProcStatAndParsingIsStrict() throws {
            // /proc/self/stat field 22 against the same field read by a shell tool.
            let started = try #require(RunLock.startTime(of: getpid()))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "cut -d')' -f2- /proc/\(getpid())/stat | awk '{print $20}'"]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            p.waitUntilExit()
            let shell = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(UInt64(shell.trimmingCharacters(in: .whitespacesAndNewlines)) == started)
            #expect(RunLock.parse(Data("12 34\n".utf8)) == (12, 34))
            #expect(RunLock.parse(Data("12\n".utf8)) == (12, nil))
            #expect(RunLock.parse(Data("12 34 56".utf8)).pid == nil)
            #expect(RunLock.parse(Data("x".utf8)).pid == nil)
            #expect(RunLock.parse(Data()).pid == nil)
        }

        @Test func unreadableLockCountsAsHeld() throws {
            // An empty lock may be one whose owner has created it and not yet written its pid.
            let dir = TempDir()
            let t = try trainer(dir)
            try writeLock(t, "")
            #expect(throws: TrainerError.self) { try t.run() }
            #expect(FileManager.default.fileExists(atPath: t.runDirectory + "/.lock"))
        }

        @Test func releaseLeavesALockThatIsNoLongerOurs() throws {
            // After another process took the lock over with --force, our exit must not delete its lock.
            let dir = TempDir()
            let (lock, note) = try RunLock.acquire(directory: dir.path, force: false)
            #expect(note == nil)
            #expect(throws: TrainerError.self) { try RunLock.acquire(directory: dir.path, force: false) }
            try "1\n".write(toFile: dir.sub(".lock"), atomically: false, encoding: .utf8)
            lock.release()
            #expect(try String(contentsOfFile: dir.sub(".lock"), encoding: .utf8) == "1\n")
        }
    }
}
