import Foundation

/// What `advdistill data <path>` prints: format, splits and counts, classes, image shape, and the
/// per-channel mean and standard deviation of the pixels scaled to [0, 1].
public struct DatasetSummary: Sendable, Equatable, Codable, CustomStringConvertible {
    public struct SplitCount: Sendable, Equatable, Codable {
        public var split: Split
        public var count: Int
        /// Files skipped as corrupt (`skip_corrupt`).
        public var skipped: Int
    }

    public var format: DataFormat
    public var source: String
    public var splits: [SplitCount]
    public var classNames: [String]
    /// Examples per class in `statisticsSplit`.
    public var classCounts: [Int]
    /// [channels, height, width].
    public var shape: [Int]
    /// Per channel, over every pixel of `statisticsSplit`, on the [0, 1] scale.
    public var mean: [Double]
    /// Per channel, population standard deviation (divides by the pixel count), [0, 1] scale.
    public var std: [Double]
    /// The split the class counts and pixel statistics describe (train when present).
    public var statisticsSplit: Split

    public var description: String {
        let splitText = splits.map { "\($0.split.rawValue) \($0.count)" }.joined(separator: ", ")
        let names = classNames.count <= 12 ? classNames.joined(separator: ", ")
            : classNames.prefix(10).joined(separator: ", ") + ", … \(classNames.last!)"
        let counts = classCounts.count <= 20 ? classCounts.map(String.init).joined(separator: " ")
            : "min \(classCounts.min() ?? 0), max \(classCounts.max() ?? 0)"
        var lines = [
            "\(source) (\(format.rawValue))",
            "  splits:     \(splitText)",
            "  classes:    \(classNames.count): \(names)",
            "  per class:  \(counts) (\(statisticsSplit.rawValue))",
            "  image:      \(shape.map(String.init).joined(separator: "×")) (C×H×W), 8-bit, batches in [0, 1]",
            "  mean:       \(mean.map(fixed4).joined(separator: " ")) (\(statisticsSplit.rawValue), per channel, [0, 1] scale)",
            "  std:        \(std.map(fixed4).joined(separator: " "))",
        ]
        let skipped = splits.filter { $0.skipped > 0 }
        if !skipped.isEmpty {
            lines.append("  skipped:    " + skipped.map { "\($0.skipped) corrupt files in \($0.split.rawValue)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// Summarises every split the spec's dataset has (train and/or test; the spec's own `split` is
    /// ignored). Statistics come from the train split when it exists.
    public static func of(_ spec: DataSpec) throws -> DatasetSummary {
        var loaded: [Dataset] = []
        var firstError: Error?
        for split in Split.allCases {
            var s = spec
            s.split = split
            do {
                loaded.append(try Dataset.load(s))
            } catch let error as DatasetError {
                // A split that is simply not there is left out; anything else is a real problem.
                switch error {
                case .missingSplit, .missingFile: firstError = firstError ?? error
                default: throw error
                }
            }
        }
        guard var summary = loaded.first?.summary() else { throw firstError! }
        summary.splits = loaded.map { SplitCount(split: $0.split, count: $0.count, skipped: $0.skippedFiles.count) }
        return summary
    }
}

private func fixed4(_ v: Double) -> String { String(format: "%.4f", v) }

extension Dataset {
    /// This split's summary: counts, classes, shape and exact per-channel pixel statistics.
    public func summary() -> DatasetSummary {
        // A 256-bin histogram per channel gives exact integer sums for the mean and variance.
        var histogram = [Int](repeating: 0, count: channels * 256)
        let plane = height * width
        images.withUnsafeBufferPointer { px in
            histogram.withUnsafeMutableBufferPointer { bins in
                for i in 0..<count {
                    for c in 0..<channels {
                        let base = (i * channels + c) * plane, bin = c * 256
                        for p in 0..<plane { bins[bin + Int(px[base + p])] += 1 }
                    }
                }
            }
        }
        var mean: [Double] = [], std: [Double] = []
        for c in 0..<channels {
            var n = 0, sum = 0, sumSquares = 0
            for v in 0..<256 {
                n += histogram[c * 256 + v]
                sum += v * histogram[c * 256 + v]
                sumSquares += v * v * histogram[c * 256 + v]
            }
            let m = n > 0 ? Double(sum) / Double(n) : 0
            let variance = n > 0 ? max(0, Double(sumSquares) / Double(n) - m * m) : 0
            mean.append(m / 255)
            std.append(variance.squareRoot() / 255)
        }
        var classCounts = [Int](repeating: 0, count: classNames.count)
        for label in labels { classCounts[label] += 1 }
        return DatasetSummary(format: format, source: source,
                              splits: [.init(split: split, count: count, skipped: skippedFiles.count)],
                              classNames: classNames, classCounts: classCounts, shape: imageShape,
                              mean: mean, std: std, statisticsSplit: split)
    }
}
