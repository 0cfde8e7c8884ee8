import Foundation
import Testing
@testable import Datasets

/// A w×h grey image filled with `value`, as PNG.
private func greyPNG(_ value: UInt8, w: Int = 4, h: Int = 3) -> [UInt8] {
    handMadePNG(width: w, height: h, channels: 1, pixels: [UInt8](repeating: value, count: w * h))
}

@Suite struct ImageFolderTests {
    @Test func classesAreSortedFolderNamesAndFilesLoadInNameOrder() throws {
        let dir = TempDir()
        dir.write("zebra/b.png", greyPNG(30))
        dir.write("zebra/a.PNG", greyPNG(20))
        dir.write("ant/x.jpg", try encodeJPEG(pixels: [UInt8](repeating: 90, count: 12), width: 4, height: 3, channels: 1, quality: 100))
        dir.write("ant/notes.txt", Array("not an image".utf8))
        dir.write("ant/.hidden.png", [1, 2, 3])
        dir.write(".git/config", [1])
        let ds = try Dataset.load(DataSpec(path: dir.path))   // format detected: sub-folders
        #expect(ds.format == .folder)
        #expect(ds.classNames == ["ant", "zebra"])
        #expect(ds.labels == [0, 1, 1])
        #expect(ds.imageShape == [1, 3, 4])   // first image is grey
        #expect(ds.images[0..<12].allSatisfy { abs(Int($0) - 90) <= 1 })   // JPEG of a flat 90
        #expect(Array(ds.images[12..<24]) == [UInt8](repeating: 20, count: 12))   // a.PNG before b.png
        #expect(Array(ds.images[24..<36]) == [UInt8](repeating: 30, count: 12))
    }

    @Test func rgbImagesAreStoredPlanarAndConvertToGreyOnRequest() throws {
        let dir = TempDir()
        // 2×1 RGB: pixel 0 = (10, 20, 30), pixel 1 = (40, 50, 60).
        dir.write("c/one.png", handMadePNG(width: 2, height: 1, channels: 3, pixels: [10, 20, 30, 40, 50, 60]))
        let ds = try Dataset.load(DataSpec(path: dir.path))
        #expect(ds.imageShape == [3, 1, 2])
        #expect(ds.images == [10, 40, 20, 50, 30, 60])
        let grey = try Dataset.load(DataSpec(path: dir.path, channels: 1))
        // 0.299·10 + 0.587·20 + 0.114·30 = 18.1; 0.299·40 + 0.587·50 + 0.114·60 = 48.1
        #expect(grey.imageShape == [1, 1, 2])
        #expect(zip(grey.images, [18.1, 48.1]).allSatisfy { abs(Double($0) - $1) <= 1 })
    }

