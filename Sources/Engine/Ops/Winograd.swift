/// Winograd F(4×4, 3×3) convolution: the kernel for 3×3, stride-1, ungrouped layers (most of
/// smallcnn's and ResNet's FLOPs).
///
/// Each 4×4 block of outputs ("tile") of one output channel is
///     y = Aᵀ [ Σ_ci (G w_ci Gᵀ) ⊙ (Bᵀ d_ci B) ] A
/// where d_ci is the 6×6 input patch under the tile. The sum over input channels at each of the 36
/// positions ξ of the 6×6 transform domain is a matrix product, so a layer becomes 36 GEMMs of
/// [tiles × Cin]·[Cin × Cout] with 36/16 = 2.25 multiply-adds per output and input channel pair,
/// against 9 for the direct method (im2col): 4× fewer. The transforms are linear in d and cost
/// O(C) per tile; they run in Swift SIMD, eight channels per vector (two blocks of four; WinogradTransformsSIMD8.swift).
///
/// Interpolation points 0, 1, −1, 1/2, −2, ∞ rather than the usual 0, ±1, ±2, ∞: about 3× smaller
/// rounding error (measured max |Δ| / mean |y| over 64-channel tiles: 1.2e-5 against 3.5e-5;
/// direct Float32 summation: 3e-7).
///
/// Backward (`winogradConvBackward`): with dW, as adjoints of the forward's linear maps: dM = A dy Aᵀ
/// per tile; dW = Gᵀ (Σ_tiles Vᵀ dM) G, 36 GEMMs [Cin × tiles]·[tiles × Cout]; dx = Σ_tiles B (dM Uᵀ) Bᵀ,
/// 36 GEMMs with the forward's U and a scatter onto the overlapping input patches. dx alone: the
/// stride-1 convolution of dy padded by 2 − padding with the rotated, channel-swapped kernel.
///
/// Layouts. Channels come in blocks of four (C4 = C rounded up to 4, missing channels are zeros),
/// and the data transforms take two blocks at a time: a "blocked" plane stores one image's `[Hp, Wp, 8]`
/// for a pair of blocks (`[Hp, Wp, 4]` for a last odd block; padding is zeros), so that the eight
/// channels of one pixel are one vector load. Transformed data is `[tiles, 36, C4]` per
/// chunk of tiles (the GEMM for position ξ reads every 36th row) and transformed weights `[36, Cin4, Cout4]`.
/// Tiles are numbered `(image, tile row, tile column)` over the batch and processed in chunks
/// small enough for their transformed data to stay in cache; the batch's tiles are cut into `Compute.parts`
/// contiguous ranges (never by the worker count: the chunks' sizes are the GEMMs' sizes), run in parallel.

typealias Float4 = SIMD4<Float>

extension ConvGeometry {
    /// 3×3, stride 1, one group, padding at most 2 on each side (so that dx alone is again such a
    /// convolution, padded by 2 − padding), and enough channels for the GEMMs to dominate the transforms.
    var usesWinograd: Bool {
        kh == 3 && kw == 3 && stride == 1 && groups == 1 && cin >= 8 && cout >= 8
            && [padding.top, padding.bottom, padding.left, padding.right].allSatisfy { (0...2).contains($0) }
    }
}

/// Positions in the transform domain (6×6).
private let points = 36

/// The geometry of one Winograd convolution (forward or the dX convolution).
struct WinogradGeometry {
    let n: Int, cin: Int, cout: Int
    let h: Int, w: Int
    let top: Int, left: Int
    let oh: Int, ow: Int

    var cin4: Int { (cin + 3) & ~3 }
    var cout4: Int { (cout + 3) & ~3 }
    var tilesY: Int { (oh + 3) / 4 }
    var tilesX: Int { (ow + 3) / 4 }
    var tilesPerImage: Int { tilesY * tilesX }
    var tiles: Int { n * tilesPerImage }
    /// The blocked input plane: every tile's 6×6 patch lies inside it.
    var hp: Int { tilesY * 4 + 2 }
    var wp: Int { tilesX * 4 + 2 }

    init(n: Int, cin: Int, cout: Int, h: Int, w: Int, top: Int, bottom: Int, left: Int, right: Int) {
        self.n = n; self.cin = cin; self.cout = cout; self.h = h; self.w = w
        self.top = top; self.left = left
        oh = h + top + bottom - 2
        ow = w + left + right - 2
    }

