import Foundation
import NN

/// A TensorBoard event file of scalars, written as training goes: `tensorboard --logdir runs/` shows a running
/// job. Each `scalars` call is one `Event` (one step, every tag of it) framed as a TFRecord and handed to the
/// operating system at once, so a reader sees it without waiting for a buffer, and a kill loses at most the
/// event being written (TensorBoard ignores a record cut short at the end of a file).
///
/// The file starts with `file_version` "brain.Event:2", which makes TensorBoard's `EventAccumulator` honour
/// `SessionLog.START`: a run that goes on from a checkpoint at step s writes a new file whose first event after
/// the version is START at step s + 1, and the accumulator then drops every event it has seen at a step ≥ s + 1.
/// `continueRun` also rewrites the older files without those events, so readers that ignore START (and a
/// TensorBoard started later) see each step once too.
public final class EventFileWriter {
    public let path: String
    private let handle: FileHandle

    /// TensorBoard's file name prefix; its loaders read every file whose name contains "tfevents".
    public static let filePrefix = "events.out.tfevents."
    static let fileVersion = "brain.Event:2"

    /// A new event file in `directory` (created if needed), named to sort after every event file there (TensorBoard
    /// reads a directory's files in name order), starting with the file version.
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970) throws(TensorBoardError) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        catch { throw .cannotWrite(path: directory, reason: error.localizedDescription) }
        path = (directory as NSString).appendingPathComponent(Self.newFileName(in: directory, wallTime: wallTime))
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        self.handle = handle
        var version = Tensorboard_Event()
        version.wallTime = wallTime
        version.fileVersion = Self.fileVersion
        try write(version)
    }

    deinit { try? handle.close() }

    /// Where a run that goes on after `step` (its checkpoint's) writes: the events after `step`, and those at or
    /// before it that `dropping` names (by step and scalars), are removed from the earlier files of `directory`, and
    /// a new file begins with `SessionLog.START` at `step + 1`.
    public static func continueRun(in directory: String, after step: Int,
                                   dropping: (_ step: Int, _ scalars: [String: Float]) -> Bool = { _, _ in false },
                                   wallTime: Double = Date().timeIntervalSince1970) throws(TensorBoardError) -> EventFileWriter {
        try discardEvents(in: directory, after: step, dropping: dropping)
        let writer = try EventFileWriter(directory: directory, wallTime: wallTime)
        var start = Tensorboard_Event()
        start.wallTime = wallTime
        start.step = Int64(step + 1)
        start.sessionLog = Tensorboard_SessionLog.with { $0.status = .start }
        try writer.write(start)
        return writer
    }

    /// One event at `step`: every `(tag, value)` as a scalar (TensorBoard stores them as 32-bit floats).
    public func scalars(_ values: [(tag: String, value: Double)], step: Int,
                        wallTime: Double = Date().timeIntervalSince1970) throws(TensorBoardError) {
        guard !values.isEmpty else { return }
        var event = Tensorboard_Event()
        event.wallTime = wallTime
        event.step = Int64(step)
        event.summary = Tensorboard_Summary.with { summary in
            summary.value = values.map { v in Tensorboard_Summary.Value.with { $0.tag = v.tag; $0.simpleValue = Float(v.value) } }
        }
        try write(event)
    }

    private func write(_ event: Tensorboard_Event) throws(TensorBoardError) {
        do { try handle.write(contentsOf: TFRecord.frame(try event.serializedData())) }
        catch { throw .cannotWrite(path: path, reason: error.localizedDescription) }
    }

    /// The event files of `directory` (not of its subdirectories), in the order TensorBoard reads them.
    public static func files(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix(filePrefix) }.sorted().map { (directory as NSString).appendingPathComponent($0) }
    }

    /// The events of one file, in order.
    static func events(inFile path: String) throws(TensorBoardError) -> [Tensorboard_Event] {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw .cannotRead(path: path, reason: "not readable") }
        return try TFRecord.records(in: bytes, source: path).map { data throws(TensorBoardError) in
            do { return try Tensorboard_Event(serializedBytes: data) }
            catch { throw .cannotRead(path: path, reason: "a record is not an Event (\(error))") }
        }
    }

    /// Rewrites (atomically) each event file of `directory` that holds events of steps after `step`, or events
    /// that `dropping` names, without them; a file left with nothing but its version is removed. Returns how many
    /// events were dropped.
    @discardableResult
    public static func discardEvents(in directory: String, after step: Int,
                                     dropping: (_ step: Int, _ scalars: [String: Float]) -> Bool = { _, _ in false })
        throws(TensorBoardError) -> Int {
        var dropped = 0
        for file in files(in: directory) {
            let events = try events(inFile: file)
            let kept = events.filter { e in
                e.hasFileVersion || (e.step <= Int64(step) && !dropping(Int(e.step), e.scalars))
            }
            guard kept.count != events.count else { continue }
            dropped += events.count - kept.count
            if kept.allSatisfy(\.hasFileVersion) {
                guard unlink(file) == 0 || errno == ENOENT else { throw .cannotWrite(path: file, reason: String(cString: strerror(errno))) }
                continue
            }
            var bytes = Data()
            for e in kept {
                do { bytes += TFRecord.frame(try e.serializedData()) }
                catch { throw .cannotWrite(path: file, reason: "\(error)") }
            }
            do throws(AtomicFileError) { try AtomicFile.write(bytes, to: file) }
            catch { throw .cannotWrite(path: file, reason: error.reason) }
        }
        return dropped
    }

    /// The scalars of a file's events, by step, in order (what a reader of the file sees, before any purge).
    public static func scalars(inFile path: String) throws(TensorBoardError) -> [(step: Int, scalars: [String: Float])] {
        try events(inFile: path).filter(\.hasSummary).map { (Int($0.step), $0.scalars) }
    }

    /// `events.out.tfevents.<seconds, 10 digits>.<host>.<pid>`, with the seconds raised past every event file
    /// already in `directory`, so that the new file sorts last even when the earlier one began this second.
    static func newFileName(in directory: String, wallTime: Double) -> String {
        let latest = files(in: directory).compactMap { path -> Int? in
            let name = (path as NSString).lastPathComponent.dropFirst(filePrefix.count)
            return name.split(separator: ".").first.flatMap { Int($0) }
        }.max()
        let seconds = max(Int(wallTime), (latest ?? -1) + 1)
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        return filePrefix + String(format: "%010d", seconds) + ".\(host).\(getpid())"
    }
}

extension Tensorboard_Event {
    /// The summary's simple values by tag.
    var scalars: [String: Float] {
        guard hasSummary else { return [:] }
        return Dictionary(summary.value.map { ($0.tag, $0.simpleValue) }, uniquingKeysWith: { _, last in last })
    }

    var hasFileVersion: Bool { if case .fileVersion = what { true } else { false } }
    var hasSummary: Bool { if case .summary = what { true } else { false } }
}
