import Foundation
import NN

/// A comparison of runs: report.html (self-contained page with charts), report.md (the tables) and
/// report.json (the numbers). Building it reads nothing and prints nothing; `write(to:)` writes the files.
public struct Report: Sendable, ReportFiles {
    public let document: ReportDocument
    let galleries: [[GalleryItem]]

    /// - Parameters:
    ///   - runs: the runs to compare, in row order (at least one).
    ///   - failures: runs that could not be read; the report lists them.
    ///   - notes: sentences shown at the top (e.g. "eval.json of runs/x was made now, with …").
    ///   - gitCommit: the code's commit, or "unknown".
    public init(runs: [RunRecord], failures: [RunFailure] = [], notes: [String] = [], gitCommit: String = "unknown",
                created: Date = Date()) throws(ReportError) {
        guard !runs.isEmpty else { throw .noUsableRuns(failures: failures.map { "\($0.directory): \($0.message)" }) }
        // Labels are config names, with the directory added where two runs share a name.
        let labels = runs.map { r in
            runs.filter { $0.config.name == r.config.name }.count > 1 ? "\(r.config.name) (\(r.directory))" : r.config.name
        }
        document = ReportDocument(records: runs, labels: labels, failures: failures, notes: notes, gitCommit: gitCommit, created: created)
        var galleries: [[GalleryItem]] = []
        for r in runs {
            do { galleries.append(try Gallery.items(r.evaluation)) }
            catch {
                throw .malformed(path: r.evaluationPath, line: nil,
                                 reason: "its example images cannot be encoded as PNG: \(error)")
            }
        }
        self.galleries = galleries
    }

    /// Reads every directory; those that fail become `RunFailure`s instead of stopping the others. A run with
    /// several evaluation files is shown with the one that matches the report's threat model (`EvaluationChoice`);
    /// `notes` say where that is not its eval.json, or where none matches.
    public static func load(directories: [String]) -> (runs: [RunRecord], failures: [RunFailure], notes: [String]) {
        var runs: [RunRecord] = [], failures: [RunFailure] = []
        for dir in directories {
            do { runs.append(try RunRecord.load(directory: dir)) }
            catch { failures.append(RunFailure(directory: dir, message: error.description)) }
        }
        let (chosen, notes) = EvaluationChoice.choose(runs)
        return (chosen, failures, notes)
    }

    public func html() -> String { HTMLReport(document: document, galleries: galleries).render() }

    public func markdown() -> String { MarkdownReport(document: document).render() }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(document)
    }

    /// The comparison table as plain text (what `advdistill report` prints), with the threat model above it.
    public var comparisonText: String { document.threatModel.statement + "\n" + document.comparison.text() }
}

/// A report as its three files: report.html, report.md and report.json (a run comparison or a study).
public protocol ReportFiles {
    func html() -> String
    func markdown() -> String
    func json() throws -> Data
}

extension ReportFiles {
    /// Writes report.html, report.md and report.json into `directory` (created if needed), each atomically.
    /// Returns the three paths.
    @discardableResult
    public func write(to directory: String) throws(ReportError) -> [String] {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        catch { throw .cannotWrite(path: directory, reason: error.localizedDescription) }
        let json: Data
        do { json = try self.json() } catch { throw .cannotWrite(path: directory + "/report.json", reason: "\(error)") }
        let files: [(String, Data)] = [("report.html", Data(html().utf8)), ("report.md", Data(markdown().utf8)), ("report.json", json)]
        return try files.map { name, data throws(ReportError) in
            let path = (directory as NSString).appendingPathComponent(name)
            do throws(AtomicFileError) { try AtomicFile.write(data, to: path) }
            catch { throw .cannotWrite(path: path, reason: error.reason) }
            return path
        }
    }
}
