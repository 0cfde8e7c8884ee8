/// The Datasets module's own seeded generator (it cannot use Engine's: Datasets sits left of Engine).
///
/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit counter stepped by the golden-ratio constant and
/// passed through a mixing finaliser. Tiny, fast, and good enough for shuffling and augmentation
/// draws. Streams are keyed rather than carried: `SplitMix64(key: seed, epoch, stream)` gives the
/// same numbers however many draws happened elsewhere, which is what makes a resumed run at epoch e
/// see exactly the batches an uninterrupted one would.
struct SplitMix64 {
    private(set) var state: UInt64

    init(seed: UInt64) { state = seed }

    /// A generator for a tuple of words (e.g. seed, epoch, stream label): each word is folded in
    /// through the finaliser, so neighbouring keys (epoch 3 and 4) start unrelated streams.
    init(key words: UInt64...) {
        var s: UInt64 = 0x243F_6A88_85A3_08D3   // π's fraction bits: keeps key (0) away from state 0
        for w in words { s = Self.mix((s ^ w) &+ 0x9E37_79B9_7F4A_7C15) }
        state = s
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// Uniform in 0..<n, by the high word of a 64×64-bit product (Lemire). Without rejection the
    /// bias is below n/2^64, far under anything a training run could detect.
    @inline(__always)
    mutating func next(below n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Stream labels, so that the shuffle, the augmentation draws and the validation split of one seed
/// never share numbers.
enum RandomStream: UInt64 {
    case shuffle = 1, augmentation = 2, validationSplit = 3
}

extension Array {
    /// Fisher–Yates, drawing j ∈ 0...i from `rng` for i = count−1 down to 1. Written out (rather
    /// than `shuffle(using:)`) so the permutation cannot change with the standard library.
    mutating func seededShuffle(_ rng: inout SplitMix64) {
        guard count > 1 else { return }
        for i in stride(from: count - 1, to: 0, by: -1) {
            swapAt(i, rng.next(below: i + 1))
        }
    }
}