    /// Tiles per chunk: the chunk's transformed input and output (36 × tiles × (Cin4 + Cout4) floats)
    /// with one blocked plane should stay near the L2 cache (a budget of 768 KB), but GEMMs below ~32 rows
    /// waste the BLAS kernels, and each of the `parts` should get a chunk. `limit` overrides the cache
    /// bound (tests use tiny chunks to cover chunk boundaries). This machine's Zen 3 cores have 512 KB of L2
    /// each; a 384 KB budget measured no different on tinycnn's evaluation (bench/README.md, 2026-12-07).
    func chunkTiles(parts: Int, limit: Int? = nil) -> Int {
        let fit = limit ?? max(32, (768 << 10) / (points * (cin4 + cout4) * 4))
        return max(1, min(fit, (tiles + parts - 1) / parts))
    }

    /// (image, tile row, tile column) of tile `t`.
    @inline(__always) func tile(_ t: Int) -> (img: Int, ty: Int, tx: Int) {
        let (img, r) = t.quotientAndRemainder(dividingBy: tilesPerImage)
        let (ty, tx) = r.quotientAndRemainder(dividingBy: tilesX)
        return (img, ty, tx)
    }
}

// MARK: - conv2d entry points

/// x: [N, Cin, H, W], w: [Cout, Cin, 3, 3], bias: [Cout]? → y: [N, Cout, OH, OW] (relu: max(·, 0), in the
/// output transform; `residual` (y's shape, no pooling): added before the ReLU; relu and pool: y is its 2×2 max-pool,
/// [N, Cout, ⌊OH/2⌋, ⌊OW/2⌋]). `schedule` forces a
/// schedule (tests cover both, and chunk boundaries with tiny chunks). `argmax` (with `pool`): which output of each
/// window is its maximum, one byte per pooled output (`WindowArgmax`), for the backward pass.
func winogradConvForward(_ x: UnsafePointer<Float>, _ w: Storage, _ bias: UnsafePointer<Float>?,
                         _ y: UnsafeMutablePointer<Float>, _ geo: ConvGeometry, relu: Bool = false, pool: Bool = false,
                         residual: UnsafePointer<Float>? = nil, argmax: UnsafeMutablePointer<UInt8>? = nil,
                         schedule: WinogradSchedule? = nil, kernel: WinogradProductKernel? = nil) {
    let winograd = WinogradGeometry(n: geo.n, cin: geo.cin, cout: geo.cout, h: geo.h, w: geo.w, top: geo.padding.top,
                                    bottom: geo.padding.bottom, left: geo.padding.left, right: geo.padding.right)
    let u = WinogradWeightCache.shared.transformed(w, cout: geo.cout, cin: geo.cin, flipped: false)
    winogradProducts(x, u.data, bias, y, winograd, relu: relu, pool: pool, residual: residual, argmax: argmax,
                     schedule: schedule, kernel: kernel)
}

/// dy: [N, Cout, OH, OW], x: [N, Cin, H, W], weight: [Cout, Cin, 3, 3] → (dx, dW), each only when wanted.
/// Two routes, both exact:
/// - with dW (training): adjoints of the forward transforms (`winogradBackward`): dM = A dy Aᵀ
///   serves both gradients, and dx reuses the forward pass's transformed weights (a cache hit);
/// - dx alone (attacks): dx as the stride-1 convolution of dy padded by 2 − padding, with the kernel
///   rotated by 180° and its channel axes swapped, through the forward pipeline. Its transformed
///   weights differ from the forward's, but stay cached over an attack's steps, and its transforms
///   are cheaper than the adjoint's patch scatter (measured 30 % less time on smallcnn's layers).
/// Both routes' products run on `kernel` (nil: the geometry's `productKernel`; tests cover both).
func winogradConvBackward(_ dy: Tensor, _ x: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
                          wantX: Bool, wantW: Bool, schedule: WinogradSchedule? = nil,
                          kernel: WinogradProductKernel? = nil) -> (Tensor?, Tensor?) {
    let p = geo.padding
    if wantX && !wantW {
        let dxConv = WinogradGeometry(n: geo.n, cin: geo.cout, cout: geo.cin, h: geo.oh, w: geo.ow, top: 2 - p.top,
                                      bottom: 2 - p.bottom, left: 2 - p.left, right: 2 - p.right)
        let u = WinogradWeightCache.shared.transformed(weight.storage, cout: geo.cout, cin: geo.cin, flipped: true)
        let dx = Tensor(uninitializedShape: x.shape)
        winogradProducts(dy.data, u.data, nil, dx.data, dxConv, schedule: schedule, kernel: kernel)
        return (dx, nil)
    }
    let forward = WinogradGeometry(n: geo.n, cin: geo.cin, cout: geo.cout, h: geo.h, w: geo.w, top: p.top, bottom: p.bottom,
                                   left: p.left, right: p.right)
    let u = wantX ? WinogradWeightCache.shared.transformed(weight.storage, cout: geo.cout, cin: geo.cin, flipped: false) : nil
    let dx = wantX ? Tensor(uninitializedShape: x.shape) : nil
    let du = winogradBackward(x.data, dy.data, u?.data, dx?.data, forward, wantW: wantW, schedule: schedule, kernel: kernel)
    let dw = du.map { weightTransformAdjoint($0.data, parts: $0.count / (points * forward.cin4 * forward.cout4), cout: geo.cout, cin: geo.cin) }
    return (dx, dw)
}

