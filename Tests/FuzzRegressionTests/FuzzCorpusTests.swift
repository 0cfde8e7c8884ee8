import Foundation
import FuzzHarnesses
import Testing

/// The committed fuzz corpus, Tests/Fixtures/fuzz/<target>/: seeds, and under `regressions/` every
/// input a fuzzer has crashed a parser with. Each file goes through its harness exactly as under
/// libFuzzer, so a regression crashes this test process; files named `valid-…` must also be accepted.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz")

    @Test(arguments: FuzzTarget.allCases)
    func everyCorpusFileIsParsedOrRefusedAndTheValidSeedsAreAccepted(target: FuzzTarget) throws {
        let files = try Self.files(of: target)
        #expect(files.contains { $0.lastPathComponent.hasPrefix("valid-") }, "no valid seed for \(target)")
        for file in files {
            let outcome = target.run([UInt8](try Data(contentsOf: file)))
            if file.lastPathComponent.hasPrefix("valid-") {
                #expect(outcome == .accepted, "\(file.path)")
            }
        }
    }

    /// The seeds our writers make are committed (regenerate with `advdistill-fuzz seeds Tests/Fixtures/fuzz`),
    /// and freshly written ones get the verdict their name promises: the writers and readers agree.
    @Test func theGeneratedSeedsAreCommittedAndAccepted() throws {
        for seed in try SeedCorpus.generated() {
            let committed = Self.corpus.appendingPathComponent(seed.target.rawValue).appendingPathComponent(seed.name)
            #expect(FileManager.default.fileExists(atPath: committed.path), "\(committed.path) is missing")
            if seed.name.hasPrefix("valid-") {
                #expect(seed.target.run(seed.bytes) == .accepted, "\(seed.name)")
            } else {
                #expect(seed.target.run(seed.bytes) != .accepted, "\(seed.name) should be refused")
            }
        }
    }

    static func files(of target: FuzzTarget) throws -> [URL] {
        let folder = corpus.appendingPathComponent(target.rawValue)
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey],
                                                           options: [.skipsHiddenFiles]) else { return [] }
        return walker.compactMap { $0 as? URL }
            .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
            .sorted { $0.path < $1.path }
    }
}