    @Test func corruptImageIsNamedOrSkippedAndCounted() throws {
        let dir = TempDir()
        dir.write("a/1.png", greyPNG(1))
        let bad = dir.write("a/2.png", Array(greyPNG(2).prefix(30)))
        let badJPEG = dir.write("b/1.jpg", Array(try encodeJPEG(pixels: pattern(64 * 64), width: 64, height: 64, channels: 1).prefix(400)))
        dir.write("b/2.png", greyPNG(4))
        let error = #expect(throws: DatasetError.self) { try Dataset.load(DataSpec(path: dir.path)) }
        guard case .corruptImage(let file, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(file == bad)
        #expect(error!.description.contains("skip_corrupt"))

        let ds = try Dataset.load(DataSpec(path: dir.path, skipCorrupt: true))
        #expect(ds.skippedFiles == [bad, badJPEG])
        #expect(ds.count == 2)
        #expect(ds.labels == [0, 1])
        #expect(ds.images == [UInt8](repeating: 1, count: 12) + [UInt8](repeating: 4, count: 12))
        #expect(ds.summary().splits[0].skipped == 2)
    }

    @Test func folderWhereNothingDecodesIsAnErrorEvenWhenSkipping() throws {
        let dir = TempDir()
        let first = dir.write("a/1.png", [0x89, 0x50, 0x4E, 0x47, 0, 0])
        dir.write("b/1.jpg", [0xFF, 0xD8, 0xFF])
        let error = #expect(throws: DatasetError.self) { try Dataset.load(DataSpec(path: dir.path, skipCorrupt: true)) }
        guard case .corruptImage(let file, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(file == first && reason.contains("no image in"))
    }

    @Test func corruptJPEGIsNamed() throws {
        let dir = TempDir()
        dir.write("a/1.png", greyPNG(1))
        let bad = dir.write("a/2.jpeg", Array(try encodeJPEG(pixels: pattern(64 * 64), width: 64, height: 64, channels: 1).prefix(400)))
        let error = #expect(throws: DatasetError.self) { try Dataset.load(DataSpec(path: dir.path)) }
        guard case .corruptImage(let file, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(file == bad)
    }

    @Test func emptyClassFolderIsAnError() throws {
        let dir = TempDir()
        dir.write("a/1.png", greyPNG(1))
        dir.write("b/readme.txt", [65])
        #expect(throws: DatasetError.emptyClassFolder(folder: dir.sub("b"))) { try Dataset.load(DataSpec(path: dir.path)) }
    }

    @Test func imageOfAnotherSizeIsRejectedUnlessAResizeRuleIsSet() throws {
        let dir = TempDir()
        dir.write("a/1.png", greyPNG(10, w: 4, h: 3))
        let odd = dir.write("a/2.png", handMadePNG(width: 2, height: 1, channels: 1, pixels: [0, 100]))
        #expect(throws: DatasetError.imageSizeMismatch(file: odd, expected: [3, 4], found: [1, 2])) {
            try Dataset.load(DataSpec(path: dir.path))
        }
        let nearest = try Dataset.load(DataSpec(path: dir.path, resize: ResizeRule(filter: .nearest)))
        #expect(nearest.imageShape == [1, 3, 4])
        #expect(Array(nearest.images[12...]) == [UInt8]([0, 0, 100, 100]).repeated(3))
        let bilinear = try Dataset.load(DataSpec(path: dir.path, resize: ResizeRule(filter: .bilinear, height: 1, width: 4)))
        #expect(bilinear.imageShape == [1, 1, 4])
        #expect(Array(bilinear.images[4...]) == [0, 25, 75, 100])
    }

    @Test func splitFoldersHoldTrainAndTest() throws {
        let dir = TempDir()
        dir.write("train/a/1.png", greyPNG(1))
        dir.write("train/b/1.png", greyPNG(2))
        dir.write("test/a/1.png", greyPNG(3))
        dir.write("test/b/1.png", greyPNG(4))
        dir.write("test/b/2.png", greyPNG(5))
        #expect(try Dataset.load(DataSpec(path: dir.path, split: .train)).count == 2)
        let test = try Dataset.load(DataSpec(path: dir.path, split: .test))
        #expect(test.labels == [0, 1, 1])
        #expect(test.images[12] == 4)

        let flat = TempDir()
        flat.write("a/1.png", greyPNG(1))
        #expect(throws: DatasetError.missingSplit(path: flat.path, split: .test)) {
            try Dataset.load(DataSpec(path: flat.path, split: .test))
        }
    }

    @Test func limitTakesFilesRoundRobinOverClasses() throws {
        let dir = TempDir()
        for (c, n) in [("a", 4), ("b", 1), ("c", 3)] {
            for i in 0..<n { dir.write("\(c)/\(i).png", greyPNG(UInt8(10 * i + 1))) }
        }
        // Rank 0: a0 b0 c0; rank 1: a1 c1; then a2 — six files.
        let ds = try Dataset.load(DataSpec(path: dir.path, limit: 6))
        #expect(ds.labels == [0, 0, 0, 1, 2, 2])
        #expect(stride(from: 0, to: 72, by: 12).map { ds.images[$0] } == [1, 11, 21, 1, 1, 11])
    }

    @Test func pathThatDoesNotExistIsNamed() {
        #expect(throws: DatasetError.pathNotFound(path: "/nonexistent/datasets/here")) {
            try Dataset.load(DataSpec(path: "/nonexistent/datasets/here"))
        }
    }

    @Test func directoryWithNothingRecognisableListsWhatItFound() {
        let dir = TempDir()
        dir.write("notes.txt", [1])
        #expect(throws: DatasetError.unrecognisedLayout(path: dir.path, found: ["notes.txt"])) {
            try Dataset.load(DataSpec(path: dir.path))
        }
        #expect(throws: DatasetError.noClassFolders(path: dir.path)) {
            try Dataset.load(DataSpec(format: .folder, path: dir.path))
        }
    }
}

extension Array {
    func repeated(_ n: Int) -> [Element] { (0..<n).flatMap { _ in self } }
}