// MARK: - Pipelines
//
// Two schedules. Chunked: each part takes a range of tiles and runs transform → 36 GEMMs →
// transform on chunks small enough to stay in L2; every chunk's GEMMs read all of U again.
// Phased: transform every tile (parallel over tiles), then the 36 GEMMs over all tiles at once
// (parallel over ξ: each part reads only its share of U, and dW needs no per-part partial
// sums), then the output transform. Deep layers have few tiles and big weights (ResNet-18's
// 512-channel 4×4 stage: U is 38 MB for 64 tiles), where re-reading U per chunk dominated;
// shallow layers have many tiles and small weights, where the chunks' cache residency wins.

/// How a Winograd convolution is scheduled (see above); nil in the entry points means "choose".
enum WinogradSchedule: Sendable {
    /// Chunks of at most `tiles` tiles (nil: sized for the cache).
    case chunked(tiles: Int?)
    case phased
}

extension WinogradGeometry {
    /// The schedule that moves less memory (`prefersPhases`) unless one is given.
    func schedule(_ requested: WinogradSchedule?, parts: Int) -> (phased: Bool, chunk: Int) {
        switch requested {
        case .phased: return (true, chunkTiles(parts: parts))
        case .chunked(let limit): return (false, chunkTiles(parts: parts, limit: limit))
        case nil:
            let chunk = chunkTiles(parts: parts)
            return (prefersPhases(chunk: chunk), chunk)
        }
    }

    /// Whether the phased schedule moves less memory: the chunked one reads U once per chunk, the
    /// phased one writes and reads the transformed data of all tiles once (capped at 128 MB).
    func prefersPhases(chunk: Int) -> Bool {
        let chunks = (tiles + chunk - 1) / chunk
        let transformed = points * tiles * (cin4 + cout4)
        return chunks * points * cin4 * cout4 > 2 * transformed && 4 * transformed <= 128 << 20
    }
}

