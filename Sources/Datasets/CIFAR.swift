/// CIFAR-10 and CIFAR-100 "binary version" batches.
///
/// Each record is the label byte(s) then 3072 pixel bytes: the 1024 red, 1024 green and 1024 blue
/// values of a 32×32 image, row-major, which is already our [C, H, W] layout.
/// - CIFAR-10 (3073-byte records): train = `data_batch_1.bin` … `data_batch_5.bin` (those present, in
///   numeric order), test = `test_batch.bin`; names from `batches.meta.txt` when present.
/// - CIFAR-100 (3074-byte records: coarse label, fine label): train = `train.bin`, test = `test.bin`;
///   the fine label is used; names from `fine_label_names.txt` when present.
@_spi(Parsing) public enum CIFAR {
    static let pixelsPerRecord = 3 * 32 * 32

    static func isCIFAR10TrainFile(_ lower: String) -> Bool {
        lower.hasPrefix("data_batch_") && lower.hasSuffix(".bin") && batchNumber(lower) != nil
    }

    private static func batchNumber(_ name: String) -> Int? {
        Int(name.dropFirst("data_batch_".count).dropLast(".bin".count))
    }

    static func load(directory: String, hundred: Bool, split: Split, limit: Int?) throws -> LoadedImages {
        let files = try batchFiles(directory: directory, hundred: hundred, split: split)
        let classCount = hundred ? 100 : 10
        let names = try KnownClasses.read(FileAccess.join(directory, hundred ? "fine_label_names.txt" : "batches.meta.txt"))
            ?? (hundred ? KnownClasses.cifar100 : KnownClasses.cifar10)

        var images = [UInt8]()
        var labels = [Int]()
        let wanted = limit ?? Int.max
        for file in files where labels.count < wanted {
            let batch = try records(try FileAccess.read(file), file: file, hundred: hundred, limit: wanted - labels.count)
            images += batch.pixels
            labels += batch.labels
        }
        return LoadedImages(images: images, labels: labels, channels: 3, height: 32, width: 32,
                            classNames: names.count == classCount ? names : (hundred ? KnownClasses.cifar100 : KnownClasses.cifar10))
    }

    /// The first `limit` records of one batch file's contents (`file` names it in errors): the pixels
    /// of each, [3, 32, 32] one after another, and its label (the fine one for CIFAR-100), every label
    /// checked. `load` calls this per file; it is SPI so that the fuzz harness drives the same code.
    @_spi(Parsing) public static func records(_ bytes: [UInt8], file: String, hundred: Bool,
                                              limit: Int) throws -> (pixels: [UInt8], labels: [Int]) {
        let classCount = hundred ? 100 : 10
        let labelBytes = hundred ? 2 : 1
        let recordSize = labelBytes + pixelsPerRecord
        guard !bytes.isEmpty, bytes.count % recordSize == 0 else {
            throw DatasetError.truncatedRecord(file: file, recordSize: recordSize, fileSize: bytes.count)
        }
        let records = max(0, min(bytes.count / recordSize, limit))
        var pixels = [UInt8]()
        var labels = [Int]()
        pixels.reserveCapacity(records * pixelsPerRecord)
        labels.reserveCapacity(records)
        for r in 0..<records {
            let start = r * recordSize
            if hundred, Int(bytes[start]) >= 20 {
                throw DatasetError.labelOutOfRange(file: file, index: r, label: Int(bytes[start]), classCount: 20)
            }
            let label = Int(bytes[start + labelBytes - 1])
            guard label < classCount else {
                throw DatasetError.labelOutOfRange(file: file, index: r, label: label, classCount: classCount)
            }
            labels.append(label)
            pixels.append(contentsOf: bytes[start + labelBytes..<start + recordSize])
        }
        return (pixels, labels)
    }

    private static func batchFiles(directory: String, hundred: Bool, split: Split) throws -> [String] {
        let names = try FileAccess.list(directory)
        func required(_ name: String) throws -> [String] {
            guard let found = names.first(where: { $0.lowercased() == name }) else {
                throw DatasetError.missingFile(directory: directory, expected: "CIFAR-\(hundred ? 100 : 10) \(split.rawValue) batch \(name)")
            }
            return [FileAccess.join(directory, found)]
        }
        switch (hundred, split) {
        case (true, .train): return try required("train.bin")
        case (true, .test): return try required("test.bin")
        case (false, .test): return try required("test_batch.bin")
        case (false, .train):
            let batches = names.filter { isCIFAR10TrainFile($0.lowercased()) }
                .sorted { batchNumber($0.lowercased())! < batchNumber($1.lowercased())! }
            guard !batches.isEmpty else {
                throw DatasetError.missingFile(directory: directory, expected: "CIFAR-10 train batches data_batch_1.bin … data_batch_5.bin")
            }
            return batches.map { FileAccess.join(directory, $0) }
        }
    }
}
