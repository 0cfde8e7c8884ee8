import Foundation
import NN

/// The content of `eval.json`: everything the report shows about one model's robustness.
public struct EvaluationResult: Codable, Sendable {
    public struct Accuracy: Codable, Sendable {
        public var accuracy: Double
        public var perClass: [Double]
    }

    public struct AttackOutcome: Codable, Sendable {
        /// Registry key ("pgd20") and display name ("PGD-20").
        public var key: String
        public var name: String
        /// independent: this attack alone; cumulative: robust after this and every earlier cumulative attack.
        public var mode: String
        public var accuracy: Double
        public var perClass: [Double]
        public var seconds: Double
        /// Images this attack actually ran on, per second (0 when none was left to attack).
        public var imagesPerSecond: Double
        /// Gradient steps (or queries) per example.
        public var steps: Int
        /// Which of the attacked examples (the first `attack_count`) are still robust after this attack:
        /// an `ExampleMask` (base64 bitset), so two evaluations compare example by example.
        public var robust: String? = nil
    }

    public struct SweepPoint: Codable, Sendable {
        public var eps: Double
        /// ε as written ("4/255"); nil in files written before it was recorded.
        public var epsText: String? = nil
        public var accuracy: Double
    }

    /// A clean image, its adversarial version and both predictions (pixels as CHW bytes).
    public struct Example: Codable, Sendable {
        public var index: Int
        public var label: Int
        public var cleanPrediction: Int
        public var adversarialPrediction: Int
        public var attack: String
        public var shape: [Int]
        public var clean: [UInt8]
        public var adversarial: [UInt8]
        /// max |x′ − x| over the image.
        public var linf: Double
    }

    public var model: ModelSpec
    /// The checkpoint file as given, and which bytes were measured: its SHA-256 and size when the file was
    /// loaded (nil in files written before they were recorded, and for evaluations made during training).
    public var checkpoint: String
    public var checkpointSha256: String? = nil
    public var checkpointBytes: Int? = nil
    /// Which checkpoint this is (best by validation, last, …); nil in files written before it was recorded.
    public var measured: MeasuredCheckpoint? = nil
    public var data: String
    public var classNames: [String]
    public var count: Int
    /// Examples the attacks ran on (the first `attackCount` of the data); nil in files written before it existed.
    public var attackCount: Int? = nil
    public var eps: Double
    /// ε as the user wrote it (`--eps 8/255`, `"eps": "8/255"`), so the file matches the paper without rounding;
    /// nil in files written before it was recorded.
    public var epsText: String? = nil
    public var norm: String
    public var clean: Accuracy
    public var attacks: [AttackOutcome]
    public var worstCase: Accuracy
    /// Per example (`ExampleMask`): clean prediction right (all `count`), robust to every attack (the first
    /// `attack_count`).
    public var cleanCorrect: String? = nil
    public var worstCaseRobust: String? = nil
    /// (clean + PGD-20)/2 when PGD-20 ran, else (clean + worst case)/2; `wRobustBasis` says which.
    public var wRobust: Double
    public var wRobustBasis: String
    public var sweepAttack: String?
    public var epsSweep: [SweepPoint]
    public var examples: [Example]
    public var warnings: [String]
    public var seconds: Double
    public var seed: UInt64
    public var created: String
    public var machine: String
}

extension EvaluationResult {
    /// The outcome of W-Robust's attack (`AttackRegistry.wRobustAttack`, PGD-20); nil when it did not run.
    public var wRobustAttack: AttackOutcome? { attacks.first { $0.key == AttackRegistry.wRobustAttack } }
}

/// A per-example boolean mask in eval.json, compactly: bit i (byte i/8, least significant bit first) is
/// example i, the bytes base64-encoded. 10 000 examples take 1 668 characters.
public enum ExampleMask {
    public static func encode(_ mask: [Bool]) -> String {
        var bytes = [UInt8](repeating: 0, count: (mask.count + 7) / 8)
        for (i, bit) in mask.enumerated() where bit { bytes[i / 8] |= 1 << UInt8(i % 8) }
        return Data(bytes).base64EncodedString()
    }

    /// The first `count` examples' bits; nil if `text` is not base64 or too short.
    public static func decode(_ text: String, count: Int) -> [Bool]? {
        guard let data = Data(base64Encoded: text), data.count * 8 >= count else { return nil }
        let bytes = [UInt8](data)
        return (0..<count).map { bytes[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }
    }
}
