@testable import NN
#if canImport(Glibc)
import Foundation
import Glibc
#endif
import Testing

/// `write(to:)` never leaves a broken checkpoint: the old file survives every failure, and no
/// temporary file is left behind.
@Suite struct AtomicWriteTests {
    static let old = SafeTensorsFile(metadata: ["epoch": "1"], entries: [
        SafeTensorsEntry(name: "w", dtype: .f32, shape: [3], values: [1, 2, 3])])
    static let new = SafeTensorsFile(metadata: ["epoch": "2"], entries: [
        SafeTensorsEntry(name: "w", dtype: .f32, shape: [3], values: [4, 5, 6]),
        SafeTensorsEntry(name: "v", dtype: .f32, shape: [1000], values: Array(repeating: 7, count: 1000))])

    @Test func writingOverAnExistingFileReplacesItAndLeavesNoTemporaryFile() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/checkpoint.safetensors"
        try Self.old.write(to: path)
        try Self.new.write(to: path)
        #expect(try SafeTensorsFile.read(path: path) == Self.new)
        #expect(fileBytes(path) == (try Self.new.serialized()))
        #expect(dir.listing() == ["checkpoint.safetensors"])
    }

    @Test(arguments: SafeTensorsFile.WriteStep.allCases)
    func aFailureAtAnyStepLeavesTheOldFileIntactAndNoTemporaryFile(_ step: SafeTensorsFile.WriteStep) throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/checkpoint.safetensors"
        try Self.old.write(to: path)
        let before = try #require(fileBytes(path))

        do {
            try Self.new.write(to: path, failingAt: step)
            Issue.record("the injected failure did not surface")
        } catch let error {
            guard case let .writeFailed(file, _, reason) = error else { Issue.record("\(error)"); return }
            #expect(file == path)
            #expect(reason.contains("errno"))
            #expect(error.description.contains("unchanged"))
        }
        #expect(fileBytes(path) == before)
        #expect(dir.listing() == ["checkpoint.safetensors"])
    }

    /// A real failure, not an injected one: the rename cannot replace a non-empty directory.
    @Test func aRenameOntoADirectoryFailsAndCleansUp() throws {
        let dir = TemporaryDirectory()
        let target = dir.path + "/checkpoint.safetensors"
        mkdir(target, 0o755)
        writeBytes([1, 2, 3], to: target + "/keep")
        defer { unlink(target + "/keep"); dir.remove() }

        do {
            try Self.new.write(to: target)
            Issue.record("replaced a directory")
        } catch let error as SafeTensorsError {
            #expect(error.description.contains("renaming"))
        } catch { Issue.record("\(error)") }
        #expect(dir.listing() == ["checkpoint.safetensors"])
        #expect(fileBytes(target + "/keep") == [1, 2, 3])
    }

    @Test func aMissingDirectoryIsReportedWithoutCreatingAnything() {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        do {
            try Self.new.write(to: dir.path + "/missing/checkpoint.safetensors")
            Issue.record("wrote into a missing directory")
        } catch let error as SafeTensorsError {
            #expect(error.description.contains("creating the temporary file"))
            #expect(error.description.contains("No such file or directory"))
        } catch { Issue.record("\(error)") }
        #expect(dir.listing() == [])
    }
}


@Test func atomicFileReplacesWholeOrLeavesTheOldFile() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("metrics.jsonl").path
    try AtomicFile.write(Data("old\n".utf8), to: path)
    try AtomicFile.write(Data("new\n".utf8), to: path)
    #expect(FileManager.default.contents(atPath: path) == Data("new\n".utf8))
    // A target that cannot be replaced (a directory): an error naming it, the old content and no temporary left.
    let blocked = dir.appendingPathComponent("sub").path
    try FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: true)
    #expect(throws: AtomicFileError.self) { try AtomicFile.write(Data("x".utf8), to: blocked) }
    // A missing directory: an error naming the path.
    do {
        try AtomicFile.write(Data("x".utf8), to: dir.appendingPathComponent("missing/eval.json").path)
        Issue.record("must fail")
    } catch { #expect(error.description.contains("missing/eval.json")) }
    let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
    #expect(left.isEmpty, "\(left)")
}

/// What a kill -9 mid-write leaves (a hidden temporary file beside the target) is recognised and removed
/// for that target only: other files, and the temporaries of other targets, stay.
@Test func leftoversOfInterruptedWritesAreRemovedForTheirTargetOnly() throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let target = dir.path + "/checkpoint.safetensors"
    try AtomicWriteTests.old.write(to: target)
    let left = [AtomicFile.temporaryPath(for: target), AtomicFile.temporaryPath(for: target)]
    let other = AtomicFile.temporaryPath(for: dir.path + "/best.safetensors")
    for path in left + [other] { writeBytes([1, 2, 3], to: path) }
    writeBytes([4], to: dir.path + "/checkpoint.safetensors.notes")
    #expect(left.allSatisfy { ($0 as NSString).lastPathComponent.hasPrefix(".checkpoint.safetensors.tmp-") })

    let removed = AtomicFile.removeLeftovers(of: target)
    #expect(removed == left.map { ($0 as NSString).lastPathComponent }.sorted())
    #expect(dir.listing().sorted() == [(other as NSString).lastPathComponent, "checkpoint.safetensors",
                                       "checkpoint.safetensors.notes"].sorted())
    #expect(try SafeTensorsFile.read(path: target) == AtomicWriteTests.old)
    #expect(AtomicFile.removeLeftovers(of: target).isEmpty)
}
