@testable import Engine
import Testing

/// The Winograd F(4×4, 3×3) kernel against the naive seven-loop definition (`ConvCase.reference`),
/// forward and backward, on shapes chosen for its edges: channel counts that are not multiples of
/// the SIMD width, outputs that are not multiples of the tile, every padding it accepts, one tile per
/// image, and chunks so small that they split images and tile rows; each under both schedules and with
/// both kernels for the 36 products (BLAS and WinogradProducts.swift's SIMD blocks, whose column blocks
/// of 16, 8 and 4 and partial row blocks these channel and tile counts cover).

struct WinogradCase: CustomTestStringConvertible, Sendable {
    let conv: ConvCase
    var chunkLimit: Int?
    var testDescription: String { conv.name }
    /// Both schedules: chunked (with the case's chunk size) and phased.
    var schedules: [WinogradSchedule] { [.chunked(tiles: chunkLimit), .phased] }

    var geometry: ConvGeometry {
        let c = conv
        return ConvGeometry(n: c.n, cin: c.cin, h: c.h, w: c.w, cout: c.cout, kh: 3, kw: 3, stride: 1,
                            padding: c.padding, groups: 1, oh: c.oh, ow: c.ow)
    }

    static let all: [WinogradCase] = [
        WinogradCase(conv: ConvCase(name: "5 → 7 channels, 9×11 (ragged tiles), padding 1", n: 3, cin: 5, h: 9, w: 11,
                                    cout: 7, padding: .symmetric(1))),
        WinogradCase(conv: ConvCase(name: "padding 0, 10×7", cin: 8, h: 10, w: 7, cout: 8, bias: false)),
        WinogradCase(conv: ConvCase(name: "asymmetric padding (2, 0, 1, 2)", cin: 9, h: 6, w: 9, cout: 6,
                                    padding: Padding(top: 2, bottom: 0, left: 1, right: 2))),
        WinogradCase(conv: ConvCase(name: "4×4 images: one tile each", n: 5, cin: 12, h: 4, w: 4, cout: 16,
                                    padding: .symmetric(1))),
        WinogradCase(conv: ConvCase(name: "chunks of 3 tiles split rows and images", n: 3, cin: 8, h: 13, w: 9, cout: 12,
                                    padding: .symmetric(1)), chunkLimit: 3),
        WinogradCase(conv: ConvCase(name: "single image", n: 1, cin: 16, h: 8, w: 8, cout: 8, padding: .symmetric(1))),
        WinogradCase(conv: ConvCase(name: "20 → 28 channels: column blocks of 16, 8 and 4", n: 2, cin: 20, h: 7, w: 6,
                                    cout: 28, padding: .symmetric(1)), chunkLimit: 5),
    ]
}

@Test(arguments: WinogradCase.all)
func winogradMatchesNaiveDefinitionForwardAndBackward(_ wc: WinogradCase) {
    // The kernel is called directly: conv2d would not route 5-channel layers to it (see below), but
    // channel counts that are not multiples of 4 must still be exact.
    let c = wc.conv, g = wc.geometry
    let x = smoothInput(c.xShape, seed: 61)
    let w = smoothInput(c.wShape, seed: 62, scale: 0.5)
    let b = c.bias ? smoothInput([c.cout], seed: 63) : nil

    let reference = c.reference(x: x.scalars, w: w.scalars, b: b?.scalars)
    let dy = smoothInput(c.yShape, seed: 64)
    let ref = c.referenceBackward(x: x.scalars, w: w.scalars, dy: dy.scalars)
    for schedule in wc.schedules {
        for kernel in [WinogradProductKernel.blas, .simd] {
            let y = Tensor(uninitializedShape: c.yShape)
            winogradConvForward(x.data, w.storage, b?.data, y.data, g, schedule: schedule, kernel: kernel)
            expectClose(y.scalars, reference, "forward, \(schedule), \(kernel)")
            // dx alone (an attack) takes the other route: dy convolved with the rotated kernel.
            let (dxOnly, noDW) = winogradConvBackward(dy, x, w, g, wantX: true, wantW: false, schedule: schedule, kernel: kernel)
            #expect(noDW == nil)
            expectClose(dxOnly?.scalars ?? [], ref.dx, "dx alone, \(schedule), \(kernel)")

            let (dx, dw) = winogradConvBackward(dy, x, w, g, wantX: true, wantW: true, schedule: schedule, kernel: kernel)
            expectClose(dx?.scalars ?? [], ref.dx, "dx, \(schedule), \(kernel)")
            expectClose(dw?.scalars ?? [], ref.dw, "dw, \(schedule), \(kernel)")
            let (noDX, dwOnly) = winogradConvBackward(dy, x, w, g, wantX: false, wantW: true, schedule: schedule, kernel: kernel)
            #expect(noDX == nil && dwOnly?.scalars == dw?.scalars, "dW alone is the same computation, \(schedule), \(kernel)")
        }
    }
}

