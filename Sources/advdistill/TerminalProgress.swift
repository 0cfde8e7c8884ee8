import Engine
import Foundation

/// Progress on standard error: a redrawn bar with rate and ETA on a terminal; plain lines otherwise
/// (every 10 % or 30 s, and only once a phase has run 5 s: short phases show just their summary), so
/// logs of CI and `nohup` runs stay readable.
final class TerminalProgress: ProgressSink {
    private let interactive = isatty(STDERR_FILENO) == 1
    private var phase = "", total = 0, started = Date(), lastLine = Date.distantPast, lastFraction = -1.0

    func begin(_ phase: String, total: Int) {
        self.phase = phase; self.total = max(total, 1); started = Date(); lastLine = .distantPast; lastFraction = -1

    }

    func update(done: Int, info: String) {
        let fraction = Double(done) / Double(total)
        let elapsed = Date().timeIntervalSince(started)
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        if interactive {
            let width = 28, filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = "\r\(phase) \(bar) \(done)/\(total) \(info) ETA \(clock(eta))"
            FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
        } else if elapsed >= 5, fraction - lastFraction >= 0.1 || Date().timeIntervalSince(lastLine) >= 30 {
            lastFraction = fraction; lastLine = Date()
            write(String(format: "  %@ %3.0f%% (%d/%d) %@ elapsed %@ ETA %@", phase, 100 * fraction, done, total, info,
                         clock(elapsed), clock(eta)))
        }
    }

    func end(_ summary: String) {
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        write("\(summary) [\(clock(Date().timeIntervalSince(started)))]")
    }

    func note(_ message: String) {
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        write(message)
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    private func clock(_ t: Double) -> String {
        guard t.isFinite else { return "--:--" }
        let s = Int(t.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}