/// y = conv(x, weights) from x: [N, Cin, H, W] and the transformed weights `[36, Cin4, Cout4]`:
/// input transform → 36 GEMMs → output transform (+ bias, + `residual`, then max(·, 0) with `relu`) into y: [N, Cout, OH, OW].
/// The GEMMs run on `kernel` (nil: the geometry's `productKernel`; tests cover both).
private func winogradProducts(_ x: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                              _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ geo: WinogradGeometry,
                              relu: Bool = false, pool: Bool = false, residual: UnsafePointer<Float>? = nil,
                              argmax: UnsafeMutablePointer<UInt8>? = nil, schedule: WinogradSchedule?,
                              kernel: WinogradProductKernel? = nil) {
    let slots = max(1, min(Compute.parts, geo.tiles))
    let (phased, chunk) = geo.schedule(schedule, parts: slots)
    let simd = (kernel ?? geo.productKernel) == .simd
    nonisolated(unsafe) let (px, pu, pbias, py, pa, pr) = (x, u, bias, y, argmax, residual)
    // M_ξ[tiles × Cout4] = V_ξ[tiles × Cin4] · U_ξ[Cin4 × Cout4]; rows of V_ξ and M_ξ are 36 positions apart.
    @inline(__always) func products(_ v: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, tiles: Int,
                                    _ positions: Range<Int>) {
        if simd {
            simdWinogradProducts(v, pu, m, tiles: tiles, cin4: geo.cin4, cout4: geo.cout4, positions: positions)
            return
        }
        for xi in positions {
            serialGEMM(v + xi * geo.cin4, pu + xi * geo.cin4 * geo.cout4, m + xi * geo.cout4,
                       m: tiles, n: geo.cout4, k: geo.cin4, lda: points * geo.cin4, ldc: points * geo.cout4)
        }
    }
    if phased {
        let scratch = Tensor(uninitializedShape: [points * geo.tiles * (geo.cin4 + geo.cout4) + slots * geo.planeFloats])
        nonisolated(unsafe) let v = scratch.data
        nonisolated(unsafe) let m = v + points * geo.tiles * geo.cin4, planes = m + points * geo.tiles * geo.cout4
        parallelSlices(geo.tiles, slots: slots) { slot, tiles in
            geo.transformInputs(px, tiles: tiles, into: v + tiles.lowerBound * points * geo.cin4, plane: planes + slot * geo.planeFloats)
        }
        parallelSlices(points, slots: slots) { _, positions in products(v, m, tiles: geo.tiles, positions) }
        parallelSlices(geo.tiles, slots: slots) { _, tiles in
            outputTransform(m + tiles.lowerBound * points * geo.cout4, geo, tiles: tiles, bias: pbias, relu: relu,
                            pool: pool, residual: pr, into: py, argmax: pa)
        }
        withExtendedLifetime(scratch) {}
        return
    }
    let perSlot = points * chunk * (geo.cin4 + geo.cout4) + geo.planeFloats
    let scratch = Tensor(uninitializedShape: [slots * perSlot])
    nonisolated(unsafe) let ps = scratch.data
    parallelSlices(geo.tiles, slots: slots) { slot, tiles in
        let v = ps + slot * perSlot, m = v + points * chunk * geo.cin4, plane = m + points * chunk * geo.cout4
        var t0 = tiles.lowerBound
        while t0 < tiles.upperBound {
            let count = min(chunk, tiles.upperBound - t0)
            geo.transformInputs(px, tiles: t0..<t0 + count, into: v, plane: plane)
            products(v, m, tiles: count, 0..<points)
            outputTransform(m, geo, tiles: t0..<t0 + count, bias: pbias, relu: relu, pool: pool, residual: pr, into: py,
                            argmax: pa)
            t0 += count
        }
    }
    withExtendedLifetime(scratch) {}
}