@Test func onlyThreeByThreeStrideOneUngroupedLayersWithEightChannelsUseWinograd() {
    func uses(cin: Int = 8, cout: Int = 8, k: Int = 3, stride: Int = 1, groups: Int = 1,
              padding: Padding = .symmetric(1)) -> Bool {
        ConvGeometry(n: 1, cin: cin, h: 8, w: 8, cout: cout, kh: k, kw: k, stride: stride, padding: padding,
                     groups: groups, oh: 8, ow: 8).usesWinograd
    }
    #expect(uses())
    #expect(uses(padding: Padding(top: 0, bottom: 2, left: 2, right: 0)))
    #expect(!uses(stride: 2))
    #expect(!uses(groups: 2))
    #expect(!uses(k: 1) && !uses(k: 5))
    #expect(!uses(cin: 3) && !uses(cout: 4))
    #expect(!uses(padding: .symmetric(3)))
}

@Test func emptyBatchThroughWinogradGivesEmptyOutputAndZeroWeightGradient() {
    let x = Tensor(zeros: [0, 8, 6, 6]), w = Tensor(repeating: 1, shape: [8, 8, 3, 3])
    w.requiresGrad = true
    let y = conv2d(x, weight: w, bias: nil, padding: .symmetric(1))
    #expect(y.shape == [0, 8, 6, 6])
    y.sum().backward()
    #expect(w.grad?.shape == [8, 8, 3, 3] && w.grad?.scalars.allSatisfy { $0 == 0 } == true)
}

// MARK: - Transformed-weight cache

@Test func cachedTransformIsReusedOnlyWhileTheWeightsAreBitwiseUnchanged() {
    let cache = WinogradWeightCache(budgetBytes: 1 << 20)
    let w = smoothInput([6, 5, 3, 3], seed: 71)
    let first = cache.transformed(w.storage, cout: 6, cin: 5, flipped: false)
    #expect(cache.transformed(w.storage, cout: 6, cin: 5, flipped: false) === first)
    #expect(cache.transformed(w.storage, cout: 6, cin: 5, flipped: true) !== first, "the rotated kernel is another entry")

    w.data[17] += 0.25  // an optimizer step, in place
    let updated = cache.transformed(w.storage, cout: 6, cin: 5, flipped: false)
    #expect(updated !== first)
    #expect(updated.scalars == transformWeights(w.data, cout: 6, cin: 5, flipped: false).scalars)
}

@Test func convolutionAfterAnInPlaceWeightUpdateUsesTheNewWeights() {
    let c = ConvCase(name: "cached", n: 2, cin: 8, h: 6, w: 6, cout: 8, padding: .symmetric(1), bias: false)
    let x = smoothInput(c.xShape, seed: 72), w = smoothInput(c.wShape, seed: 73)
    _ = conv2d(x, weight: w, bias: nil, padding: c.padding)
    for i in stride(from: 0, to: w.count, by: 7) { w.data[i] *= -1.5 }
    let y = conv2d(x, weight: w, bias: nil, padding: c.padding)
    expectClose(y.scalars, c.reference(x: x.scalars, w: w.scalars, b: nil), "after the update")
}

/// A batch norm fold's W′ is held, not copied: a hit is the same buffer (the fold never rewrites one that
/// the cache holds), and a new W′ for the layer replaces its entry instead of adding one.
@Test func cacheHoldsAFoldsWeightsInsteadOfCopyingThem() {
    let t = FoldCase(conv: ConvCase(name: "kept", cin: 8, cout: 8), relu: true).tensors()
    let fold = BatchNormFold(), cache = WinogradWeightCache(budgetBytes: 1 << 20)
    func folded() -> Tensor {
        foldBatchNorm(convWeight: t.w, convBias: nil, weight: t.gamma, bias: t.beta, runningMean: t.mean,
                      runningVar: t.variance, reusing: fold).weight
    }
    // Only the fold and the cache hold the buffer (the tensors here are temporaries).
    let u = cache.transformed(folded().storage, cout: 8, cin: 8, flipped: false)
    let firstBuffer = ObjectIdentifier(folded().storage), wCount = t.w.count
    #expect(cache.transformed(folded().storage, cout: 8, cin: 8, flipped: false) === u, "unchanged W′: a hit")
    #expect(cache.footprint.entries == 1 && cache.footprint.bytes == 4 * (wCount + u.count),
            "one entry holding W′ itself and its transform, no copy")

    t.w.data[5] += 0.5  // an optimizer step, in place
    let next = folded()
    #expect(ObjectIdentifier(next.storage) != firstBuffer, "a W′ the cache holds is not rewritten in place")
    let v = cache.transformed(next.storage, cout: 8, cin: 8, flipped: false)
    #expect(v !== u && v.scalars == transformWeights(next.data, cout: 8, cin: 8, flipped: false).scalars)
    #expect(cache.footprint.entries == 1, "the layer's entry was replaced")

    // Plain weights are copied and compared.
    let plain = smoothInput([8, 8, 3, 3], seed: 76)
    let p = cache.transformed(plain.storage, cout: 8, cin: 8, flipped: false)
    #expect(cache.footprint.entries == 2 && cache.footprint.bytes == 4 * (2 * wCount + u.count + p.count))
}

