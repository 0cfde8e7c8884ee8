/// Winograd F(4×4, 3×3) convolution: the kernel for 3×3, stride-1, ungrouped layers (most of
/// smallcnn's and ResNet's FLOPs).
///
/// Each 4×4 block of outputs ("tile") of one output channel is
///     y = Aᵀ [ Σ_ci (G w_ci Gᵀ) ⊙ (Bᵀ d_ci B) ] A
/// where d_ci is the 6×6 input patch under the tile. The sum over input channels at each of the 36
/// positions ξ of the 6×6 transform domain is a matrix product, so a layer becomes 36 GEMMs of
/// [tiles × Cin]·[Cin × Cout] with 36/16 = 2.25 multiply-adds per output and input channel pair,
/// against 9 for the direct method (im2col): 4× fewer. The transforms are linear in d and cost
/// O(C) per tile; they run in Swift SIMD, four channels per vector.
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
/// Layouts. Channels are processed in blocks of four, the SIMD width: a "blocked" plane stores
/// `[N, C4/4, Hp, Wp, 4]` (C4 = C rounded up to 4, missing channels and padding are zeros), so that
/// the four channels of one pixel are one vector load. Transformed data is `[tiles, 36, C4]` per
/// chunk of tiles (the GEMM for position ξ reads every 36th row) and transformed weights `[36, Cin4, Cout4]`.
/// Tiles are numbered `(image, tile row, tile column)` over the batch and processed in chunks
/// small enough for their transformed data to stay in cache; workers take contiguous tile ranges.

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
    /// with one blocked plane should stay inside a 1 MB L2 cache (768 KB), but GEMMs below ~32 rows
    /// waste the BLAS kernels, and every worker should get a chunk. `limit` overrides the cache
    /// bound (tests use tiny chunks to cover chunk boundaries).
    func chunkTiles(workers: Int, limit: Int? = nil) -> Int {
        let fit = limit ?? max(32, (768 << 10) / (points * (cin4 + cout4) * 4))
        return max(1, min(fit, (tiles + workers - 1) / workers))
    }

    /// (image, tile row, tile column) of tile `t`.
    @inline(__always) func tile(_ t: Int) -> (img: Int, ty: Int, tx: Int) {
        let (img, r) = t.quotientAndRemainder(dividingBy: tilesPerImage)
        let (ty, tx) = r.quotientAndRemainder(dividingBy: tilesX)
        return (img, ty, tx)
    }
}

// MARK: - conv2d entry points

/// x: [N, Cin, H, W], w: [Cout, Cin, 3, 3], bias: [Cout]? → y: [N, Cout, OH, OW]
/// `schedule` forces a schedule (tests cover both, and chunk boundaries with tiny chunks).
func winogradConvForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                         _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry,
                         schedule: WinogradSchedule? = nil) {
    let wg = WinogradGeometry(n: g.n, cin: g.cin, cout: g.cout, h: g.h, w: g.w, top: g.padding.top,
                              bottom: g.padding.bottom, left: g.padding.left, right: g.padding.right)
    let u = WinogradWeightCache.shared.transformed(w, cout: g.cout, cin: g.cin, flipped: false)
    winogradProducts(x, u.data, bias, y, wg, schedule: schedule)
}

/// dy: [N, Cout, OH, OW], x: [N, Cin, H, W], weight: [Cout, Cin, 3, 3] → (dx, dW), each only when wanted.
/// Two routes, both exact:
/// - with dW (training): adjoints of the forward transforms (`winogradBackward`): dM = A dy Aᵀ
///   serves both gradients, and dx reuses the forward pass's transformed weights (a cache hit);
/// - dx alone (attacks): dx as the stride-1 convolution of dy padded by 2 − padding, with the kernel
///   rotated by 180° and its channel axes swapped, through the forward pipeline. Its transformed
///   weights differ from the forward's, but stay cached over an attack's steps, and its transforms
///   are cheaper than the adjoint's patch scatter (measured 30 % less time on smallcnn's layers).
func winogradConvBackward(_ dy: Tensor, _ x: Tensor, _ weight: Tensor, _ g: ConvGeometry,
                          wantX: Bool, wantW: Bool, schedule: WinogradSchedule? = nil) -> (Tensor?, Tensor?) {
    let p = g.padding
    if wantX && !wantW {
        let dxg = WinogradGeometry(n: g.n, cin: g.cout, cout: g.cin, h: g.oh, w: g.ow, top: 2 - p.top,
                                   bottom: 2 - p.bottom, left: 2 - p.left, right: 2 - p.right)
        let u = WinogradWeightCache.shared.transformed(weight.data, cout: g.cout, cin: g.cin, flipped: true)
        let dx = Tensor(uninitializedShape: x.shape)
        winogradProducts(dy.data, u.data, nil, dx.data, dxg, schedule: schedule)
        return (dx, nil)
    }
    let fg = WinogradGeometry(n: g.n, cin: g.cin, cout: g.cout, h: g.h, w: g.w, top: p.top, bottom: p.bottom,
                              left: p.left, right: p.right)
    let u = wantX ? WinogradWeightCache.shared.transformed(weight.data, cout: g.cout, cin: g.cin, flipped: false) : nil
    let dx = wantX ? Tensor(uninitializedShape: x.shape) : nil
    let du = winogradBackward(x.data, dy.data, u?.data, dx?.data, fg, wantW: wantW, schedule: schedule)
    let dw = du.map { weightTransformAdjoint($0.data, parts: $0.count / (points * fg.cin4 * fg.cout4), cout: g.cout, cin: g.cin) }
    return (dx, dw)
}

