import Foundation
import Testing
@testable import Distillation
@testable import Reports

/// The studies committed under Configs/studies/<name>/ (study.json and the report.md rendered from it), and the
/// README's copies of their tables, say the same thing: every table row of report.md, and every row of a README
/// block opened by `<!-- study: <name> -->` and closed by `<!-- /study -->`, is a row that `advdistill report`
/// renders from that study.json today. (The lines outside tables hold the rendering's date and commit.)
@Suite struct CommittedStudies {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var studies: [String] {
        let dir = root.appendingPathComponent("Configs/studies").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
            .filter { FileManager.default.fileExists(atPath: "\(dir)/\($0)/\(StudyFile.fileName)") }
    }

    static func tableRows(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("| ") }
    }

    static func rendered(_ name: String, against reference: String = StudyReportDocument.defaultReference) throws -> Set<String> {
        let study = try StudyReport.load(directory: root.appendingPathComponent("Configs/studies/\(name)").path)
        return Set(tableRows(StudyReport(study: study, against: reference).markdown()))
    }

    @Test func theRepositoryCommitsAStudy() {
        #expect(Self.studies.contains("fmnist-budget"))
    }

    @Test(arguments: studies) func reportMarkdownAgreesWithStudyJSON(_ name: String) throws {
        let path = Self.root.appendingPathComponent("Configs/studies/\(name)/report.md").path
        let committed = Self.tableRows(try String(contentsOfFile: path, encoding: .utf8))
        #expect(!committed.isEmpty, "\(path) holds no table")
        let fresh = try Self.rendered(name)
        for row in committed { #expect(fresh.contains(row), "\(path): a row that study.json does not give: \(row)") }
    }

    /// A block `<!-- study: <name> -->` holds rows of the default report; `<!-- study: <name> against <method> -->`
    /// rows of `advdistill report --against <method>`.
    @Test(arguments: studies) func readmeTablesAgreeWithStudyJSON(_ name: String) throws {
        let readme = try String(contentsOfFile: Self.root.appendingPathComponent("README.md").path, encoding: .utf8)
        var rest = Substring(readme)
        while let open = rest.range(of: "<!-- study: \(name)") {
            let header = try #require(rest[open.upperBound...].range(of: "-->"), "README: unterminated study marker \(name)")
            let words = rest[open.upperBound..<header.lowerBound].split(separator: " ")
            guard words.isEmpty || words.first == "against" else { rest = rest[header.upperBound...]; continue }  // another study's name
            #expect(words.isEmpty || words.count == 2, "README: a study marker reads '<!-- study: \(name) [against <method>] -->'")
            let reference = words.count == 2 ? String(words[1]) : StudyReportDocument.defaultReference
            let fresh = try Self.rendered(name, against: reference)
            let close = try #require(rest[header.upperBound...].range(of: "<!-- /study -->"), "README: unclosed study block \(name)")
            let rows = Self.tableRows(String(rest[header.upperBound..<close.lowerBound]))
            #expect(!rows.isEmpty, "README: the study block \(name) holds no table")
            for row in rows {
                #expect(fresh.contains(row), "README, study \(name) against \(reference): a row that study.json does not give: \(row)")
            }
            rest = rest[close.upperBound...]
        }
    }
}