@Test func fullCacheKeepsRecentEntriesRatherThanCyclingThem() {
    let w1 = smoothInput([8, 8, 3, 3], seed: 74), w2 = smoothInput([8, 8, 3, 3], seed: 75)
    // Room for one entry: weights (576 floats) + transform (36·8·8) = 2880 floats.
    let cache = WinogradWeightCache(budgetBytes: 4 * 2880)
    let a = cache.transformed(w1.storage, cout: 8, cin: 8, flipped: false)
    let b = cache.transformed(w2.storage, cout: 8, cin: 8, flipped: false)
    #expect(cache.transformed(w1.storage, cout: 8, cin: 8, flipped: false) === a, "the recent entry stays")
    #expect(cache.transformed(w2.storage, cout: 8, cin: 8, flipped: false) !== b, "the newcomer was not kept")
}

/// The fused convolution, ReLU and 2×2 max-pool against the two ops it replaces, bit for bit, where nothing is
/// recorded: odd output sizes (the last row and column dropped by ⌊·/2⌋), a last odd channel block, tinycnn's
/// 16 → 32 layer on 28×28, both schedules and both product kernels; and a layer Winograd does not take (one
/// input channel) through the fallback.
@Test(arguments: [
    ConvCase(name: "12 → 12 channels, 9×11 (odd sides, odd block)", n: 3, cin: 12, h: 9, w: 11, cout: 12, padding: .symmetric(1)),
    ConvCase(name: "tinycnn's 16 → 32 on 28×28", n: 2, cin: 16, h: 28, w: 28, cout: 32, padding: .symmetric(1)),
    ConvCase(name: "8 → 20, padding 0, 7×10", n: 2, cin: 8, h: 7, w: 10, cout: 20),
    ConvCase(name: "one input channel: not Winograd", n: 2, cin: 1, h: 8, w: 8, cout: 4, padding: .symmetric(1)),
])
func fusedReLUMaxPoolMatchesTheTwoOpsBitForBit(_ c: ConvCase) {
    let x = smoothInput(c.xShape, seed: 71)
    let w = smoothInput(c.wShape, seed: 72, scale: 0.5)
    let b = smoothInput([c.cout], seed: 73, scale: 0.2)
    let separate = withNoGrad { maxPool2d(conv2d(x, weight: w, bias: b, padding: c.padding, relu: true), kernel: 2) }
    let fused = withNoGrad { conv2dReLUMaxPool2(x, weight: w, bias: b, padding: c.padding) }
    #expect(fused.shape == separate.shape)
    let same = fused.scalars == separate.scalars  // a Bool: a failure names the case, not two long arrays
    #expect(same, "fused differs from conv2d + maxPool2d")
    #expect(separate.scalars.contains { $0 > 0 } && separate.scalars.contains { $0 == 0 }, "the case exercises the ReLU")

    let conv = ConvGeometry(n: c.n, cin: c.cin, h: c.h, w: c.w, cout: c.cout, kh: 3, kw: 3, stride: 1,
                            padding: c.padding, groups: 1, oh: c.oh, ow: c.ow)
    guard conv.usesWinograd else { return }
    for schedule in [WinogradSchedule.chunked(tiles: 5), .phased] {
        for kernel in [WinogradProductKernel.blas, .simd] {
            let full = Tensor(uninitializedShape: c.yShape)
            winogradConvForward(x.data, w.storage, b.data, full.data, conv, relu: true, schedule: schedule, kernel: kernel)
            let pooled = Tensor(uninitializedShape: separate.shape)
            winogradConvForward(x.data, w.storage, b.data, pooled.data, conv, relu: true, pool: true, schedule: schedule, kernel: kernel)
            let same = pooled.scalars == withNoGrad { maxPool2d(full, kernel: 2) }.scalars
            #expect(same, "\(schedule), \(kernel)")
        }
    }
}