// MARK: - Pipelines
//
// Two schedules. Chunked: each worker takes a range of tiles and runs transform → 36 GEMMs →
// transform on chunks small enough to stay in L2; every chunk's GEMMs read all of U again.
// Phased: transform every tile (parallel over tiles), then the 36 GEMMs over all tiles at once
// (parallel over ξ: each worker reads only its share of U, and dW needs no per-worker partial
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
    func schedule(_ requested: WinogradSchedule?, workers: Int) -> (phased: Bool, chunk: Int) {
        switch requested {
        case .phased: return (true, chunkTiles(workers: workers))
        case .chunked(let limit): return (false, chunkTiles(workers: workers, limit: limit))
        case nil:
            let chunk = chunkTiles(workers: workers)
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

    /// V[t, ξ, Cin4] for the (batch-numbered) `tiles`, written from `v` on (first tile at v).
    @inline(__always)
    func transformInputs(_ x: UnsafePointer<Float>, tiles: Range<Int>, into v: UnsafeMutablePointer<Float>,
                         plane: UnsafeMutablePointer<Float>) {
        forEachImage(in: tiles) { img, local, offset in
            for cb in 0..<cin4 / 4 {
                blockRows(x + img * cin * h * w, channels: cin, first: cb * 4, h: h, w: w,
                          top: top, left: left, wp: wp, rows: paddedRows(local, tile: 6), into: plane)
                inputTransform(plane, wp: wp, self, tiles: local, block: cb, into: v + offset * points * cin4)
            }
        }
    }

    /// dM[t, ξ, Cout4] = A dy Aᵀ for the `tiles` of dy: [N, Cout, OH, OW], written from `dm` on.
    @inline(__always)
    func transformOutputGradients(_ dy: UnsafePointer<Float>, tiles: Range<Int>, into dm: UnsafeMutablePointer<Float>,
                                  plane: UnsafeMutablePointer<Float>) {
        let width = 4 * tilesX  // dy's 4×4 tiles, zeros beyond OH and OW
        forEachImage(in: tiles) { img, local, offset in
            for cb in 0..<cout4 / 4 {
                blockRows(dy + img * cout * oh * ow, channels: cout, first: cb * 4, h: oh, w: ow,
                          top: 0, left: 0, wp: width, rows: paddedRows(local, tile: 4), into: plane)
                outputTransformAdjoint(plane, wp: width, self, tiles: local, block: cb, into: dm + offset * points * cout4)
            }
        }
    }

    /// Floats of one blocked plane scratch, big enough for x's and for dy's.
    var planeFloats: Int { max(hp * wp, 4 * tilesY * 4 * tilesX) * 4 }
}

/// y = conv(x, weights) from x: [N, Cin, H, W] and the transformed weights `[36, Cin4, Cout4]`:
/// input transform → 36 GEMMs → output transform (+ bias) into y: [N, Cout, OH, OW].
private func winogradProducts(_ x: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                              _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>, _ g: WinogradGeometry,
                              schedule: WinogradSchedule?) {
    let slots = max(1, min(Compute.workers, g.tiles))
    let (phased, chunk) = g.schedule(schedule, workers: slots)
    nonisolated(unsafe) let (px, pu, pbias, py) = (x, u, bias, y)
    // M_ξ[tiles × Cout4] = V_ξ[tiles × Cin4] · U_ξ[Cin4 × Cout4]; rows of V_ξ and M_ξ are 36 positions apart.
    @inline(__always) func products(_ v: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, tiles: Int, _ xi: Int) {
        sgemm(v + xi * g.cin4, pu + xi * g.cin4 * g.cout4, m + xi * g.cout4,
              m: tiles, n: g.cout4, k: g.cin4, lda: points * g.cin4, ldc: points * g.cout4)
    }
    if phased {
        let scratch = Tensor(uninitializedShape: [points * g.tiles * (g.cin4 + g.cout4) + slots * g.planeFloats])
        nonisolated(unsafe) let v = scratch.data
        nonisolated(unsafe) let m = v + points * g.tiles * g.cin4, planes = m + points * g.tiles * g.cout4
        parallelSlices(g.tiles, slots: slots) { slot, tiles in
            g.transformInputs(px, tiles: tiles, into: v + tiles.lowerBound * points * g.cin4, plane: planes + slot * g.planeFloats)
        }
        parallelSlices(points, slots: slots) { _, positions in
            for xi in positions { products(v, m, tiles: g.tiles, xi) }
        }
        parallelSlices(g.tiles, slots: slots) { _, tiles in
            outputTransform(m + tiles.lowerBound * points * g.cout4, g, tiles: tiles, bias: pbias, into: py)
        }
        withExtendedLifetime(scratch) {}
        return
    }
    let perSlot = points * chunk * (g.cin4 + g.cout4) + g.planeFloats
    let scratch = Tensor(uninitializedShape: [slots * perSlot])
    nonisolated(unsafe) let ps = scratch.data
    parallelSlices(g.tiles, slots: slots) { slot, tiles in
        let v = ps + slot * perSlot, m = v + points * chunk * g.cin4, plane = m + points * chunk * g.cout4
        var t0 = tiles.lowerBound
        while t0 < tiles.upperBound {
            let count = min(chunk, tiles.upperBound - t0)
            g.transformInputs(px, tiles: t0..<t0 + count, into: v, plane: plane)
            for xi in 0..<points { products(v, m, tiles: count, xi) }
            outputTransform(m, g, tiles: t0..<t0 + count, bias: pbias, into: py)
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
/// gives each worker whole images (and accumulates an image's patches in a blocked plane until its
/// last tile); the phased one scatters per (image, channel block).
private func winogradBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ u: UnsafePointer<Float>?,
                              _ dx: UnsafeMutablePointer<Float>?, _ g: WinogradGeometry, wantW: Bool,
                              schedule: WinogradSchedule?) -> Tensor? {
    let wantX = u != nil && dx != nil
    let workers = max(1, Compute.workers)
    let uCount = points * g.cin4 * g.cout4
    guard g.tiles > 0 else { return wantW ? Tensor(zeros: [uCount]) : nil }  // an empty batch
    let plane4 = g.hp * g.wp * 4  // one blocked dx plane (one image, one channel block)
    nonisolated(unsafe) let (px, pdy, pu, pdx) = (x, dy, u, dx)
    var (phased, chunk) = g.schedule(schedule, workers: workers)
    if schedule == nil && g.n < workers { phased = true }  // whole images per worker would idle some

    // dU_ξ (+)= V_ξᵀ dM_ξ and dV_ξ = dM_ξ U_ξᵀ for `tiles` tiles of the buffers.
    @inline(__always) func products(_ xi: Int, tiles: Int, v: UnsafeMutablePointer<Float>, dm: UnsafeMutablePointer<Float>,
                                    dv: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, beta: Float) {
        if wantW {
            sgemm(v + xi * g.cin4, dm + xi * g.cout4, du + xi * g.cin4 * g.cout4, m: g.cin4, n: g.cout4, k: tiles,
                  beta: beta, transA: true, lda: points * g.cin4, ldb: points * g.cout4)
        }
        if wantX, let pu {
            sgemm(dm + xi * g.cout4, pu + xi * g.cin4 * g.cout4, dv + xi * g.cin4, m: tiles, n: g.cin4, k: g.cout4,
                  transB: true, lda: points * g.cout4, ldb: g.cout4, ldc: points * g.cin4)
        }
    }

    if phased {
        let t = g.tiles
        let vCount = wantW ? points * t * g.cin4 : 0, dvCount = wantX ? points * t * g.cin4 : 0
        let scratch = Tensor(uninitializedShape: [vCount + points * t * g.cout4 + dvCount + workers * max(g.planeFloats, plane4)])
        let du = wantW ? Tensor(uninitializedShape: [uCount]) : nil
        nonisolated(unsafe) let v = scratch.data, pdu = du?.data ?? scratch.data
        nonisolated(unsafe) let dm = v + vCount
        nonisolated(unsafe) let dv = dm + points * t * g.cout4
        nonisolated(unsafe) let planes = dv + dvCount
        let planeStride = max(g.planeFloats, plane4)
        parallelSlices(t, slots: min(workers, t)) { slot, tiles in
            let plane = planes + slot * planeStride
            g.transformOutputGradients(pdy, tiles: tiles, into: dm + tiles.lowerBound * points * g.cout4, plane: plane)
            if wantW { g.transformInputs(px, tiles: tiles, into: v + tiles.lowerBound * points * g.cin4, plane: plane) }
        }
        parallelSlices(points, slots: min(workers, points)) { _, positions in
            for xi in positions { products(xi, tiles: t, v: v, dm: dm, dv: dv, du: pdu, beta: 0) }
        }
        if wantX, let pdx {
            let blocks = g.cin4 / 4
            parallelSlices(g.n * blocks, slots: min(workers, g.n * blocks)) { slot, jobs in
                let plane = planes + slot * planeStride
                for job in jobs {
                    let (img, cb) = job.quotientAndRemainder(dividingBy: blocks)
                    plane.update(repeating: 0, count: plane4)
                    inputTransformAdjoint(dv + img * g.tilesPerImage * points * g.cin4, g, tiles: 0..<g.tilesPerImage,
                                          block: cb, into: plane)
                    unblock(plane, g, block: cb, into: pdx + img * g.cin * g.h * g.w)
                }
            }
        }
        withExtendedLifetime(scratch) {}
        return du
    }

    // Chunked: whole images per worker; a chunk is several whole images (small planes) or part of one.
    let tpi = g.tilesPerImage
    let perChunkImages = max(1, chunk / tpi)
    let chunkTiles = tpi <= chunk ? perChunkImages * tpi : chunk
    let slots = min(workers, g.n)
    let vCount = wantW ? points * chunkTiles * g.cin4 : 0, dvCount = wantX ? points * chunkTiles * g.cin4 : 0
    let accumulators = wantX ? perChunkImages * (g.cin4 / 4) * plane4 : 0
    let perSlot = vCount + points * chunkTiles * g.cout4 + dvCount + g.planeFloats + accumulators
    let scratch = Tensor(uninitializedShape: [slots * perSlot])
    let du = wantW ? Tensor(zeros: [slots * uCount]) : nil
    nonisolated(unsafe) let (ps, pdu) = (scratch.data, du?.data)
    parallelSlices(g.n, slots: slots) { slot, images in
        let v = ps + slot * perSlot, dm = v + vCount, dv = dm + points * chunkTiles * g.cout4
        let plane = dv + dvCount, acc = plane + g.planeFloats
        let duSlot = pdu.map { $0 + slot * uCount } ?? ps
        // Tiles [t0, t1) of the images [first, first + count): transforms, GEMMs, dx patches.
        @inline(__always) func process(_ t0: Int, _ t1: Int, images first: Int) {
            g.transformOutputGradients(pdy, tiles: t0..<t1, into: dm, plane: plane)
            if wantW { g.transformInputs(px, tiles: t0..<t1, into: v, plane: plane) }
            for xi in 0..<points { products(xi, tiles: t1 - t0, v: v, dm: dm, dv: dv, du: duSlot, beta: 1) }
            if wantX {
                g.forEachImage(in: t0..<t1) { img, local, offset in
                    for cb in 0..<g.cin4 / 4 {
                        inputTransformAdjoint(dv + offset * points * g.cin4, g, tiles: local, block: cb,
                                              into: acc + ((img - first) * (g.cin4 / 4) + cb) * plane4)
                    }
                }
            }
        }
        @inline(__always) func flush(_ first: Int, _ count: Int) {
            guard wantX, let pdx else { return }
            for k in 0..<count {
                for cb in 0..<g.cin4 / 4 {
                    unblock(acc + (k * (g.cin4 / 4) + cb) * plane4, g, block: cb, into: pdx + (first + k) * g.cin * g.h * g.w)
                }
            }
        }
        var img = images.lowerBound
        while img < images.upperBound {
            let count = tpi <= chunk ? min(perChunkImages, images.upperBound - img) : 1
            if wantX { acc.update(repeating: 0, count: count * (g.cin4 / 4) * plane4) }
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
    withExtendedLifetime(scratch) {}
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

// MARK: - Blocked planes

/// Rows `rows` of the blocked plane `dst` [·, wp, 4]: channels first…first+3 of one image
/// src: [channels, h, w], placed at (top, left), zeros everywhere else (padding, the right and
/// bottom margins, channels beyond `channels`). Small enough to stay in L1 while its tiles are
/// transformed.
@inline(__always)
private func blockRows(_ src: UnsafePointer<Float>, channels: Int, first: Int, h: Int, w: Int,
                       top: Int, left: Int, wp: Int, rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
    let lanes = min(4, channels - first), plane = h * w
    let c0 = src + first * plane
    for pr in rows {
        let row = dst + pr * wp * 4, r = pr - top
        guard r >= 0 && r < h else { row.update(repeating: 0, count: wp * 4); continue }
        row.update(repeating: 0, count: left * 4)
        (row + (left + w) * 4).update(repeating: 0, count: (wp - left - w) * 4)
        let out = UnsafeMutableRawPointer(row + left * 4)
        let s0 = c0 + r * w
        if lanes == 4 {
            let (s1, s2, s3) = (s0 + plane, s0 + 2 * plane, s0 + 3 * plane)
            var col = 0
            while col + 4 <= w {  // four pixels of four channels: one 4×4 transpose
                let t = transpose(load4(s0, col), load4(s1, col), load4(s2, col), load4(s3, col))
                out.storeBytes(of: t.0, toByteOffset: col * 16, as: Float4.self)
                out.storeBytes(of: t.1, toByteOffset: col * 16 + 16, as: Float4.self)
                out.storeBytes(of: t.2, toByteOffset: col * 16 + 32, as: Float4.self)
                out.storeBytes(of: t.3, toByteOffset: col * 16 + 48, as: Float4.self)
                col += 4
            }
            while col < w {
                out.storeBytes(of: Float4(s0[col], s1[col], s2[col], s3[col]), toByteOffset: col * 16, as: Float4.self)
                col += 1
            }
        } else {  // the last block of a channel count that is not a multiple of 4: zeros beyond
            for col in 0..<w {
                var v = Float4()
                for l in 0..<lanes { v[l] = s0[l * plane + col] }
                out.storeBytes(of: v, toByteOffset: col * 16, as: Float4.self)
            }
        }
    }
}

// MARK: - Transforms (four channels per vector)

@inline(__always)
private func load4(_ p: UnsafePointer<Float>, _ offset: Int) -> Float4 {
    UnsafeRawPointer(p + offset).loadUnaligned(as: Float4.self)
}
@inline(__always)
private func store4(_ v: Float4, _ p: UnsafeMutablePointer<Float>, _ offset: Int) {
    UnsafeMutableRawPointer(p + offset).storeBytes(of: v, as: Float4.self)
}

/// The 4×4 transpose of the rows a, b, c, d, built from half-vector moves and even/odd selections
/// (register shuffles). Spelled lane by lane, `Float4(a[0], b[0], …)`, it made the compiler
/// compute the transposed results one scalar at a time (the output transform ran 2× slower).
@inline(__always)
private func transpose(_ a: Float4, _ b: Float4, _ c: Float4, _ d: Float4) -> (Float4, Float4, Float4, Float4) {
    let (ab01, ab23) = (Float4(lowHalf: a.lowHalf, highHalf: b.lowHalf), Float4(lowHalf: a.highHalf, highHalf: b.highHalf))
    let (cd01, cd23) = (Float4(lowHalf: c.lowHalf, highHalf: d.lowHalf), Float4(lowHalf: c.highHalf, highHalf: d.highHalf))
    return (Float4(lowHalf: ab01.evenHalf, highHalf: cd01.evenHalf), Float4(lowHalf: ab01.oddHalf, highHalf: cd01.oddHalf),
            Float4(lowHalf: ab23.evenHalf, highHalf: cd23.evenHalf), Float4(lowHalf: ab23.oddHalf, highHalf: cd23.oddHalf))
}

/// (Bᵀ d)_k for one column d of the 6×6 input patch.
@inline(__always)
private func inputRows(_ d0: Float4, _ d1: Float4, _ d2: Float4, _ d3: Float4, _ d4: Float4, _ d5: Float4)
    -> (Float4, Float4, Float4, Float4, Float4, Float4) {
    let v0: Float4 = d0 - 1.5 * d1 - 2 * d2 + 1.5 * d3 + d4
    let v1: Float4 = 0.5 * d2 + 2.5 * d3 + d4 - d1
    let v2: Float4 = d1 - 2.5 * d2 + 0.5 * d3 + d4
    let v3: Float4 = 2 * (d3 - d1) + (d4 - d2)
    let v4: Float4 = 0.5 * (d1 - d3) + (d4 - d2)
    let v5: Float4 = d1 - 1.5 * d2 - 2 * d3 + 1.5 * d4 + d5
    return (v0, v1, v2, v3, v4, v5)
}

/// (B v)_i: the adjoint of `inputRows`.
@inline(__always)
private func inputRowsAdjoint(_ v0: Float4, _ v1: Float4, _ v2: Float4, _ v3: Float4, _ v4: Float4, _ v5: Float4)
    -> (Float4, Float4, Float4, Float4, Float4, Float4) {
    let d1: Float4 = (v2 - v1 + v5) + 0.5 * v4 - 1.5 * v0 - 2 * v3
    let d2: Float4 = 0.5 * v1 - 2 * v0 - 2.5 * v2 - (v3 + v4) - 1.5 * v5
    let d3: Float4 = 1.5 * v0 + 2.5 * v1 + 0.5 * v2 + 2 * v3 - 0.5 * v4 - 2 * v5
    let d4: Float4 = (v0 + v1) + (v2 + v3) + v4 + 1.5 * v5
    return (v0, d1, d2, d3, d4, v5)
}

/// (Aᵀ m)_r for one column m of the 6×6 product.
@inline(__always)
private func outputRows(_ m0: Float4, _ m1: Float4, _ m2: Float4, _ m3: Float4, _ m4: Float4, _ m5: Float4)
    -> (Float4, Float4, Float4, Float4) {
    let (d12, s12) = (m1 - m2, m1 + m2)
    let y0: Float4 = m0 + s12 + m3 + m4
    let y1: Float4 = d12 + 0.5 * m3 - 2 * m4
    let y2: Float4 = s12 + 0.25 * m3 + 4 * m4
    let y3: Float4 = d12 + 0.125 * m3 - 8 * m4 + m5
    return (y0, y1, y2, y3)
}

/// (A y)_k: the adjoint of `outputRows`.
@inline(__always)
private func outputRowsAdjoint(_ y0: Float4, _ y1: Float4, _ y2: Float4, _ y3: Float4)
    -> (Float4, Float4, Float4, Float4, Float4, Float4) {
    let (s02, s13) = (y0 + y2, y1 + y3)
    let m3: Float4 = y0 + 0.5 * y1 + 0.25 * y2 + 0.125 * y3
    let m4: Float4 = y0 - 2 * y1 + 4 * y2 - 8 * y3
    return (y0, s02 + s13, s02 - s13, m3, m4, y3)
}

/// (G w)_j for one column w of the 3×3 kernel.
@inline(__always)
private func kernelRows(_ w0: Float4, _ w1: Float4, _ w2: Float4) -> (Float4, Float4, Float4, Float4, Float4, Float4) {
    let third: Float = 1.0 / 3, fifteenth: Float = 1.0 / 15
    let u1: Float4 = (w0 + w1 + w2) * third
    let u2: Float4 = (w1 - w0 - w2) * third
    let u3: Float4 = (16 * w0 + 8 * w1 + 4 * w2) * -fifteenth
    let u4: Float4 = (w0 - 2 * w1 + 4 * w2) * fifteenth
    return (w0, u1, u2, u3, u4, w2)
}

/// (Gᵀ u)_k: the adjoint of `kernelRows`.
@inline(__always)
private func kernelRowsAdjoint(_ u0: Float4, _ u1: Float4, _ u2: Float4, _ u3: Float4, _ u4: Float4, _ u5: Float4)
    -> (Float4, Float4, Float4) {
    let third: Float = 1.0 / 3, fifteenth: Float = 1.0 / 15
    let w0: Float4 = u0 + (u1 - u2) * third + (u4 - 16 * u3) * fifteenth
    let w1: Float4 = (u1 + u2) * third - (8 * u3 + 2 * u4) * fifteenth
    let w2: Float4 = (u1 - u2) * third + (4 * u4 - 4 * u3) * fifteenth + u5
    return (w0, w1, w2)
}

/// V[i, ξ, 4·block…4·block+3] = (Bᵀ d B)[ξ] for the i-th of the image-local `tiles`, from the
/// blocked plane [·, wp, 4] of that channel block. V is [tiles, 36, Cin4]: one tile's 36 vectors
/// per channel block land in one small block of memory.
@inline(__always)
private func inputTransform(_ plane: UnsafePointer<Float>, wp: Int, _ g: WinogradGeometry, tiles: Range<Int>,
                            block: Int, into v: UnsafeMutablePointer<Float>) {
    let row = wp * 4, slice = g.cin4
    withUnsafeTemporaryAllocation(of: Float4.self, capacity: points) { tmp in
        for t in tiles {
            let (ty, tx) = t.quotientAndRemainder(dividingBy: g.tilesX)
            let p = plane + ty * 4 * row + tx * 16
            for j in 0..<6 {  // columns: Bᵀ d
                let c = p + j * 4
                let r = inputRows(load4(c, 0), load4(c, row), load4(c, 2 * row), load4(c, 3 * row),
                                  load4(c, 4 * row), load4(c, 5 * row))
                tmp[j] = r.0; tmp[6 + j] = r.1; tmp[12 + j] = r.2; tmp[18 + j] = r.3; tmp[24 + j] = r.4; tmp[30 + j] = r.5
            }
            let out = v + (t - tiles.lowerBound) * points * g.cin4 + block * 4
            for k in 0..<6 {  // rows: (Bᵀ d) B
                let r = inputRows(tmp[6 * k], tmp[6 * k + 1], tmp[6 * k + 2], tmp[6 * k + 3], tmp[6 * k + 4], tmp[6 * k + 5])
                let o = out + 6 * k * slice
                store4(r.0, o, 0); store4(r.1, o, slice); store4(r.2, o, 2 * slice)
                store4(r.3, o, 3 * slice); store4(r.4, o, 4 * slice); store4(r.5, o, 5 * slice)
            }
        }
    }
}

/// plane[4·ty + i, 4·tx + j] += (B dV Bᵀ)[i, j] for the i-th of the image-local `tiles` (channel
/// block `block`, lanes = channels): the adjoint of `inputTransform`, accumulated into the blocked
/// plane [hp, wp, 4] of one image, where neighbouring patches overlap by two rows or columns.
/// dV is [tiles, 36, Cin4] from the first of `tiles`.
@inline(__always)
private func inputTransformAdjoint(_ dv: UnsafePointer<Float>, _ g: WinogradGeometry, tiles: Range<Int>, block: Int,
                                   into plane: UnsafeMutablePointer<Float>) {
    let row = g.wp * 4, slice = g.cin4
    withUnsafeTemporaryAllocation(of: Float4.self, capacity: points) { tmp in
        var (ty, tx) = tiles.lowerBound.quotientAndRemainder(dividingBy: g.tilesX)
        for t in tiles {
            let src = dv + (t - tiles.lowerBound) * points * g.cin4 + block * 4
            for k in 0..<6 {  // rows: dV Bᵀ
                let o = src + 6 * k * slice
                let r = inputRowsAdjoint(load4(o, 0), load4(o, slice), load4(o, 2 * slice), load4(o, 3 * slice),
                                         load4(o, 4 * slice), load4(o, 5 * slice))
                tmp[6 * k] = r.0; tmp[6 * k + 1] = r.1; tmp[6 * k + 2] = r.2
                tmp[6 * k + 3] = r.3; tmp[6 * k + 4] = r.4; tmp[6 * k + 5] = r.5
            }
            let p = plane + ty * 4 * row + tx * 16
            for j in 0..<6 {  // columns: B (dV Bᵀ), added onto the patch
                let r = inputRowsAdjoint(tmp[j], tmp[6 + j], tmp[12 + j], tmp[18 + j], tmp[24 + j], tmp[30 + j])
                let c = p + j * 4
                store4(load4(c, 0) + r.0, c, 0); store4(load4(c, row) + r.1, c, row)
                store4(load4(c, 2 * row) + r.2, c, 2 * row); store4(load4(c, 3 * row) + r.3, c, 3 * row)
                store4(load4(c, 4 * row) + r.4, c, 4 * row); store4(load4(c, 5 * row) + r.5, c, 5 * row)
            }
            tx += 1
            if tx == g.tilesX { (ty, tx) = (ty + 1, 0) }
        }
    }
}

/// dx[cb·4 + l, r, c] = plane[top + r, left + c, l] for one image: the blocked plane's data region
/// back to [Cin, H, W] (the padding rows and columns hold gradients of zeros and are dropped).
@inline(__always)
private func unblock(_ plane: UnsafePointer<Float>, _ g: WinogradGeometry, block: Int, into dx: UnsafeMutablePointer<Float>) {
    let lanes = min(4, g.cin - block * 4), hw = g.h * g.w
    let first = dx + block * 4 * hw
    for r in 0..<g.h {
        let src = plane + ((g.top + r) * g.wp + g.left) * 4, d0 = first + r * g.w
        var c = 0
        if lanes == 4 {
            while c + 4 <= g.w {  // four pixels of four channels: one 4×4 transpose
                let t = transpose(load4(src, 4 * c), load4(src, 4 * c + 4), load4(src, 4 * c + 8), load4(src, 4 * c + 12))
                store4(t.0, d0, c); store4(t.1, d0 + hw, c); store4(t.2, d0 + 2 * hw, c); store4(t.3, d0 + 3 * hw, c)
                c += 4
            }
        }
        while c < g.w {
            for l in 0..<lanes { d0[l * hw + c] = src[4 * c + l] }
            c += 1
        }
    }
}

/// y[n, co, 4·ty + r, 4·tx + c] = (Aᵀ M A)[r, c] (+ bias) for every tile t and output channel,
/// clipped at the right and bottom edges. M is [tiles, 36, Cout4].
private func outputTransform(_ m: UnsafePointer<Float>, _ g: WinogradGeometry, tiles: Range<Int>,
                             bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
    let blocks = g.cout4 / 4, slice = g.cout4, plane = g.oh * g.ow
    // tmp[0..<24]: Aᵀ M (4 rows × 6); tmp[24..<40]: the 4×4 outputs, lanes = channels.
    withUnsafeTemporaryAllocation(of: Float4.self, capacity: 40) { tmp in
        let out = tmp.baseAddress! + 24
        for t in tiles {
            let (img, ty, tx) = g.tile(t)
            let src = m + (t - tiles.lowerBound) * points * g.cout4
            let (rows, cols) = (min(4, g.oh - 4 * ty), min(4, g.ow - 4 * tx))
            for cb in 0..<blocks {
                let p = src + cb * 4
                for l in 0..<6 {  // columns: Aᵀ M
                    let r = outputRows(load4(p, l * slice), load4(p, (6 + l) * slice), load4(p, (12 + l) * slice),
                                       load4(p, (18 + l) * slice), load4(p, (24 + l) * slice), load4(p, (30 + l) * slice))
                    tmp[l] = r.0; tmp[6 + l] = r.1; tmp[12 + l] = r.2; tmp[18 + l] = r.3
                }
                var b = Float4()
                let lanes = min(4, g.cout - cb * 4)
                if let bias { for l in 0..<lanes { b[l] = bias[cb * 4 + l] } }
                for r in 0..<4 {  // rows: (Aᵀ M) A, all four even where the tile is clipped
                    let o = outputRows(tmp[6 * r], tmp[6 * r + 1], tmp[6 * r + 2], tmp[6 * r + 3], tmp[6 * r + 4], tmp[6 * r + 5])
                    out[4 * r] = o.0 + b; out[4 * r + 1] = o.1 + b; out[4 * r + 2] = o.2 + b; out[4 * r + 3] = o.3 + b
                }
                // Keeping the outputs in memory until here matters: transposing them straight from
                // registers made the compiler compute the second pass one lane at a time (2× slower).
                let dst = y + (img * g.cout + cb * 4) * plane + 4 * ty * g.ow + 4 * tx
                if lanes == 4 && cols == 4 {
                    for r in 0..<rows {  // pixels c = 0…3 with lanes = channels → one vector per channel
                        let t = transpose(out[4 * r], out[4 * r + 1], out[4 * r + 2], out[4 * r + 3])
                        let d = dst + r * g.ow
                        store4(t.0, d, 0); store4(t.1, d, plane); store4(t.2, d, 2 * plane); store4(t.3, d, 3 * plane)
                    }
                } else {
                    let f = UnsafeRawPointer(out).assumingMemoryBound(to: Float.self)
                    for r in 0..<rows {
                        for l in 0..<lanes { for c in 0..<cols { dst[l * plane + r * g.ow + c] = f[(4 * r + c) * 4 + l] } }
                    }
                }
            }
        }
    }
}

/// dM[i, ξ, 4·block…4·block+3] = (A dy Aᵀ)[ξ] for the i-th of the image-local `tiles`, from the
/// blocked dy plane [·, wp, 4] of that channel block (zero beyond OH, OW). dM is [tiles, 36, Cout4].
@inline(__always)
private func outputTransformAdjoint(_ plane: UnsafePointer<Float>, wp: Int, _ g: WinogradGeometry, tiles: Range<Int>,
                                    block: Int, into dm: UnsafeMutablePointer<Float>) {
    let row = wp * 4, slice = g.cout4
    withUnsafeTemporaryAllocation(of: Float4.self, capacity: 24) { tmp in
        for t in tiles {
            let (ty, tx) = t.quotientAndRemainder(dividingBy: g.tilesX)
            let p = plane + ty * 4 * row + tx * 16
            for c in 0..<4 {  // columns: A dy
                let q = p + c * 4
                let r = outputRowsAdjoint(load4(q, 0), load4(q, row), load4(q, 2 * row), load4(q, 3 * row))
                tmp[c] = r.0; tmp[4 + c] = r.1; tmp[8 + c] = r.2; tmp[12 + c] = r.3; tmp[16 + c] = r.4; tmp[20 + c] = r.5
            }
            let out = dm + (t - tiles.lowerBound) * points * g.cout4 + block * 4
            for k in 0..<6 {  // rows: (A dy) Aᵀ
                let r = outputRowsAdjoint(tmp[4 * k], tmp[4 * k + 1], tmp[4 * k + 2], tmp[4 * k + 3])
                let o = out + 6 * k * slice
                store4(r.0, o, 0); store4(r.1, o, slice); store4(r.2, o, 2 * slice)
                store4(r.3, o, 3 * slice); store4(r.4, o, 4 * slice); store4(r.5, o, 5 * slice)
            }
        }
    }
}

/// U[ξ, i, o] = (G w_{o,i} Gᵀ)[ξ] for w: [Cout, Cin, 3, 3], as `[36, Cin4, Cout4]` (zeros for the
/// padding channels). `flipped`: the kernel of the dX convolution instead, whose input channels
/// are w's outputs and whose taps are rotated by 180°: w′[i, o, r, c] = w[o, i, 2 − r, 2 − c]
/// (then the result is `[36, Cout4, Cin4]`).
func transformWeights(_ w: UnsafePointer<Float>, cout: Int, cin: Int, flipped: Bool) -> Tensor {
    // Channels of the convolution being transformed.
    let (outs, ins) = flipped ? (cin, cout) : (cout, cin)
    let (outs4, ins4) = ((outs + 3) & ~3, (ins + 3) & ~3)
    // Stage the kernels as K[i, tap, o] (o padded to outs4 with zeros), so that the taps of four
    // consecutive output channels are one vector load. Gathering them straight from w, whose
    // kernels of one output channel are 9·Cin floats apart, missed cache and TLB on every load.
    let staged = Tensor(uninitializedShape: [ins * 9 * outs4])
    nonisolated(unsafe) let (pw, pk) = (w, staged.data)
    if flipped {
        // K[co, tap, ci] = w[co, ci, tap]: one [Cin × 9] → [9 × Cin] transpose per co (the 180°
        // rotation is applied when reading taps below).
        parallelFor(cout, grain: max(1, elementwiseGrain / max(1, 9 * cin))) { range in
            for co in range { transposeMatrix(pw + co * cin * 9, rows: cin, cols: 9, into: pk + co * 9 * outs4, ld: outs4) }
        }
    } else {
        // K[ci·9 + tap, co] = w[co, ci·9 + tap]: w as a [Cout × 9·Cin] matrix, transposed, by row blocks.
        let cols = 9 * cin
        parallelFor(cout / 4, grain: max(1, elementwiseGrain / max(1, 4 * cols))) { range in
            let rows = range.lowerBound * 4..<(range.upperBound == cout / 4 ? cout : range.upperBound * 4)
            transposeMatrix(pw + rows.lowerBound * cols, rows: rows.count, cols: cols, into: pk + rows.lowerBound, ld: outs4)
        }
        if cout < 4 { transposeMatrix(pw, rows: cout, cols: cols, into: pk, ld: outs4) }
    }
    if outs4 > outs { for r in 0..<ins * 9 { (pk + r * outs4 + outs).update(repeating: 0, count: outs4 - outs) } }

    let u = Tensor(uninitializedShape: [points * ins4 * outs4])
    let pu = u.data
    let slice = ins4 * outs4
    for xi in 0..<points { (pu + xi * slice + ins * outs4).update(repeating: 0, count: (ins4 - ins) * outs4) }
    parallelFor(ins, grain: max(1, elementwiseGrain / max(1, 36 * outs4))) { range in
        withUnsafeTemporaryAllocation(of: Float4.self, capacity: 18) { tmp in
            for i in range {
                let k = UnsafePointer(pk + i * 9 * outs4)
                for ob in stride(from: 0, to: outs4, by: 4) {
                    @inline(__always) func tap(_ r: Int, _ c: Int) -> Float4 {
                        load4(k, (flipped ? 8 - (r * 3 + c) : r * 3 + c) * outs4 + ob)
                    }
                    for c in 0..<3 {  // columns: G w
                        let v = kernelRows(tap(0, c), tap(1, c), tap(2, c))
                        tmp[c] = v.0; tmp[3 + c] = v.1; tmp[6 + c] = v.2; tmp[9 + c] = v.3; tmp[12 + c] = v.4; tmp[15 + c] = v.5
                    }
                    for j in 0..<6 {  // rows: (G w) Gᵀ
                        let v = kernelRows(tmp[3 * j], tmp[3 * j + 1], tmp[3 * j + 2])
                        let o = pu + 6 * j * slice + i * outs4 + ob
                        store4(v.0, o, 0); store4(v.1, o, slice); store4(v.2, o, 2 * slice)
                        store4(v.3, o, 3 * slice); store4(v.4, o, 4 * slice); store4(v.5, o, 5 * slice)
                    }
                }
            }
        }
    }
    withExtendedLifetime(staged) {}
    return u
}

/// dst[c·ld + r] = src[r·cols + c] for a rows × cols row-major matrix (dst rows are `ld` apart),
/// in 4×4 blocks: four vector loads, one register transpose, four vector stores.
private func transposeMatrix(_ src: UnsafePointer<Float>, rows: Int, cols: Int,
                             into dst: UnsafeMutablePointer<Float>, ld: Int) {
    var r = 0
    while r + 4 <= rows {
        let (s0, s1, s2, s3) = (src + r * cols, src + (r + 1) * cols, src + (r + 2) * cols, src + (r + 3) * cols)
        var c = 0
        while c + 4 <= cols {
            let t = transpose(load4(s0, c), load4(s1, c), load4(s2, c), load4(s3, c))
            store4(t.0, dst + c * ld + r, 0); store4(t.1, dst + (c + 1) * ld + r, 0)
            store4(t.2, dst + (c + 2) * ld + r, 0); store4(t.3, dst + (c + 3) * ld + r, 0)
            c += 4
        }
        while c < cols { store4(Float4(s0[c], s1[c], s2[c], s3[c]), dst + c * ld + r, 0); c += 1 }
        r += 4
    }
    while r < rows {
        for c in 0..<cols { dst[c * ld + r] = src[r * cols + c] }
        r += 1
    }
}

/// dW[o, i, r, c] = (Gᵀ dU_{i,o} G)[r, c] with dU = Σ over the `parts` partial sums `[parts, 36, Cin4, Cout4]`.
private func weightTransformAdjoint(_ du: UnsafePointer<Float>, parts: Int, cout: Int, cin: Int) -> Tensor {
    let (cout4, cin4) = ((cout + 3) & ~3, (cin + 3) & ~3)
    let slice = cin4 * cout4, partStride = points * slice
    let dw = Tensor(uninitializedShape: [cout, cin, 3, 3])
    nonisolated(unsafe) let (pdu, pdw) = (du, dw.data)
    parallelFor(cin, grain: max(1, elementwiseGrain / max(1, 36 * cout4 * parts))) { range in
        withUnsafeTemporaryAllocation(of: Float4.self, capacity: 18) { tmp in
            for i in range {
                var ob = 0
                while ob < cout {
                    @inline(__always) func at(_ xi: Int) -> Float4 {
                        var s = load4(pdu, xi * slice + i * cout4 + ob)
                        for part in 1..<max(parts, 1) { s += load4(pdu, part * partStride + xi * slice + i * cout4 + ob) }
                        return s
                    }
                    for l in 0..<6 {  // columns: Gᵀ dU
                        let k = kernelRowsAdjoint(at(l), at(6 + l), at(12 + l), at(18 + l), at(24 + l), at(30 + l))
                        tmp[l] = k.0; tmp[6 + l] = k.1; tmp[12 + l] = k.2
                    }
                    for r in 0..<3 {  // rows: (Gᵀ dU) G
                        let k = kernelRowsAdjoint(tmp[6 * r], tmp[6 * r + 1], tmp[6 * r + 2], tmp[6 * r + 3],
                                                  tmp[6 * r + 4], tmp[6 * r + 5])
                        for l in 0..<min(4, cout - ob) {
                            let base = pdw + (((ob + l) * cin + i) * 3 + r) * 3
                            base[0] = k.0[l]; base[1] = k.1[l]; base[2] = k.2[l]
                        }
                    }
                    ob += 4
                }
            }
        }
    }
    return dw
}
