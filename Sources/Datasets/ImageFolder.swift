import Dispatch
import Foundation

/// Image-folder datasets: `root/<class>/*.png|*.jpg|*.jpeg`, decoded with libpng and libjpeg.
///
/// - Splits: if `root` has a `train/` or `test/` folder, each split lives there
///   (`root/train/<class>/…`); otherwise `root` itself holds the classes and is the train split.
/// - Classes are the non-hidden sub-folders, sorted by name; files within a class are sorted by
///   name and recognised by extension (case-insensitive). A class folder with no image is an error.
/// - Channels: `spec.channels`, else the first image's own (grey files 1, colour files 3); every
///   other image is converted to it (grey ↔ RGB as in `DataSpec.channels`).
/// - Size: the resize rule's size, else the first image's. An image of another size is an error
///   naming it unless a `resize` rule is set, which then resizes it (see `ResizeRule`).
/// - `limit` takes files round-robin over the classes (first file of each class, then the
///   second, …) so a small limit keeps every class; the result stays in class order.
/// - A file that fails to decode is an error naming it, or is skipped with `skip_corrupt: true`.
/// Decoding runs on all cores.
enum ImageFolder {
    static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    static func load(_ spec: DataSpec) throws -> LoadedImages {
        let root = try splitRoot(spec.path, split: spec.split)
        let classNames = try FileAccess.list(root).filter { FileAccess.isDirectory(FileAccess.join(root, $0)) }
        guard !classNames.isEmpty else { throw DatasetError.noClassFolders(path: root) }
        var perClass: [[String]] = []
        for name in classNames {
            let folder = FileAccess.join(root, name)
            let files = try FileAccess.list(folder).filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }
            guard !files.isEmpty else { throw DatasetError.emptyClassFolder(folder: folder) }
            perClass.append(files.map { FileAccess.join(folder, $0) })
        }
        let chosen = select(perClass, limit: spec.limit)
        let skipCorrupt = spec.skipCorrupt ?? false

        // The first decodable file fixes channels and size (unless the spec fixes them).
        var skipped: [String] = []
        var first: DecodedImage?
        var firstFailure: CodecFailure?
        for (file, _) in chosen {
            do {
                first = try decodeImage(try FileAccess.read(file), channels: spec.channels ?? 0)
                break
            } catch let failure as CodecFailure {
                guard skipCorrupt else { throw DatasetError.corruptImage(file: file, reason: failure.message) }
                skipped.append(file)
                firstFailure = firstFailure ?? failure
            }
        }
        guard let first else {
            // Skipping every file would leave an empty dataset: that is a broken folder, not a few bad files.
            throw DatasetError.corruptImage(file: chosen[0].file,
                                            reason: "\(firstFailure?.message ?? "unreadable"); no image in \(root) decodes")
        }
        let channels = first.channels
        let height = spec.resize?.height ?? first.height, width = spec.resize?.width ?? first.width
        let size = channels * height * width

        // Decode everything in parallel into one buffer; outcomes are kept per file so that the
        // error reported is the first in file order, whatever the scheduling.
        let n = chosen.count
        var images = [UInt8](repeating: 0, count: n * size)
        var outcomes = [Outcome](repeating: .ok, count: n)
        images.withUnsafeMutableBufferPointer { imagesBuffer in
            outcomes.withUnsafeMutableBufferPointer { outcomesBuffer in
                nonisolated(unsafe) let pixels = imagesBuffer.baseAddress!
                nonisolated(unsafe) let results = outcomesBuffer.baseAddress!
                let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, n))
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    var i = w
                    while i < n {
                        results[i] = decodeOne(chosen[i].file, channels: channels, height: height, width: width,
                                               resize: spec.resize?.filter, into: pixels + i * size)
                        i += workers
                    }
                }
            }
        }

        var kept: [Int] = []
        for i in 0..<n {
            switch outcomes[i] {
            case .ok: kept.append(i)
            case .corrupt(let reason):
                guard skipCorrupt else { throw DatasetError.corruptImage(file: chosen[i].file, reason: reason) }
                if !skipped.contains(chosen[i].file) { skipped.append(chosen[i].file) }
            case .wrongSize(let found):
                throw DatasetError.imageSizeMismatch(file: chosen[i].file, expected: [height, width], found: found)
            }
        }
        if kept.count < n {
            var compact = [UInt8](repeating: 0, count: kept.count * size)
            for (k, i) in kept.enumerated() { compact[k * size..<(k + 1) * size] = images[i * size..<(i + 1) * size] }
            images = compact
        }
        return LoadedImages(images: images, labels: kept.map { chosen[$0].label }, channels: channels,
                            height: height, width: width, classNames: classNames, skipped: skipped)
    }

    private enum Outcome { case ok, corrupt(String), wrongSize([Int]) }

    /// Decodes `file` to planar [channels, height, width] at `dst`.
    private static func decodeOne(_ file: String, channels: Int, height: Int, width: Int,
                                  resize: ResizeFilter?, into dst: UnsafeMutablePointer<UInt8>) -> Outcome {
        let decoded: DecodedImage
        do {
            decoded = try decodeImage(try FileAccess.read(file), channels: channels)
        } catch let failure as CodecFailure {
            return .corrupt(failure.message)
        } catch {
            return .corrupt("\(error)")
        }
        var planar = ImageOps.planar(decoded.pixels, height: decoded.height, width: decoded.width, channels: channels)
        if (decoded.height, decoded.width) != (height, width) {
            guard let resize else { return .wrongSize([decoded.height, decoded.width]) }
            planar = ImageOps.resize(planar, channels: channels, height: decoded.height, width: decoded.width,
                                     toHeight: height, toWidth: width, filter: resize)
        }
        planar.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: $0.count) }
        return .ok
    }

    /// `root/<split>` when the dataset has split folders, else `root` for train.
    private static func splitRoot(_ root: String, split: Split) throws -> String {
        let hasSplitFolders = Split.allCases.contains { FileAccess.isDirectory(FileAccess.join(root, $0.rawValue)) }
        guard hasSplitFolders else {
            guard split == .train else { throw DatasetError.missingSplit(path: root, split: split) }
            return root
        }
        let folder = FileAccess.join(root, split.rawValue)
        guard FileAccess.isDirectory(folder) else { throw DatasetError.missingSplit(path: root, split: split) }
        return folder
    }

    /// The files to load with their labels, in class order: all of them, or `limit` taken round-robin.
    private static func select(_ perClass: [[String]], limit: Int?) -> [(file: String, label: Int)] {
        let total = perClass.reduce(0) { $0 + $1.count }
        guard let limit, limit < total else {
            return perClass.enumerated().flatMap { label, files in files.map { ($0, label) } }
        }
        var taken = [Int](repeating: 0, count: perClass.count)
        var remaining = limit, rank = 0
        while remaining > 0 {
            for c in perClass.indices where remaining > 0 && rank < perClass[c].count {
                taken[c] += 1
                remaining -= 1
            }
            rank += 1
        }
        return perClass.enumerated().flatMap { label, files in files.prefix(taken[label]).map { ($0, label) } }
    }
}
