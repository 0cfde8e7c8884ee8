import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whole-file writes that never leave a torn file: the bytes go to a temporary file beside the target,
/// are flushed to disk, and replace the target with one rename. A crash or a full disk leaves the old
/// file as it was. (`SafeTensorsFile.write` does the same with failure injection for its own tests.)
///
/// Only `kill -9` (or a power cut) can leave a temporary file behind: `removeLeftovers(of:)` clears those
/// of one target, which the trainer does for its own files once it holds the run's lock.
public enum AtomicFile {
    /// Replaces `path` with `data`; throws `AtomicFileError` naming the path and the system's reason.
    public static func write(_ data: Data, to path: String) throws(AtomicFileError) {
        let tmp = temporaryPath(for: path)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError(path: path, reason: String(cString: strerror(errno))) }
        func fail(_ code: Int32) -> AtomicFileError {
            close(fd)
            unlink(tmp)
            return AtomicFileError(path: path, reason: String(cString: strerror(code)))
        }
        let failure: Int32? = data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return n < 0 ? errno : EIO }
            }
            return nil
        }
        if let failure { throw fail(failure) }
        guard fsync(fd) == 0 else { throw fail(errno) }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let code = errno
            unlink(tmp)
            throw AtomicFileError(path: path, reason: String(cString: strerror(code)))
        }
        syncDirectory(of: path)
    }

    /// `dir/.name.tmp-<pid>-<random hex>`: hidden, unique per write, and recognisable by `removeLeftovers`.
    static func temporaryPath(for path: String) -> String {
        let (directory, name) = splitPath(path)
        return "\(directory)/\(temporaryPrefix(name))\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    }

    private static func temporaryPrefix(_ name: String) -> String { ".\(name).tmp-" }

    /// Removes the temporary files that interrupted writes of `path` left, returning their names. Only
    /// safe while no other process may be writing `path` (the trainer holds the run lock).
    @discardableResult
    public static func removeLeftovers(of path: String) -> [String] {
        let (directory, name) = splitPath(path)
        let prefix = temporaryPrefix(name)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix(prefix) && unlink("\(directory)/\($0)") == 0 }.sorted()
    }

    /// Makes a completed rename durable. Best effort: the new file is already in place.
    static func syncDirectory(of path: String) {
        let fd = open(splitPath(path).directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// ("dir", "name") of "dir/name"; "." for a bare name, "/" for a file in the root.
    static func splitPath(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}

public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}