/// The backward pass of y = conv(x, w), as adjoints of the forward transforms:
///     dM = A dy Aᵀ                        per tile (the adjoint of the output transform),
///     dU_ξ = Σ_tiles V_ξᵀ dM_ξ             (V = Bᵀ d B of x, recomputed), → dW = Gᵀ dU G by the caller,
///     dV_ξ = dM_ξ U_ξᵀ, dx += B dV Bᵀ      scattered onto the (overlapping) 6×6 input patches.
/// dx needs no transform of its own weights (as the flipped kernel of dx seen as a convolution of dy
/// would) and shares dM with dW. Returns dU (`[parts, 36, Cin4, Cout4]`, to be summed) when `wantW`; writes
/// dx: [N, Cin, H, W] when `u` (the forward's `[36, Cin4, Cout4]`) and `dx` are given.
///
/// Overlapping patches of neighbouring tiles add into the same dx floats, so the chunked schedule
/// gives each part whole images (and accumulates an image's patches in a blocked plane until its
/// last tile); the phased one scatters per (image, channel block). The products run on `kernel` (nil: the
/// geometry's `productKernel`): BLAS GEMMs, or WinogradProducts.swift's SIMD blocks, dV reading Uᵀ.
private func winogradBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ u: UnsafePointer<Float>?,
                              _ dx: UnsafeMutablePointer<Float>?, _ geo: WinogradGeometry, wantW: Bool,
                              schedule: WinogradSchedule?, kernel: WinogradProductKernel?) -> Tensor? {
    let wantX = u != nil && dx != nil
    let simd = (kernel ?? geo.productKernel) == .simd
    let parts = Compute.parts  // of the work (tile ranges, images, dU sums): never the worker count
    let uCount = points * geo.cin4 * geo.cout4
    guard geo.tiles > 0 else { return wantW ? Tensor(zeros: [uCount]) : nil }  // an empty batch
    let plane4 = geo.hp * geo.wp * 4  // one blocked dx plane (one image, one channel block)
    // The SIMD kernel's dV = dM Uᵀ reads Uᵀ row by row.
    let transposed = wantX && simd ? u.map { transposedPositions($0, cin4: geo.cin4, cout4: geo.cout4) } : nil
    nonisolated(unsafe) let (px, pdy, pu, pdx, put) = (x, dy, u, dx, transposed?.data)
    var (phased, chunk) = geo.schedule(schedule, parts: parts)
    if schedule == nil && geo.n < parts { phased = true }  // whole images per part would leave a part empty

    // dU_ξ (+)= V_ξᵀ dM_ξ and dV_ξ = dM_ξ U_ξᵀ for `tiles` tiles of the buffers.
    @inline(__always) func products(_ xi: Int, tiles: Int, v: UnsafeMutablePointer<Float>, dm: UnsafeMutablePointer<Float>,
                                    dv: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, beta: Float) {
        if wantW && simd {
            simdWinogradWeightProducts(v, dm, du, tiles: tiles, cin4: geo.cin4, cout4: geo.cout4, positions: xi..<xi + 1,
                                       adding: beta != 0)
        } else if wantW {
            serialGEMM(v + xi * geo.cin4, dm + xi * geo.cout4, du + xi * geo.cin4 * geo.cout4, m: geo.cin4, n: geo.cout4, k: tiles,
                       beta: beta, transA: true, lda: points * geo.cin4, ldb: points * geo.cout4)
        }
        if wantX, let put {
            simdWinogradProducts(dm, put, dv, tiles: tiles, cin4: geo.cout4, cout4: geo.cin4, positions: xi..<xi + 1)
        } else if wantX, let pu {
            serialGEMM(dm + xi * geo.cout4, pu + xi * geo.cin4 * geo.cout4, dv + xi * geo.cin4, m: tiles, n: geo.cin4, k: geo.cout4,
                       transB: true, lda: points * geo.cout4, ldb: geo.cout4, ldc: points * geo.cin4)
        }
    }

    if phased {
        let t = geo.tiles
        let vCount = wantW ? points * t * geo.cin4 : 0, dvCount = wantX ? points * t * geo.cin4 : 0
        let scratch = Tensor(uninitializedShape: [vCount + points * t * geo.cout4 + dvCount + parts * max(geo.planeFloats, 2 * plane4)])
        let du = wantW ? Tensor(uninitializedShape: [uCount]) : nil
        nonisolated(unsafe) let v = scratch.data, pdu = du?.data ?? scratch.data
        nonisolated(unsafe) let dm = v + vCount
        nonisolated(unsafe) let dv = dm + points * t * geo.cout4
        nonisolated(unsafe) let planes = dv + dvCount
        let planeStride = max(geo.planeFloats, 2 * plane4)  // a pair of channel blocks' dx plane fits
        parallelSlices(t, slots: min(parts, t)) { slot, tiles in
            let plane = planes + slot * planeStride
            geo.transformOutputGradients(pdy, tiles: tiles, into: dm + tiles.lowerBound * points * geo.cout4, plane: plane)
            if wantW { geo.transformInputs(px, tiles: tiles, into: v + tiles.lowerBound * points * geo.cin4, plane: plane) }
        }
        parallelSlices(points, slots: min(parts, points)) { _, positions in
            for xi in positions { products(xi, tiles: t, v: v, dm: dm, dv: dv, du: pdu, beta: 0) }
        }
        if wantX, let pdx {
            // One job per image and pair of channel blocks (a last odd block alone).
            let blocks = geo.cin4 / 4, pairs = (blocks + 1) / 2
            parallelSlices(geo.n * pairs, slots: min(parts, geo.n * pairs)) { slot, jobs in
                let plane = planes + slot * planeStride
                for job in jobs {
                    let (img, pair) = job.quotientAndRemainder(dividingBy: pairs)
                    let cb = 2 * pair, tiles = 0..<geo.tilesPerImage
                    let src = dv + img * geo.tilesPerImage * points * geo.cin4, dst = pdx + img * geo.cin * geo.h * geo.w
                    if cb + 1 < blocks {
                        plane.update(repeating: 0, count: 2 * plane4)
                        inputTransformAdjoint8(src, geo, tiles: tiles, block: cb, into: plane)
                        unblock8(plane, geo, block: cb, into: dst)
                    } else {
                        plane.update(repeating: 0, count: plane4)
                        inputTransformAdjoint(src, geo, tiles: tiles, block: cb, into: plane)
                        unblock(plane, geo, block: cb, into: dst)
                    }
                }
            }
        }
        withExtendedLifetime((scratch, transposed)) {}
        return du
    }

    // Chunked: whole images per part; a chunk is several whole images (small planes) or part of one.
    let tpi = geo.tilesPerImage
    let perChunkImages = max(1, chunk / tpi)
    let chunkTiles = tpi <= chunk ? perChunkImages * tpi : chunk
    let slots = min(parts, geo.n)
    let vCount = wantW ? points * chunkTiles * geo.cin4 : 0, dvCount = wantX ? points * chunkTiles * geo.cin4 : 0
    let accumulators = wantX ? perChunkImages * (geo.cin4 / 4) * plane4 : 0
    let perSlot = vCount + points * chunkTiles * geo.cout4 + dvCount + geo.planeFloats + accumulators
    let scratch = Tensor(uninitializedShape: [slots * perSlot])
    let du = wantW ? Tensor(zeros: [slots * uCount]) : nil
    nonisolated(unsafe) let (ps, pdu) = (scratch.data, du?.data)
    parallelSlices(geo.n, slots: slots) { slot, images in
        let v = ps + slot * perSlot, dm = v + vCount, dv = dm + points * chunkTiles * geo.cout4
        let plane = dv + dvCount, acc = plane + geo.planeFloats
        let duSlot = pdu.map { $0 + slot * uCount } ?? ps
        // Tiles [t0, t1) of the images [first, first + count): transforms, GEMMs, dx patches.
        @inline(__always) func process(_ t0: Int, _ t1: Int, images first: Int) {
            geo.transformOutputGradients(pdy, tiles: t0..<t1, into: dm, plane: plane)
            if wantW { geo.transformInputs(px, tiles: t0..<t1, into: v, plane: plane) }
            for xi in 0..<points { products(xi, tiles: t1 - t0, v: v, dm: dm, dv: dv, du: duSlot, beta: 1) }
            if wantX {
                geo.forEachImage(in: t0..<t1) { img, local, offset in
                    geo.scatterInputGradients(dv + offset * points * geo.cin4, tiles: local,
                                              planes: acc + (img - first) * (geo.cin4 / 4) * plane4, plane4: plane4)
                }
            }
        }
        @inline(__always) func flush(_ first: Int, _ count: Int) {
            guard wantX, let pdx else { return }
            for k in 0..<count {
                geo.unblockInputGradients(acc + k * (geo.cin4 / 4) * plane4, plane4: plane4,
                                          into: pdx + (first + k) * geo.cin * geo.h * geo.w)
            }
        }
        var img = images.lowerBound
        while img < images.upperBound {
            let count = tpi <= chunk ? min(perChunkImages, images.upperBound - img) : 1
            if wantX { acc.update(repeating: 0, count: count * (geo.cin4 / 4) * plane4) }
            var t0 = img * tpi
            while t0 < (img + count) * tpi {
                let t1 = min((img + count) * tpi, t0 + chunkTiles)
                process(t0, t1, images: img)
                t0 = t1
            }
            flush(img, count)
            img += count
        }
    }
    withExtendedLifetime((scratch, transposed)) {}
    return du
}

extension WinogradGeometry {
    /// Calls `body(image, tiles of that image (image-local numbers), position of the first in the chunk)`
    /// for each image the tile range `tiles` (batch numbers) touches.
    @inline(__always)
    func forEachImage(in tiles: Range<Int>, _ body: (Int, Range<Int>, Int) -> Void) {
        var t = tiles.lowerBound
        while t < tiles.upperBound {
            let img = t / tilesPerImage, start = img * tilesPerImage
            let end = min(tiles.upperBound, start + tilesPerImage)
            body(img, (t - start)..<(end - start), t - tiles.lowerBound)
            t = end
        }
    }

    /// Rows of the blocked plane that the image-local `tiles` read, `tile` rows per tile (6 for the
    /// input patches, 4 for dy's tiles).
    @inline(__always)
    func paddedRows(_ tiles: Range<Int>, tile: Int) -> Range<Int> {
        (tiles.lowerBound / tilesX * 4)..<((tiles.upperBound - 1) / tilesX * 4 + tile)
    }
}

