import Engine
import Foundation
import Synchronization
import Testing
@testable import Datasets

/// n images of c×h×w whose first byte is i mod 256 and the rest a pattern; labels i mod 10.
private func synthetic(_ n: Int, c: Int = 1, h: Int = 4, w: Int = 5) -> Dataset {
    let size = c * h * w
    var images = [UInt8](repeating: 0, count: n * size)
    for i in 0..<n { for k in 0..<size { images[i * size + k] = k == 0 ? UInt8(i % 256) : UInt8((i * 31 + k * 7) % 256) } }
    return Dataset(images: images, labels: (0..<n).map { $0 % 10 }, channels: c, height: h, width: w,
                   classNames: (0..<10).map(String.init), source: "synthetic")
}

private func collect(_ loader: BatchLoader, epoch: Int, from start: Int = 0) -> [Batch] { Array(loader.batches(epoch: epoch, from: start)) }

@Suite struct BatchLoaderTests {
    @Test func everyExampleAppearsOncePerEpochAndTheLastPartialBatchIsKept() {
        let ds = synthetic(23)
        let loader = BatchLoader(dataset: ds, batchSize: 5, seed: 3)
        let batches = collect(loader, epoch: 0)
        #expect(batches.map(\.count) == [5, 5, 5, 5, 3])
        #expect(batches.flatMap(\.indices).sorted() == Array(0..<23))
        #expect(batches.flatMap(\.indices) != Array(0..<23))   // shuffled
        #expect(batches[4].shape == [3, 1, 4, 5])
        for b in batches { #expect(b.labels == b.indices.map { $0 % 10 }) }

        let dropping = BatchLoader(dataset: ds, batchSize: 5, seed: 3, dropLast: true)
        #expect(collect(dropping, epoch: 0).map(\.count) == [5, 5, 5, 5])
        #expect(dropping.batchesPerEpoch == 4 && loader.batchesPerEpoch == 5)
    }

    @Test func withoutAugmentationBatchesAreTheBytesOver255() {
        let ds = synthetic(9, c: 3, h: 2, w: 3)
        for b in collect(BatchLoader(dataset: ds, batchSize: 4, seed: 1), epoch: 2) {
            for (k, i) in b.indices.enumerated() {
                #expect(Array(b.images.scalars[k * 18..<(k + 1) * 18]) == ds.images[i * 18..<(i + 1) * 18].map { Float($0) / 255 })
            }
        }
        let ordered = collect(BatchLoader(dataset: ds, batchSize: 4, shuffle: false), epoch: 0)
        #expect(ordered.flatMap(\.indices) == Array(0..<9))
    }

    @Test func sameSeedGivesSameBatchesAndOtherSeedsOrEpochsDiffer() {
        let ds = synthetic(64)
        let aug = Augmentation(randomCropPadding: 2, horizontalFlip: true)
        let a = collect(BatchLoader(dataset: ds, batchSize: 8, augmentation: aug, seed: 42), epoch: 1)
        let b = collect(BatchLoader(dataset: ds, batchSize: 8, augmentation: aug, seed: 42, prefetch: 0), epoch: 1)
        #expect(a.map(\.indices) == b.map(\.indices))
        #expect(a.map(\.images.scalars) == b.map(\.images.scalars))
        let otherSeed = collect(BatchLoader(dataset: ds, batchSize: 8, augmentation: aug, seed: 43), epoch: 1)
        #expect(otherSeed.map(\.indices) != a.map(\.indices))
        let otherEpoch = collect(BatchLoader(dataset: ds, batchSize: 8, augmentation: aug, seed: 42), epoch: 2)
        #expect(otherEpoch.map(\.indices) != a.map(\.indices))
        // The same examples, same seed and epoch: augmentation depends on the example, not on the batch size.
        let wide = collect(BatchLoader(dataset: ds, batchSize: 64, augmentation: aug, seed: 42), epoch: 1)[0]
        #expect(wide.images.scalars == a.flatMap(\.images.scalars))
    }

    @Test func resumedEpochMatchesAnUninterruptedRun() {
        let ds = synthetic(30)
        let aug = Augmentation(randomCropPadding: 1, horizontalFlip: true)
        let uninterrupted = BatchLoader(dataset: ds, batchSize: 7, augmentation: aug, seed: 9)
        var seen: [[Batch]] = []
        for epoch in 0..<4 { seen.append(collect(uninterrupted, epoch: epoch)) }
        let resumed = BatchLoader(dataset: ds, batchSize: 7, augmentation: aug, seed: 9)   // a new process, at epoch 3
        #expect(collect(resumed, epoch: 3).map(\.images.scalars) == seen[3].map(\.images.scalars))
        #expect(collect(resumed, epoch: 3, from: 2).map(\.indices) == seen[3][2...].map(\.indices))
    }

    @Test func cropAndFlipPutEachPixelWhereTheDefinitionSays() {
        // 1×3×4 image with values 1…12:
        //   1  2  3  4
        //   5  6  7  8
        //   9 10 11 12
        let img: [UInt8] = Array(1...12)
        func run(p: Int, dy: Int, dx: Int, flip: Bool) -> [Float] {
            var out = [Float](repeating: -1, count: 12)
            img.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    unitScale.withUnsafeBufferPointer { s in
                        writeAugmented(src.baseAddress!, dst.baseAddress!, channels: 1, height: 3, width: 4,
                                       padding: p, dy: dy, dx: dx, flip: flip, scale: s.baseAddress!)
                    }
                }
            }
            return out.map { ($0 * 255).rounded() }
        }
        // Padding 1, window at (0, 2): shifted down 1 and left 1.
        #expect(run(p: 1, dy: 0, dx: 2, flip: false) == [0, 0, 0, 0,
                                                         2, 3, 4, 0,
                                                         6, 7, 8, 0])
        // Same window, mirrored.
        #expect(run(p: 1, dy: 0, dx: 2, flip: true) == [0, 0, 0, 0,
                                                        0, 4, 3, 2,
                                                        0, 8, 7, 6])
        // Padding 2, window at (4, 0): shifted up 2 and right 2.
        #expect(run(p: 2, dy: 4, dx: 0, flip: false) == [0, 0, 9, 10,
                                                         0, 0, 0, 0,
                                                         0, 0, 0, 0])
        // No shift, flip only.
        #expect(run(p: 1, dy: 1, dx: 1, flip: true) == [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9])
        // Shift beyond the width: all padding.
        #expect(run(p: 5, dy: 5, dx: 10, flip: false) == [Float](repeating: 0, count: 12))
    }

    @Test func everyAugmentedImageIsOneOfTheCropsOrFlipsAndAllOccur() {
        let p = 1, h = 4, w = 5, c = 2
        let one = synthetic(1, c: c, h: h, w: w).images
        let ds = Dataset(images: one.repeated(300), labels: [Int](repeating: 0, count: 300), channels: c, height: h, width: w,
                         classNames: ["x"], source: "synthetic")
        var candidates: [[Float]: String] = [:]
        for dy in 0...2 * p { for dx in 0...2 * p { for flip in [false, true] {
            candidates[referenceAugment(one, c: c, h: h, w: w, p: p, dy: dy, dx: dx, flip: flip)] = "\(dy),\(dx),\(flip)"
        } } }
        #expect(candidates.count == 18)
        var seen = Set<String>()
        for b in collect(BatchLoader(dataset: ds, batchSize: 64, augmentation: Augmentation(randomCropPadding: p, horizontalFlip: true), seed: 5), epoch: 0) {
            for k in 0..<b.count {
                let image = Array(b.images.scalars[k * c * h * w..<(k + 1) * c * h * w])
                guard let which = candidates[image] else { Issue.record("image \(k) is no crop/flip of the source"); continue }
                seen.insert(which)
            }
        }
        #expect(seen.count == 18)
    }

    @Test func leavingTheLoopEarlyEndsTheProducerThread() async throws {
        let ds = synthetic(2000, c: 3, h: 8, w: 8)
        let loader = BatchLoader(dataset: ds, batchSize: 10, augmentation: .cifar, seed: 1, prefetch: 2)
        var taken = 0
        for _ in loader.batches(epoch: 0) {
            taken += 1
            if taken == 3 { break }
        }
        #expect(taken == 3)
        // The producer was blocked on a full queue; cancelling must wake it and let it exit.
        #expect(try await producersReachZero(loader))

        // And a loop run to the end leaves no thread either.
        #expect(Array(loader.batches(epoch: 1)).count == 200)
        #expect(try await producersReachZero(loader))
    }

    /// Polls for up to 5 s: the thread exits asynchronously after the consumer lets go.
    private func producersReachZero(_ loader: BatchLoader) async throws -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while loader.liveProducers.load(ordering: .sequentiallyConsistent) != 0 {
            if Date() > deadline { return false }
            try await Task.sleep(for: .milliseconds(5))
        }
        return true
    }
}
