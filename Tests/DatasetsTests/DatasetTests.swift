import Testing
@testable import Datasets

/// n images of 2×2×2 whose bytes encode their index; labels i mod 3.
private func indexed(_ n: Int) -> Dataset {
    Dataset(images: (0..<n).flatMap { i in (0..<8).map { UInt8((i * 8 + $0) % 256) } }, labels: (0..<n).map { $0 % 3 },
            channels: 2, height: 2, width: 2, classNames: ["a", "b", "c"], source: "synthetic")
}

@Suite struct DatasetTests {
    @Test func subsetTakesImagesAndLabelsAtTheIndices() {
        let ds = indexed(10)
        let s = ds.subset([7, 2, 2])
        #expect(s.count == 3)
        #expect(s.labels == [1, 2, 2])
        #expect(Array(s.images[0..<8]) == (56..<64).map(UInt8.init))
        #expect(Array(s.images[8..<16]) == (16..<24).map(UInt8.init))
        #expect(s.imageShape == [2, 2, 2] && s.classNames == ds.classNames)
    }

    @Test func validationSplitIsDeterministicDisjointAndComplete() {
        let ds = indexed(101)
        let (train, val) = ds.split(valFraction: 0.2, seed: 7)
        #expect(val.count == 20 && train.count == 81)   // round(101 · 0.2) = 20
        // Each example's 8 bytes identify it (i·8 + k mod 256 repeats only every 32 examples, so
        // compare as a multiset of (bytes, label) through the sorted lists).
        func keys(_ d: Dataset) -> [[Int]] { (0..<d.count).map { [d.labels[$0]] + d.images[$0 * 8..<$0 * 8 + 8].map(Int.init) } }
        #expect((keys(train) + keys(val)).sorted { $0.lexicographicallyPrecedes($1) }
                == keys(ds).sorted { $0.lexicographicallyPrecedes($1) })

        let again = ds.split(valFraction: 0.2, seed: 7)
        #expect(again.val.images == val.images && again.train.labels == train.labels)
        #expect(ds.split(valFraction: 0.2, seed: 8).val.images != val.images)
    }

    @Test func summaryStatisticsMatchADirectComputation() {
        let ds = indexed(40)
        let s = ds.summary()
        for c in 0..<2 {
            var values: [Double] = []
            for i in 0..<40 { for p in 0..<4 { values.append(Double(ds.images[i * 8 + c * 4 + p]) / 255) } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
            #expect(abs(s.mean[c] - mean) < 1e-12)
            #expect(abs(s.std[c] - variance.squareRoot()) < 1e-9)
        }
        #expect(s.classCounts == [14, 13, 13])
        #expect(s.shape == [2, 2, 2])
        #expect(s.splits == [.init(split: .train, count: 40, skipped: 0)])
    }

    @Test func summaryOfASpecCountsEverySplitAndPrintsIt() throws {
        let dir = TempDir()
        _ = writeIDX(in: dir, train: 6, test: 4)
        let s = try DatasetSummary.of(DataSpec(path: dir.path))
        #expect(s.format == .idx)
        #expect(s.splits.map(\.count) == [6, 4])
        #expect(s.statisticsSplit == .train)
        let text = s.description
        #expect(text.contains("(idx)") && text.contains("train 6, test 4") && text.contains("1×3×4"))
        #expect(text.contains(String(format: "%.4f", s.mean[0])))

        let flat = TempDir()
        flat.write("only/1.png", handMadePNG(width: 1, height: 1, channels: 1, pixels: [9]))
        #expect(try DatasetSummary.of(DataSpec(path: flat.path)).splits.map(\.split) == [.train])
    }
}

import Foundation
