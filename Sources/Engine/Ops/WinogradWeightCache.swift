import Foundation
import Synchronization

/// Transformed Winograd weights (`transformWeights`) of recent convolutions, reused while the
/// weights are bitwise unchanged.
///
/// The transform writes four times the weights' size and, for deep layers with few tiles, costs as
/// much as the layer's GEMMs (measured: a fifth of a ResNet-18 forward pass). Weights often stay
/// the same across many calls: every step of an attack, every evaluation batch, the teachers of a
/// distillation run, the two student passes of a B-MTARD step and its backward pass. An entry keeps
/// a copy of the weights it was computed from, and a lookup compares the current weights with that
/// copy in full, so a hit is exact by construction (no version counters: optimizers, checkpoint
/// loading and tests all write weights in place). A miss costs the comparison, which stops at the
/// first difference, and one copy of the weights.
///
/// Memory is bounded by `budgetBytes`. When full, the least recently used entry is evicted, unless
/// it was used within the last `recentCalls` lookups: then the new entry is not kept, so that a
/// working set larger than the budget (big teachers) keeps part of itself cached instead of
/// evicting everything in a cycle.
final class WinogradWeightCache: Sendable {
    static let shared = WinogradWeightCache(budgetBytes: 512 << 20)

    private struct Key: Hashable { let address: UInt, count: Int, cout: Int, flipped: Bool }
    private final class Entry: Sendable {
        let weights: Tensor, transformed: Tensor
        init(weights: Tensor, transformed: Tensor) { self.weights = weights; self.transformed = transformed }
        var bytes: Int { 4 * (weights.count + transformed.count) }
    }
    private struct State {
        var entries: [Key: (entry: Entry, lastUse: Int)] = [:]
        var bytes = 0
        var clock = 0
    }
    private let state = Mutex(State())
    let budgetBytes: Int
    let recentCalls = 256

    init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    /// `transformWeights(w, cout:, cin:, flipped:)`, from the cache when w is unchanged.
    func transformed(_ w: UnsafePointer<Float>, cout: Int, cin: Int, flipped: Bool) -> Tensor {
        let count = cout * cin * 9
        let key = Key(address: UInt(bitPattern: w), count: count, cout: cout, flipped: flipped)
        let cached = state.withLock { s -> Entry? in
            s.clock += 1
            guard let hit = s.entries[key] else { return nil }
            s.entries[key]!.lastUse = s.clock
            return hit.entry
        }
        if let cached, memcmp(cached.weights.data, w, 4 * count) == 0 { return cached.transformed }

        let u = transformWeights(w, cout: cout, cin: cin, flipped: flipped)
        let copy = Tensor(uninitializedShape: [count])
        copy.data.update(from: w, count: count)
        let entry = Entry(weights: copy, transformed: u)
        state.withLock { s in
            if let old = s.entries.removeValue(forKey: key) { s.bytes -= old.entry.bytes }
            while s.bytes + entry.bytes > budgetBytes {
                guard let (oldest, value) = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse }),
                      s.clock - value.lastUse > recentCalls else { return }
                s.entries.removeValue(forKey: oldest)
                s.bytes -= value.entry.bytes
            }
            s.entries[key] = (entry, s.clock)
            s.bytes += entry.bytes
        }
        return u
    }

    /// Drops every entry (tests; `releasePooledMemory`).
    func removeAll() { state.withLock { s in s.entries = [:]; s.bytes = 0 } }
}
