import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whole-file writes that never leave a torn file: the bytes go to a temporary file beside the target,
/// are flushed to disk, and replace the target with one rename. A crash or a full disk leaves the old
/// file as it was. (`SafeTensorsFile.write` does the same with failure injection for its own tests.)
public enum AtomicFile {
    /// Replaces `path` with `data`; throws `AtomicFileError` naming the path and the system's reason.
    public static func write(_ data: Data, to path: String) throws(AtomicFileError) {
        let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
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
    }
}

public struct AtomicFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}
