import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `<run>/.lock`: at most one trainer writes a run directory at a time.
///
/// The file is created exclusively (`O_CREAT | O_EXCL`) and holds the owner's pid and its start time
/// (`/proc/<pid>/stat` field 22, clock ticks since boot): `"4242 881234\n"`. When it already exists:
/// - its pid is running with the same start time (or the file names no pid): refuse with
///   `TrainerError.runLocked`, unless `force`;
/// - its pid is gone (the owner crashed or was killed twice), or now belongs to a process that started at
///   another time (the pid was reused, e.g. after a reboot): the lock is stale and is taken over.
/// A lock holding a pid alone (an older version's) counts as held while the pid runs.
/// `release()` removes the file only while it still names this process, so a run whose lock was taken
/// over with `--force` never deletes the new owner's lock.
///
/// Limit: two processes taking over the same stale lock in the same instant may both succeed.
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
                let text = Array((startTime(of: me).map { "\(me) \($0)\n" } ?? "\(me)\n").utf8)
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
            let (owner, started) = parse(contents)
            if let owner, owner > 0, !isRunning(owner) {
                note = "took over a stale lock: process \(owner), which held \(path), is no longer running"
            } else if let owner, let started, let now = startTime(of: owner), now != started {
                note = "took over a stale lock: process \(owner), which held \(path), is no longer running "
                    + "(its pid now belongs to a process started at another time)"
            } else if force {
                note = "--force: took over the lock \(path) held by " + (owner.map { "process \($0)" } ?? "an unreadable lock file")
            } else {
                throw TrainerError.runLocked(dir: directory, pid: owner)
            }
            unlink(path)
        }
        throw TrainerError.runLocked(dir: directory, pid: nil)
    }

    /// Whether a live process other than this one holds the lock of `directory` (a stale lock does not count).
    static func isHeld(directory: String) -> Bool {
        guard let contents = FileManager.default.contents(atPath: directory + "/.lock") else { return false }
        let (owner, started) = parse(contents)
        guard let owner, owner > 0, owner != getpid(), isRunning(owner) else { return false }
        if let started, let now = startTime(of: owner), now != started { return false }
        return true
    }

    /// Removes the lock if it is still ours.
    func release() {
        guard let contents = FileManager.default.contents(atPath: path), Self.parse(contents).pid == pid else { return }
        unlink(path)
    }

    /// The pid and start time a lock file holds (nil where absent or unreadable).
    static func parse(_ contents: Data) -> (pid: Int32?, started: UInt64?) {
        let words = String(decoding: contents, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard words.count <= 2, let first = words.first, let pid = Int32(first) else { return (nil, nil) }
        return (pid, words.count == 2 ? UInt64(words[1]) : nil)
    }

    /// When process `pid` started, in clock ticks since boot (`/proc/<pid>/stat` field 22), if readable.
    /// Field 2 (the command name) may hold spaces and parentheses, so fields are counted after its last ')'.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil   // field 22 is the 20th after the name
    }

    /// Whether a process with this pid exists (EPERM: it exists but belongs to another user) and has not
    /// ended: a zombie (an exited process nobody has reaped yet, such as an MPI rank whose mpirun ended
    /// first) holds nothing.
    static func isRunning(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
