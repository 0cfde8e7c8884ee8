import Foundation
import Synchronization

/// Transformed Winograd weights (`transformWeights`) of recent convolutions, reused while the
/// weights are bitwise unchanged.
///
/// The transform writes four times the weights' size and, for deep layers with few tiles, costs as
/// much as the layer's GEMMs (measured: a fifth of a ResNet-18 forward pass). Weights often stay
/// the same across many calls: every step of an attack, every evaluation batch, the teachers of a
/// distillation run, the two student passes of a B-MTARD step, and every training backward pass
/// (its dx uses the forward's transform). Two kinds of entry, both exact by construction:
/// - plain weights (keyed by address): the entry keeps a copy of the weights it was computed from, and a
///   lookup compares the current weights with that copy in full (no version counters: optimizers,
///   checkpoint loading and tests all write weights in place). A miss costs the comparison, which stops
///   at the first difference, and one copy of the weights;
/// - a batch norm fold's W′ (`Storage.keeper` set; keyed by the fold, i.e. the layer): the entry holds
///   the W′ buffer itself, which its fold never rewrites while anyone else holds it, so the same buffer
///   is the same values. A hit costs nothing, a new W′ replaces the layer's entry, and no copy is kept:
///   the fold has already compared W′ with its previous values (eval-mode models, the teachers above all).
///
/// Memory is bounded by `budgetBytes`. When full, the least recently used entry is evicted, unless
/// it was used within the last `recentCalls` lookups: then the new entry is not kept, so that a
/// working set larger than the budget (big teachers) keeps part of itself cached instead of
/// evicting everything in a cycle.
final class WinogradWeightCache: Sendable {
    static let shared = WinogradWeightCache(budgetBytes: 512 << 20)

    /// `address`: the weights' address, or the fold's identity for a kept buffer (`kept`).
    private struct Key: Hashable { let address: UInt, kept: Bool, count: Int, cout: Int, flipped: Bool }
    private final class Entry: Sendable {
        /// A copy of plain weights, or the fold's W′ buffer itself.
        let weights: Storage, transformed: Tensor
        init(weights: Storage, transformed: Tensor) { self.weights = weights; self.transformed = transformed }
        /// A kept W′ counts too: the entry keeps it alive after its fold has moved on to a new one.
        var bytes: Int { 4 * (weights.count + transformed.count) }
    }
    private struct State {
        var entries: [Key: (entry: Entry, lastUse: Int)] = [:]
        var bytes = 0
        var clock = 0
    }
    private let state = Mutex(State())
    /// Lookups, and those that computed the transform (misses), since the cache was made.
    private let lookups = Atomic<Int>(0), transforms = Atomic<Int>(0)
    let budgetBytes: Int
    let recentCalls = 256

    init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    /// `transformWeights(w, cout:, cin:, flipped:)`, from the cache when w is unchanged.
    func transformed(_ w: Storage, cout: Int, cin: Int, flipped: Bool) -> Tensor {
        let count = cout * cin * 9
        require(w.count == count, "WinogradWeightCache: \(w.count) weights, expected \(cout)·\(cin)·9")
        let key = w.keeper.map { Key(address: UInt(bitPattern: $0), kept: true, count: count, cout: cout, flipped: flipped) }
            ?? Key(address: UInt(bitPattern: w.pointer), kept: false, count: count, cout: cout, flipped: flipped)
        let cached = state.withLock { s -> Entry? in
            s.clock += 1
            guard let hit = s.entries[key] else { return nil }
            s.entries[key]!.lastUse = s.clock
            return hit.entry
        }
        lookups.add(1, ordering: .relaxed)
        if let cached, key.kept ? cached.weights === w : Self.equal(cached.weights.pointer, w.pointer, count) {
            return cached.transformed
        }

        transforms.add(1, ordering: .relaxed)
        let u = transformWeights(w.pointer, cout: cout, cin: cin, flipped: flipped)
        // What the entry holds to recognise w by: a kept W′ itself, else a copy of the plain weights.
        var held = w
        if !key.kept {
            held = Storage(uninitializedCount: count)
            nonisolated(unsafe) let (src, dst) = (UnsafePointer(w.pointer), held.pointer)
            parallelFor(count, grain: 1 << 18) { r in (dst + r.lowerBound).update(from: src + r.lowerBound, count: r.count) }
        }
        let entry = Entry(weights: held, transformed: u)
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

    /// Bitwise equality of two float buffers, in parallel for big ones (a ResNet's last stage has
    /// 2.4 M weights per layer); each worker stops at its first difference.
    private static func equal(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Bool {
        let differs = Atomic<Bool>(false)
        nonisolated(unsafe) let (pa, pb) = (a, b)
        parallelFor(count, grain: 1 << 18) { r in
            if !differs.load(ordering: .relaxed), memcmp(pa + r.lowerBound, pb + r.lowerBound, 4 * r.count) != 0 {
                differs.store(true, ordering: .relaxed)
            }
        }
        return !differs.load(ordering: .relaxed)
    }

    /// (lookups, transforms computed) so far.
    var counts: (lookups: Int, transforms: Int) { (lookups.load(ordering: .relaxed), transforms.load(ordering: .relaxed)) }

    /// (entries, bytes they hold) now.
    var footprint: (entries: Int, bytes: Int) { state.withLock { ($0.entries.count, $0.bytes) } }

    /// Drops every entry (tests; `releasePooledMemory`).
    func removeAll() { state.withLock { s in s.entries = [:]; s.bytes = 0 } }
}

/// Winograd convolutions' lookups of transformed weights, and how many of them had to compute the transform
/// (the weights were new or had changed), since the process started. A model run again on unchanged weights
/// should add lookups only (`bench --profile` prints both per step).
public var winogradWeightTransforms: (lookups: Int, transforms: Int) { WinogradWeightCache.shared.counts }
