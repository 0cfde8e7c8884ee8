import Glibc
import Synchronization

/// A contiguous, 64-byte aligned block of `Float`s that returns itself to `BufferPool` when released.
///
/// Tensors of a training step have the same sizes every step, so recycling blocks by exact size
/// removes the allocation storm (glibc serves large blocks with mmap, i.e. page faults on every step).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// The `BatchNormFold` whose buffer this is, set once when the fold makes it. Such a buffer is rewritten
    /// only while the fold holds the sole reference, so whoever else holds it sees its values unchanged
    /// (`WinogradWeightCache` relies on that instead of keeping and comparing a copy).
    var keeper: ObjectIdentifier?

    /// Uninitialised storage of `count` floats (contents are whatever the recycled block held).
    init(uninitializedCount count: Int) {
        self.count = count
        self.pointer = BufferPool.shared.take(count)
    }

    /// Zero-filled storage.
    init(zeros count: Int) {
        self.count = count
        self.pointer = BufferPool.shared.take(count)
        pointer.update(repeating: 0, count: count)
    }

    deinit { BufferPool.shared.give(pointer, count) }
}

/// Frees every idle pooled block and the cached Winograd weight transforms (benchmarks measuring one
/// workload's peak memory; long-lived processes switching to a workload with other tensor sizes).
public func releasePooledMemory() {
    WinogradWeightCache.shared.removeAll()
    BufferPool.shared.drain()
}

/// Bytes of tensor storage in use (not idle in the pool): now, and the most since the last
/// `resetPeakTensorBytes()`. RSS adds the pool's idle blocks, the code and the allocator's overhead.
public var tensorBytes: (current: Int, peak: Int) { BufferPool.shared.liveBytes }
public func resetPeakTensorBytes() { BufferPool.shared.resetPeak() }

/// Recycles float blocks by exact size. Thread-safe.
///
/// Idle blocks are bounded by what the process has shown it needs: on a miss (a size with no idle
/// block), the least recently returned idle blocks are freed until live + idle bytes are within
/// `footprintLimit` (the most ever live at once, plus headroom). A loop that repeats the same
/// sizes (a training step) keeps hitting; a step whose phases use different sizes (a wrn-34-10
/// teacher's activations, then a ResNet-18 student's) stops hoarding one phase's blocks through the
/// other, which held 1.1 GB idle at the peak of a B-MTARD step with wrn-34-10 teachers.
/// `capacityBytes` caps idle memory outright.
final class BufferPool: Sendable {
    static let shared = BufferPool(capacityBytes: 3 << 30)

    private struct State {
        // Addresses, not pointers: the state must be Sendable to live in a Mutex. Each size's list
        // is in return order (stamps ascending), so its first block is its least recently returned.
        var free: [Int: [(address: UInt, stamp: Int)]] = [:]
        var idleBytes = 0
        var liveBytes = 0, peakLiveBytes = 0
        /// The most bytes ever live at once (never reset, unlike `peakLiveBytes`).
        var highWaterBytes = 0
        var clock = 0
        /// Takes served by a fresh allocation.
        var misses = 0

        /// Removes the least recently returned idle block.
        mutating func evictOldest() -> (address: UInt, floats: Int)? {
            guard let (size, list) = free.min(by: { $0.value[0].stamp < $1.value[0].stamp }) else { return nil }
            if list.count == 1 { free[size] = nil } else { free[size]!.removeFirst() }
            idleBytes -= size * 4
            return (list[0].address, size)
        }
    }
    private let state = Mutex(State())
    private let capacityBytes: Int
    /// Live + idle bytes allowed on a miss: the high-water mark of live bytes plus 1/16 of it, at least 256 MB.
    /// Exact-size recycling needs more than the high-water mark to never miss (each size's own
    /// maximum, at different moments of a step): smallcnn and ResNet-18 training fit within 256 MB
    /// of it, so they keep hitting. With 1/8, B-MTARD with two wrn-34-10 teachers (2.37 GB live at its
    /// peak) kept 296 MB of headroom and peaked 9 MB above PyTorch's torch.compile (bench/README.md).
    func footprintLimit(_ highWater: Int) -> Int { highWater + max(256 << 20, highWater / 16) }

    init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        var evicted: [(address: UInt, floats: Int)] = []
        let recycled: UInt? = state.withLock { s in
            s.liveBytes += n * 4
            s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
            s.highWaterBytes = max(s.highWaterBytes, s.liveBytes)
            if var list = s.free[n], let block = list.popLast() {
                s.free[n] = list.isEmpty ? nil : list
                s.idleBytes -= n * 4
                return block.address
            }
            s.misses += 1
            let limit = footprintLimit(s.highWaterBytes)
            while s.liveBytes + s.idleBytes > limit, let block = s.evictOldest() { evicted.append(block) }
            return nil
        }
        for block in evicted { Self.release(block.address, floats: block.floats) }
        if let recycled, let p = UnsafeMutablePointer<Float>(bitPattern: recycled) { return p }
        return Self.allocate(n)
    }

    /// Blocks of at least this many floats (1 MB) are mapped directly. Through malloc, freeing one
    /// would raise glibc's dynamic mmap threshold, after which blocks below that size come from the
    /// heap, whose freed space fragments and stays resident: evicting would then grow RSS.
    static let mappedFloats = 1 << 18

    /// Page-aligned, zero-filled pages for big blocks; malloc (64-byte aligned) for the rest.
    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        if n >= mappedFloats {
            guard let raw = mmap(nil, n * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  raw != MAP_FAILED else { fatalError("out of memory: cannot map \(n * 4) bytes for a tensor") }
            return raw.bindMemory(to: Float.self, capacity: n)
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    private static func release(_ address: UInt, floats n: Int) {
        guard let raw = UnsafeMutableRawPointer(bitPattern: address) else { return }
        if n >= mappedFloats { munmap(raw, n * 4) } else { raw.deallocate() }
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let n = max(count, 1)
        let kept = state.withLock { s -> Bool in
            s.liveBytes -= n * 4
            guard s.idleBytes + n * 4 <= capacityBytes else { return false }
            s.clock += 1
            s.free[n, default: []].append((UInt(bitPattern: p), s.clock))
            s.idleBytes += n * 4
            return true
        }
        if !kept { Self.release(UInt(bitPattern: p), floats: n) }
    }

    /// Idle bytes held for reuse, the most bytes ever live, and the number of fresh allocations (tests).
    var statistics: (idle: Int, highWater: Int, misses: Int) {
        state.withLock { ($0.idleBytes, $0.highWaterBytes, $0.misses) }
    }

    var liveBytes: (current: Int, peak: Int) { state.withLock { ($0.liveBytes, $0.peakLiveBytes) } }
    func resetPeak() { state.withLock { $0.peakLiveBytes = $0.liveBytes } }

    /// Frees every idle block (used by benchmarks to measure cold memory, and by tests).
    func drain() {
        let blocks = state.withLock { s -> [(UInt, Int)] in
            let all = s.free.flatMap { size, list in list.map { ($0.address, size) } }
            s.free = [:]; s.idleBytes = 0
            return all
        }
        for (address, floats) in blocks { Self.release(address, floats: floats) }
    }
}
