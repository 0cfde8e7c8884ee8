/// Seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// One seed fixes initialisation, shuffling, augmentation and attack noise: every consumer takes
/// the generator as `inout`. Independent streams come either from `fork(label:)` (a stream carried
/// along, e.g. the trainer's attack noise) or from `init(key:)` (a stream named by a key, e.g. the data
/// order of epoch e: the same numbers however many draws happened elsewhere, so a run resumed at epoch e
/// sees exactly the batches an uninterrupted one would).
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var sm = seed
        func splitmix() -> UInt64 {
            sm &+= Self.golden
            return Self.mix(sm)
        }
        state = [splitmix(), splitmix(), splitmix(), splitmix()]
    }

    /// The generator of a tuple of words (seed, epoch, stream label, example index…): each word is folded
    /// in through SplitMix64's finaliser, so neighbouring keys (epoch 3 and 4) start unrelated streams.
    public init(key words: UInt64...) {
        var s: UInt64 = 0x243F_6A88_85A3_08D3   // π's fraction bits: keeps key (0) away from seed 0
        for w in words { s = Self.mix((s ^ w) &+ Self.golden) }
        self.init(seed: s)
    }

    /// SplitMix64 (Steele, Lea, Flood 2014): its counter step (the golden ratio) and its finaliser.
    private static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15
    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Restores a generator from a saved `state` (checkpoints).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        self.state = state
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]; state[3] ^= state[1]; state[1] ^= state[2]; state[0] ^= state[3]
        state[2] ^= t; state[3] = rotl(state[3], 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A new independent generator derived from this one's next draw and a label.
    public mutating func fork(label: UInt64 = 0) -> SeededGenerator {
        SeededGenerator(seed: next() ^ (label &* Self.golden))
    }

    /// Uniform in 0..<n, by the high word of a 64×64-bit product (Lemire). Without rejection the bias is
    /// below n/2⁶⁴, far under anything a training run could detect; written out (rather than the standard
    /// library's `next(upperBound:)`) so that a permutation cannot change with the standard library.
    @inline(__always)
    public mutating func next(below n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    @inline(__always)
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [lo, hi).
    @inline(__always)
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * nextUnitFloat() }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}

import Foundation

extension Array {
    /// Fisher–Yates, drawing j ∈ 0...i from `rng` for i = count−1 down to 1.
    public mutating func seededShuffle(using rng: inout SeededGenerator) {
        guard count > 1 else { return }
        for i in stride(from: count - 1, to: 0, by: -1) {
            swapAt(i, rng.next(below: i + 1))
        }
    }
}

extension Tensor {
    /// Uniform in [lo, hi), drawn from `rng` in row-major order.
    public static func uniform(_ shape: [Int], _ lo: Float, _ hi: Float, using rng: inout SeededGenerator) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        for i in 0..<t.count { t.data[i] = rng.uniform(lo, hi) }
        return t
    }

    /// Uniform in [lo, hi) with each row (example) of `shape` drawn from its own stream
    /// `SeededGenerator(key: b, keys[i])`, b one draw of `rng` (nil keys: the row positions). An example keyed
    /// by its index in the data gets the same numbers whatever batch, or rank of a data-parallel job, it is in;
    /// `rng` advances by one draw whatever the batch size, so every rank's `rng` stays in step.
    public static func keyedUniform(_ shape: [Int], _ lo: Float, _ hi: Float, using rng: inout SeededGenerator, keys: [UInt64]?) -> Tensor {
        keyedRows(shape, using: &rng, keys: keys) { $0.uniform(lo, hi) }
    }

    /// Normal with mean 0 and standard deviation `std`, each row from its own keyed stream (`keyedUniform`).
    public static func keyedNormal(_ shape: [Int], std: Float = 1, using rng: inout SeededGenerator, keys: [UInt64]?) -> Tensor {
        keyedRows(shape, using: &rng, keys: keys) { std * $0.normal() }
    }

    private static func keyedRows(_ shape: [Int], using rng: inout SeededGenerator, keys: [UInt64]?,
                                  _ draw: (inout SeededGenerator) -> Float) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        let rows = shape.first ?? 1, per = rows == 0 ? 0 : t.count / rows
        precondition(keys == nil || keys!.count == rows, "keyed noise: \(keys!.count) keys for \(rows) rows")
        let base = rng.next()
        for i in 0..<rows {
            var row = SeededGenerator(key: base, keys?[i] ?? UInt64(i))
            for j in 0..<per { t.data[i * per + j] = draw(&row) }
        }
        return t
    }

    /// Normal with mean 0 and standard deviation `std`, drawn from `rng` in row-major order.
    public static func normal(_ shape: [Int], std: Float = 1, using rng: inout SeededGenerator) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        for i in 0..<t.count { t.data[i] = std * rng.normal() }
        return t
    }
}
