import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `<run>/.lock`: at most one trainer writes a run directory at a time.
///
/// The file is created exclusively (`O_CREAT | O_EXCL`) and holds the owner's pid. When it already exists:
/// - its pid is running (or the file names no pid): refuse with `TrainerError.runLocked`, unless `force`;
/// - its pid is gone (the owner crashed or was killed twice): the lock is stale and is taken over.
/// `release()` removes the file only while it still names this process, so a run whose lock was taken
/// over with `--force` never deletes the new owner's lock.
///
/// Limits: a pid reused by an unrelated process looks alive (pass `--force`), and two processes taking
/// over the same stale lock in the same instant may both succeed; neither happens in practice.
struct RunLock {
    let path: String
    let pid: Int32

    /// Takes the lock of `directory`. `note` says when a stale or forced lock was taken over.
    static func acquire(directory: String, force: Bool) throws -> (lock: RunLock, note: String?) {
        let path = directory + "/.lock"
        let me = getpid()
        var note: String?
        // A few attempts: each failed exclusive create either finds a lock to report, or removes a stale
        // one (or sees it vanish as its owner finishes) and tries again.
        for _ in 0..<4 {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                let text = Array("\(me)\n".utf8)
                let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                let code = errno
                close(fd)
                guard written == text.count else {
                    unlink(path)
                    throw TrainerError.io(path: path, why: "cannot write the run lock: \(String(cString: strerror(code)))")
                }
                return (RunLock(path: path, pid: me), note)
            }
            let code = errno
            guard code == EEXIST else {
                throw TrainerError.io(path: path, why: "cannot create the run lock: \(String(cString: strerror(code)))")
            }
            guard let contents = FileManager.default.contents(atPath: path) else { continue }   // released meanwhile
            let owner = Int32(String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            if let owner, owner > 0, !isRunning(owner) {
                note = "took over a stale lock: process \(owner), which held \(path), is no longer running"
            } else if force {
                note = "--force: took over the lock \(path) held by " + (owner.map { "process \($0)" } ?? "an unreadable lock file")
            } else {
                throw TrainerError.runLocked(dir: directory, pid: owner)
            }
            unlink(path)
        }
        throw TrainerError.runLocked(dir: directory, pid: nil)
    }

    /// Removes the lock if it is still ours.
    func release() {
        guard let contents = FileManager.default.contents(atPath: path),
              Int32(String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) == pid
        else { return }
        unlink(path)
    }

    /// Whether a process with this pid exists (EPERM: it exists but belongs to another user).
    static func isRunning(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
