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

    static func rendered(_ name: String) throws -> Set<String> {
        let study = try StudyReport.load(directory: root.appendingPathComponent("Configs/studies/\(name)").path)
        return Set(tableRows(StudyReport(study: study).markdown()))
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

    @Test(arguments: studies) func readmeTablesAgreeWithStudyJSON(_ name: String) throws {
        let readme = try String(contentsOfFile: Self.root.appendingPathComponent("README.md").path, encoding: .utf8)
        let fresh = try Self.rendered(name)
        var rest = Substring(readme)
        while let open = rest.range(of: "<!-- study: \(name) -->") {
            let close = try #require(rest[open.upperBound...].range(of: "<!-- /study -->"), "README: unclosed study block \(name)")
            let rows = Self.tableRows(String(rest[open.upperBound..<close.lowerBound]))
            #expect(!rows.isEmpty, "README: the study block \(name) holds no table")
            for row in rows { #expect(fresh.contains(row), "README, study \(name): a row that study.json does not give: \(row)") }
            rest = rest[close.upperBound...]
        }
    }
}
