import Synchronization

/// A contiguous, 64-byte aligned block of `Float`s that returns itself to `BufferPool` when released.
///
/// Tensors of a training step have the same sizes every step, so recycling blocks by exact size
/// removes the allocation storm (glibc serves large blocks with mmap, i.e. page faults on every step).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

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

/// Recycles float blocks by exact size. Thread-safe; bounded so that it never hoards more than
/// `capacityBytes` of idle memory (blocks beyond that are freed).
final class BufferPool: Sendable {
    static let shared = BufferPool(capacityBytes: 3 << 30)

    private struct State {
        // Addresses, not pointers: the state must be Sendable to live in a Mutex.
        var free: [Int: [UInt]] = [:]
        var idleBytes = 0
    }
    private let state = Mutex(State())
    private let capacityBytes: Int

    init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        let recycled: UInt? = state.withLock { s in
            guard var list = s.free[n], let p = list.popLast() else { return nil }
            s.free[n] = list
            s.idleBytes -= n * 4
            return p
        }
        if let recycled, let p = UnsafeMutablePointer<Float>(bitPattern: recycled) { return p }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let n = max(count, 1)
        let kept = state.withLock { s -> Bool in
            guard s.idleBytes + n * 4 <= capacityBytes else { return false }
            s.free[n, default: []].append(UInt(bitPattern: p))
            s.idleBytes += n * 4
            return true
        }
        if !kept { UnsafeMutableRawPointer(p).deallocate() }
    }

    /// Frees every idle block (used by benchmarks to measure cold memory, and by tests).
    func drain() {
        let blocks = state.withLock { s -> [UInt] in
            let all = s.free.values.flatMap { $0 }
            s.free = [:]; s.idleBytes = 0
            return all
        }
        for a in blocks { UnsafeMutableRawPointer(bitPattern: a)?.deallocate() }
    }
}