/// Where a graph is recorded, the fused op keeps each window's argmax and its backward scatters there: its outputs and
/// the gradients of x, the weight and the bias equal those of the two ops recorded, bit for bit. The cases of
/// `fusedReLUMaxPoolMatchesTheTwoOpsBitForBit` with Winograd layers, plus ties: channels whose weights are zero output
/// their bias everywhere, so every window ties (positive bias: the first output takes the gradient) or is all zero
/// after the ReLU (negative bias: no gradient). Both backward routes run: dx alone (attacks) and all three (training).
@Test(arguments: [
    ConvCase(name: "12 → 12 channels, 9×11 (odd sides, odd block)", n: 3, cin: 12, h: 9, w: 11, cout: 12, padding: .symmetric(1)),
    ConvCase(name: "tinycnn's 16 → 32 on 28×28", n: 2, cin: 16, h: 28, w: 28, cout: 32, padding: .symmetric(1)),
    ConvCase(name: "8 → 20, padding 0, 7×10", n: 2, cin: 8, h: 7, w: 10, cout: 20),
])
func fusedReLUMaxPoolGradientsMatchTheTwoOpsBitForBit(_ c: ConvCase) {
    let x = smoothInput(c.xShape, seed: 91)
    let w = smoothInput(c.wShape, seed: 92, scale: 0.5)
    let b = smoothInput([c.cout], seed: 93, scale: 0.2)
    let perChannel = w.count / c.cout
    for i in 0..<2 * perChannel { w.data[i] = 0 }
    (b.data[0], b.data[1]) = (0.3, -0.2)
    let r = smoothInput([c.n, c.cout, c.oh / 2, c.ow / 2], seed: 94)
    for wantAll in [false, true] {
        func run(_ op: (Tensor, Tensor, Tensor) -> Tensor) -> [[UInt32]] {
            let (xi, wi, bi) = (x.detachedCopy(), w.detachedCopy(), b.detachedCopy())
            xi.requiresGrad = true
            wi.requiresGrad = wantAll; bi.requiresGrad = wantAll
            let y = op(xi, wi, bi)
            (y * r).sum().backward()
            let grads = wantAll ? [xi.grad!, wi.grad!, bi.grad!] : [xi.grad!]
            return ([y] + grads).map { $0.scalars.map(\.bitPattern) }
        }
        let fused = run { conv2dReLUMaxPool2($0, weight: $1, bias: $2, padding: c.padding) }
        let separate = run { maxPool2d(conv2d($0, weight: $1, bias: $2, padding: c.padding, relu: true), kernel: 2) }
        for (k, what) in ["y", "dx", "dW", "dBias"].prefix(fused.count).enumerated() {
            let same = fused[k] == separate[k]
            #expect(same, "\(what), \(wantAll ? "all gradients" : "dx alone")")
        }
    }
}

/// The fused op's gradients against central finite differences, at a point away from its kinks: every window's
/// largest convolution output leads the next by more than 0.05 and is positive, or all four are below −0.05 (a
/// step of h = 0.01 moves an output by less than 0.02; the test checks that the point is such a point). The input
/// rises along its rows and columns and each output channel's weights share one sign, so the window maxima sit at
/// the bottom right (positive weights) or the top left (negative weights, with a bias that keeps them positive);
/// the other two channels of every four are negative everywhere (no gradient reaches them).
@Test func fusedReLUMaxPoolGradientMatchesFiniteDifferences() {
    let c = ConvCase(name: "", n: 1, cin: 8, h: 8, w: 8, cout: 8)
    let noise = smoothInput(c.xShape, seed: 101, scale: 0.005)
    let x = Tensor(shape: c.xShape, scalars: (0..<noise.count).map { i in
        Float(i % (c.h * c.w)) * 0.02 + noise.data[i]
    })
    let magnitudes = smoothInput(c.wShape, seed: 102).scalars.map { 0.05 + 0.1 * abs($0) }
    let perChannel = c.cin * 9
    let w = Tensor(shape: c.wShape, scalars: magnitudes.indices.map { i in
        (i / perChannel) % 2 == 0 ? magnitudes[i] : -magnitudes[i]
    })
    let b = Tensor(shape: [c.cout], scalars: (0..<c.cout).map { [0, 15, -20, 0][$0 % 4] })
    let conv = withNoGrad { conv2d(x, weight: w, bias: b, padding: c.padding) }
    var smooth = true
    for plane in 0..<c.n * c.cout {
        for i in 0..<c.oh / 2 {
            for j in 0..<c.ow / 2 {
                let values = [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .map { conv.data[plane * c.oh * c.ow + (2 * i + $0.0) * c.ow + 2 * j + $0.1] }.sorted(by: >)
                smooth = smooth && (values[0] > 0 && values[0] - values[1] > 0.05 || values[0] < -0.05)
            }
        }
    }
    #expect(smooth, "the point is away from the kinks")
    GradientCheck().check("conv2dReLUMaxPool2", inputs: [x, w, b]) {
        conv2dReLUMaxPool2($0[0], weight: $0[1], bias: $0[2], padding: c.padding)
    }
}
