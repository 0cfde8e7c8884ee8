import Testing
@testable import Datasets

/// A CIFAR record: label byte(s) then 1024 R, 1024 G, 1024 B; pixel (c, y, x) holds (c·7 + y·3 + x + seed) mod 256.
private func record(labels: [UInt8], seed: Int) -> [UInt8] {
    var r = labels
    for c in 0..<3 { for y in 0..<32 { for x in 0..<32 { r.append(UInt8((c * 7 + y * 3 + x + seed) % 256)) } } }
    return r
}

@Suite struct CIFARTests {
    @Test func cifar10ReadsBatchesInNumericOrderAsCHW() throws {
        let dir = TempDir()
        dir.write("data_batch_1.bin", record(labels: [3], seed: 0) + record(labels: [7], seed: 1))
        dir.write("data_batch_2.bin", record(labels: [9], seed: 2))
        dir.write("test_batch.bin", record(labels: [0], seed: 5))
        let ds = try Dataset.load(DataSpec(path: dir.path))   // format detected
        #expect(ds.format == .cifar10)
        #expect(ds.labels == [3, 7, 9])
        #expect(ds.imageShape == [3, 32, 32])
        #expect(ds.classNames[3] == "cat")
        // Image 2 (seed 2), blue channel, row 31, column 30: (2·7 + 31·3 + 30 + 2) mod 256.
        #expect(ds.images[2 * 3072 + 2 * 1024 + 31 * 32 + 30] == UInt8((14 + 93 + 30 + 2) % 256))
        #expect(ds.images[1 * 3072 + 0 * 1024 + 0 * 32 + 1] == 2)   // image 1, red, (0, 1): 0 + 0 + 1 + 1

        let test = try Dataset.load(DataSpec(path: dir.path, split: .test))
        #expect(test.labels == [0])
        #expect(Array(test.images.prefix(3)) == [5, 6, 7])
    }

    @Test func cifar100UsesTheFineLabel() throws {
        let dir = TempDir()
        dir.write("train.bin", record(labels: [4, 72], seed: 0) + record(labels: [19, 99], seed: 0))
        let ds = try Dataset.load(DataSpec(path: dir.path))
        #expect(ds.format == .cifar100)
        #expect(ds.labels == [72, 99])
        #expect(ds.classNames.count == 100 && ds.classNames[72] == "seal" && ds.classNames[99] == "worm")
    }

    @Test func cifar100FallbackNamesAreTheHundredAlphabeticalFineLabels() {
        #expect(KnownClasses.cifar100.count == 100)
        #expect(Set(KnownClasses.cifar100).count == 100)
        #expect(KnownClasses.cifar100 == KnownClasses.cifar100.sorted())
    }

    @Test func truncatedRecordIsNamedWithItsSizes() throws {
        let dir = TempDir()
        let file = dir.write("data_batch_1.bin", record(labels: [1], seed: 0) + Array(record(labels: [2], seed: 0).prefix(1000)))
        #expect(throws: DatasetError.truncatedRecord(file: file, recordSize: 3073, fileSize: 4073)) {
            try Dataset.load(DataSpec(format: .cifar10, path: dir.path))
        }
    }

    @Test func labelAtOrAboveTheClassCountIsRejected() throws {
        let dir = TempDir()
        let file = dir.write("data_batch_1.bin", record(labels: [1], seed: 0) + record(labels: [10], seed: 0))
        #expect(throws: DatasetError.labelOutOfRange(file: file, index: 1, label: 10, classCount: 10)) {
            try Dataset.load(DataSpec(format: .cifar10, path: dir.path))
        }
        let hundred = TempDir()
        let train = hundred.write("train.bin", record(labels: [0, 100], seed: 0))
        #expect(throws: DatasetError.labelOutOfRange(file: train, index: 0, label: 100, classCount: 100)) {
            try Dataset.load(DataSpec(format: .cifar100, path: hundred.path))
        }
    }

    @Test func greyConversionIsBT601Luma() throws {
        let dir = TempDir()
        var rec: [UInt8] = [0] + [UInt8](repeating: 0, count: 3072)
        rec[1] = 200; rec[1 + 1024] = 100; rec[1 + 2048] = 50       // pixel (0, 0): R 200, G 100, B 50
        rec[2] = 255; rec[2 + 1024] = 255; rec[2 + 2048] = 255      // pixel (0, 1): white
        dir.write("data_batch_1.bin", rec)
        let ds = try Dataset.load(DataSpec(path: dir.path, channels: 1))
        #expect(ds.imageShape == [1, 32, 32])
        #expect(ds.images[0] == 124)   // 0.299·200 + 0.587·100 + 0.114·50 = 124.2
        #expect(ds.images[1] == 255)
        #expect(ds.images[2] == 0)
    }

    @Test func missingTestBatchIsNamed() throws {
        let dir = TempDir()
        dir.write("data_batch_1.bin", record(labels: [1], seed: 0))
        #expect(throws: DatasetError.missingFile(directory: dir.path, expected: "CIFAR-10 test batch test_batch.bin")) {
            try Dataset.load(DataSpec(path: dir.path, split: .test))
        }
    }
}
