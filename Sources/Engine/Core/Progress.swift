/// How long-running library work (training epochs, attack suites) reports progress without printing.
/// The CLI provides a sink that draws a bar on a terminal or prints periodic lines otherwise.
public protocol ProgressSink: AnyObject {
    /// A phase begins: `total` units (images, batches) are expected.
    func begin(_ phase: String, total: Int)
    /// `done` units of the current phase are finished; `info` is a short status ("loss 0.31").
    func update(done: Int, info: String)
    /// The current phase ended.
    func end(_ summary: String)
    /// A line worth showing the user (a warning, a note).
    func note(_ message: String)
}

/// Discards everything (tests, library use without a UI).
public final class SilentProgress: ProgressSink {
    public init() {}
    public func begin(_ phase: String, total: Int) {}
    public func update(done: Int, info: String) {}
    public func end(_ summary: String) {}
    public func note(_ message: String) {}
}
