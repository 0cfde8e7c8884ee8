import Engine
import Foundation
import Synchronization

/// Turns a `Dataset` into mini-batches: per-epoch shuffling, augmentation, UInt8 → Float in [0, 1],
/// prepared on a background thread while the consumer trains.
///
/// Determinism: the order of epoch e is a Fisher–Yates permutation drawn from
/// `SeededGenerator(key: seed, e, shuffle)`, and example i's augmentation in epoch e comes from
/// `SeededGenerator(key: seed, e, augmentation, i)`. Nothing carries over between epochs, so a run resumed
/// at epoch e sees exactly the batches an uninterrupted run would, whatever the batch size of the
/// augmentation draws or the prefetch depth.
///
/// ```swift
/// let loader = BatchLoader(dataset: train, batchSize: 128, augmentation: .cifar, seed: 1)
/// for epoch in 0..<epochs { for batch in loader.batches(epoch: epoch) { … } }
/// ```
public final class BatchLoader: Sendable {
    public let dataset: Dataset
    public let batchSize: Int
    public let shuffle: Bool
    /// nil: no augmentation (evaluation).
    public let augmentation: Augmentation?
    public let seed: UInt64
    /// Drop the last batch when it is smaller than `batchSize` (otherwise it is kept).
    public let dropLast: Bool
    /// How many finished batches may wait in the queue; 0 prepares each batch on the consumer's
    /// thread when it is asked for.
    public let prefetch: Int

    /// Background producers currently running (tests check that an abandoned loop ends its thread).
    let liveProducers = Atomic<Int>(0)

    public init(dataset: Dataset, batchSize: Int, shuffle: Bool = true, augmentation: Augmentation? = nil,
                seed: UInt64 = 0, dropLast: Bool = false, prefetch: Int = 3) {
        require(batchSize > 0, "batchSize must be positive, got \(batchSize)")
        require(prefetch >= 0, "prefetch must be ≥ 0, got \(prefetch)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.augmentation = augmentation
        self.seed = seed
        self.dropLast = dropLast
        self.prefetch = prefetch
    }

    /// Batches in one epoch.
    public var batchesPerEpoch: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The batches of `epoch`, from batch `start` on (to resume mid-epoch). Iterating starts a
    /// producer thread (when `prefetch > 0`); leaving the loop early stops it.
    public func batches(epoch: Int, from start: Int = 0) -> BatchSequence {
        BatchSequence(loader: self, epoch: epoch, start: start)
    }

    /// Dataset indices in the order epoch `epoch` visits them.
    func order(epoch: Int) -> [Int] {
        var order = Array(0..<dataset.count)
        if shuffle {
            var rng = SeededGenerator(key: seed, UInt64(bitPattern: Int64(epoch)), RandomStream.shuffle.rawValue)
            order.seededShuffle(using: &rng)
        }
        return order
    }

    /// Batch `b` of an epoch whose order is `order`.
    func makeBatch(epoch: Int, order: [Int], index b: Int) -> Batch {
        let lo = b * batchSize, hi = min(order.count, lo + batchSize)
        let indices = Array(order[lo..<hi])
        let (seed, epochKey) = (seed, UInt64(bitPattern: Int64(epoch)))
        let images = dataset.images(at: indices, augmentation: augmentation.map { augmentation in
            { i in
                var rng = SeededGenerator(key: seed, epochKey, RandomStream.augmentation.rawValue, UInt64(i))
                return augmentation.draw(&rng)
            }
        })
        return Batch(images: images, labels: indices.map { dataset.labels[$0] }, indices: indices)
    }
}

/// The batches of one epoch. Each `makeIterator()` starts an independent pass.
public struct BatchSequence: Sequence, Sendable {
    let loader: BatchLoader
    let epoch: Int
    let start: Int

    public var underestimatedCount: Int { Swift.max(0, loader.batchesPerEpoch - start) }

    public func makeIterator() -> BatchIterator { BatchIterator(loader: loader, epoch: epoch, start: start) }
}

/// Hands out the batches of one epoch, prepared ahead by a producer thread when `prefetch > 0`.
/// Releasing the iterator (e.g. `break` out of the `for` loop) cancels the producer, which stops
/// after at most the batch it is preparing.
public final class BatchIterator: IteratorProtocol {
    private let loader: BatchLoader
    private let epoch: Int
    private let order: [Int]
    private var cursor: Int
    private let end: Int
    private let queue: BatchQueue?

    init(loader: BatchLoader, epoch: Int, start: Int) {
        self.loader = loader
        self.epoch = epoch
        order = loader.order(epoch: epoch)
        end = loader.batchesPerEpoch
        cursor = max(0, start)
        if loader.prefetch > 0, cursor < end {
            let queue = BatchQueue(capacity: loader.prefetch)
            self.queue = queue
            Self.startProducer(loader: loader, epoch: epoch, order: order, range: cursor..<end, queue: queue)
        } else {
            queue = nil
        }
    }

    deinit { queue?.cancel() }

    public func next() -> Batch? {
        if let queue { return queue.pop() }
        guard cursor < end else { return nil }
        defer { cursor += 1 }
        return loader.makeBatch(epoch: epoch, order: order, index: cursor)
    }

    /// The producer holds the loader and the queue, never the iterator, so dropping the iterator
    /// runs its deinit, which cancels the queue and lets the thread finish.
    private static func startProducer(loader: BatchLoader, epoch: Int, order: [Int], range: Range<Int>, queue: BatchQueue) {
        loader.liveProducers.add(1, ordering: .sequentiallyConsistent)
        let thread = Thread {
            for b in range {
                let batch = loader.makeBatch(epoch: epoch, order: order, index: b)
                if !queue.push(batch) { break }
            }
            queue.finish()
            loader.liveProducers.subtract(1, ordering: .sequentiallyConsistent)
        }
        thread.name = "BatchLoader.prefetch"
        thread.start()
    }
}

/// A bounded FIFO between one producer thread and one consumer.
private final class BatchQueue: @unchecked Sendable {
    // All fields are guarded by `condition`'s lock.
    private let condition = NSCondition()
    private var items: [Batch] = []
    private var head = 0
    private let capacity: Int
    private var finished = false
    private var cancelled = false

    init(capacity: Int) { self.capacity = capacity }

    /// Blocks while the queue is full. Returns false when the consumer has gone (stop producing).
    func push(_ batch: Batch) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        items.append(batch)
        condition.broadcast()
        return true
    }

    /// Blocks until a batch is ready; nil once the producer has finished and the queue is drained.
    func pop() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while items.count == head && !finished { condition.wait() }
        guard head < items.count else { return nil }
        let batch = items[head]
        head += 1
        if head == items.count { items.removeAll(keepingCapacity: true); head = 0 }
        condition.broadcast()
        return batch
    }

    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        head = 0
        condition.broadcast()
        condition.unlock()
    }
}
