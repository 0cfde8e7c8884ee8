import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT / SIGTERM handling for long runs: the first signal asks the trainer to save a checkpoint and
/// stop after the current batch; a second one exits at once.
public enum Interruption {
    static let requested = Atomic<Int32>(0)

    /// Installs the handlers (the CLI does this before training).
    public static func install() {
        _ = Glibc.signal(SIGINT) { sig in
            if Interruption.requested.exchange(sig, ordering: .relaxed) != 0 { _exit(128 + sig) }
        }
        _ = Glibc.signal(SIGTERM) { sig in
            if Interruption.requested.exchange(sig, ordering: .relaxed) != 0 { _exit(128 + sig) }
        }
    }

    /// The signal received, or nil.
    public static var received: Int32? {
        let s = requested.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }

    /// For tests: pretend a signal arrived / clear it.
    public static func simulate(_ sig: Int32) { requested.store(sig, ordering: .relaxed) }
    public static func reset() { requested.store(0, ordering: .relaxed) }
}
