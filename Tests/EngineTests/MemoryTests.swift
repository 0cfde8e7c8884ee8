@testable import Engine
import Testing

/// What the graph keeps alive, and how much idle memory the buffer pool holds.

/// A weak reference to a tensor's storage: nil once nothing keeps the floats alive.
private final class Watch {
    weak var storage: Storage?
    init(_ t: Tensor) { storage = t.storage }
    var isAlive: Bool { storage != nil }
}

@Suite struct GraphMemory {
    let x: Tensor

    init() {
        var rng = SeededGenerator(seed: 5)
        x = Tensor.uniform([2, 3, 4, 4], -1, 1, using: &rng)
        x.requiresGrad = true
    }

    /// add → relu: the sum is needed by no backward closure, so it is freed as soon as the forward
    /// moves on; the ReLU output (its backward's mask) stays.
    @Test func anActivationNoBackwardNeedsIsFreedDuringTheForwardPass() {
        var sum: Tensor? = x + x
        let watchSum = Watch(sum!)
        let out = sum!.relu()
        sum = nil
        #expect(!watchSum.isAlive)
        out.sum().backward()
        // d/dx relu(2x) = 2 where x > 0.
        #expect(x.grad!.scalars == x.scalars.map { $0 > 0 ? 2 : 0 })
    }

    /// conv → batch norm → relu → sum: backward frees every saved activation, and leaves no node.
    @Test func backwardReleasesTheSavedActivationsAndTheNodes() {
        var rng = SeededGenerator(seed: 6)
        let w = Tensor.uniform([4, 3, 3, 3], -0.3, 0.3, using: &rng)
        w.requiresGrad = true
        let (mean, variance) = (Tensor(zeros: [4]), Tensor(repeating: 1, shape: [4]))
        var conv: Tensor? = conv2d(x, weight: w, bias: nil, padding: .symmetric(1))
        var bn: Tensor? = batchNorm2d(conv!, weight: nil, bias: nil, runningMean: mean, runningVar: variance,
                                      numBatchesTracked: nil, training: true)
        var relu: Tensor? = bn!.relu()
        let watches = [Watch(conv!), Watch(bn!), Watch(relu!)]
        let loss = relu!.sum()
        (conv, bn, relu) = (nil, nil, nil)
        // Batch norm keeps its input (the convolution's output) and ReLU its output; the BN output
        // is held by nothing.
        #expect(watches.map(\.isAlive) == [true, false, true])
        loss.backward()
        #expect(watches.map(\.isAlive) == [false, false, false])
        #expect(loss.node == nil && !loss.requiresGrad)
        #expect(w.grad != nil && x.grad != nil)
    }

    /// An op that keeps its own output for backward (ReLU, exp, softmax) must not tie the output
    /// to its node in a cycle: a forward pass that is never backpropagated is freed when dropped.
    @Test func aGraphThatIsNeverBackpropagatedIsFreedWhenDropped() {
        var outputs: [Tensor]? = [x.relu(), x.exp(), softmax(x.reshaped([2, 48])), logSoftmax(x.reshaped([2, 48]))]
        let watches = outputs!.map(Watch.init)
        outputs = nil
        #expect(watches.allSatisfy { !$0.isAlive })
    }

    /// Gradients with respect to an intermediate tensor (a target with a node) still work.
    @Test func gradientsWithRespectToAnIntermediateTensor() {
        let h = x * x
        let loss = (h * h).sum()
        let grads = loss.gradients(wrt: [h, x])
        #expect(grads[0].scalars == h.scalars.map { 2 * $0 })
        let expected = x.scalars.map { 4 * $0 * $0 * $0 }
        #expect(zip(grads[1].scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }
}

@Suite struct BufferPoolBounds {
    /// Blocks this big are mapped, and untouched pages cost no memory: the test can claim gigabytes.
    let block = 64 << 20  // floats (256 MB)

    @Test func aLoopOverTheSameSizesAllocatesOnlyInItsFirstRound() {
        let pool = BufferPool(capacityBytes: 8 << 30)
        let sizes = [block, block / 2, 100, 100, 7]
        for _ in 0..<5 {
            let taken = sizes.map { (pool.take($0), $0) }
            for (p, n) in taken { pool.give(p, n) }
        }
        #expect(pool.statistics.misses == sizes.count)
    }

    /// Phase A's blocks sit idle while phase B needs other sizes: the misses of phase B free them,
    /// so live + idle stays within the limit instead of growing to A + B.
    @Test func idleBlocksOfAnotherPhaseAreFreedOnAMiss() {
        let pool = BufferPool(capacityBytes: 8 << 30)
        let phaseA = (0..<4).map { _ in pool.take(block) }
        for p in phaseA { pool.give(p, block) }
        let highWater = pool.statistics.highWater
        #expect(highWater == 4 * block * 4)
        var phaseB: [UnsafeMutablePointer<Float>] = []
        for i in 0..<4 {
            phaseB.append(pool.take(block + 16))
            let live = (i + 1) * (block + 16) * 4
            #expect(live + pool.statistics.idle <= pool.footprintLimit(pool.statistics.highWater))
        }
        #expect(pool.statistics.idle < 4 * block * 4, "phase A's blocks were all kept")
        for p in phaseB { pool.give(p, block + 16) }
        pool.drain()
        #expect(pool.statistics.idle == 0)
    }
}
