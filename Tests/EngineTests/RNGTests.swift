import Testing
@testable import Engine

/// The keyed streams Datasets draws its order, augmentation and validation split from.
@Suite struct RNGTests {
    static func draws(_ g: SeededGenerator, _ n: Int = 8) -> [UInt64] {
        var g = g
        return (0..<n).map { _ in g.next() }
    }

    @Test func aKeyNamesOneStreamAndEveryWordOfItMatters() {
        let stream = Self.draws(SeededGenerator(key: 42, 3, 1))
        #expect(Self.draws(SeededGenerator(key: 42, 3, 1)) == stream, "same key, same numbers")
        for other in [SeededGenerator(key: 42, 4, 1), SeededGenerator(key: 43, 3, 1), SeededGenerator(key: 42, 3, 2),
                      SeededGenerator(key: 42, 1, 3), SeededGenerator(key: 42, 3)] {
            #expect(Set(Self.draws(other)).isDisjoint(with: stream), "neighbouring keys start unrelated streams")
        }
    }

    @Test func drawsBelowNStayBelowNAndReachEveryValue() {
        var g = SeededGenerator(key: 7)
        var seen = Set<Int>()
        for _ in 0..<2000 {
            let v = g.next(below: 9)
            #expect((0..<9).contains(v))
            seen.insert(v)
        }
        #expect(seen.count == 9)
    }

    @Test func aSeededShuffleIsAPermutationThatRepeats() {
        var a = Array(0..<50), b = Array(0..<50)
        var g1 = SeededGenerator(key: 1, 2), g2 = SeededGenerator(key: 1, 2)
        a.seededShuffle(using: &g1)
        b.seededShuffle(using: &g2)
        #expect(a == b && a.sorted() == Array(0..<50) && a != Array(0..<50))
    }
}
