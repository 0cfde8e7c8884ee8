/// The data transforms of the Winograd F(4×4, 3×3) convolution eight channels per SIMD vector: two
/// of the four-channel blocks of WinogradTransforms.swift at once, so that a build with AVX2
/// (`make build` on a machine that has it) fills its 256-bit registers. The per-lane arithmetic is
/// that of the four-channel transforms, term for term and in the same order, so the results are bit for
/// bit theirs (`eightChannelTransformsEqualFourChannelOnes`); those remain the reference and take
/// the last block of a channel count whose blocks are odd in number (4, 12, 20 … channels).
///
/// Layouts: the GEMMs' [tiles, 36, C4] is unchanged (a pair of blocks is 8 consecutive floats of
/// it); a pair's blocked plane is [·, wp, 8], the size of the two four-channel planes it replaces.

typealias Float8 = SIMD8<Float>

/// Positions in the transform domain (6×6), as in Winograd.swift.
private let points = 36

extension WinogradGeometry {
    /// V[t, ξ, Cin4] for the (batch-numbered) `tiles`, written from `v` on (first tile at v); channel
    /// blocks in pairs, a last odd one alone.
    @inline(__always)
    func transformInputs(_ x: UnsafePointer<Float>, tiles: Range<Int>, into v: UnsafeMutablePointer<Float>,
                         plane: UnsafeMutablePointer<Float>) {
        let blocks = cin4 / 4
        forEachImage(in: tiles) { img, local, offset in
            let image = x + img * cin * h * w, rows = paddedRows(local, tile: 6), out = v + offset * points * cin4
            var cb = 0
            while cb + 2 <= blocks {
                blockRows8(image, channels: cin, first: cb * 4, h: h, w: w, top: top, left: left, wp: wp, rows: rows, into: plane)
                inputTransform8(plane, wp: wp, self, tiles: local, block: cb, into: out)
                cb += 2
            }
            if cb < blocks {
                blockRows(image, channels: cin, first: cb * 4, h: h, w: w, top: top, left: left, wp: wp, rows: rows, into: plane)
                inputTransform(plane, wp: wp, self, tiles: local, block: cb, into: out)
            }
        }
    }

    /// dM[t, ξ, Cout4] = A dy Aᵀ for the `tiles` of dy: [N, Cout, OH, OW], written from `dm` on.
    @inline(__always)
    func transformOutputGradients(_ dy: UnsafePointer<Float>, tiles: Range<Int>, into dm: UnsafeMutablePointer<Float>,
                                  plane: UnsafeMutablePointer<Float>) {
        let width = 4 * tilesX  // dy's 4×4 tiles, zeros beyond OH and OW
        let blocks = cout4 / 4
        forEachImage(in: tiles) { img, local, offset in
            let image = dy + img * cout * oh * ow, rows = paddedRows(local, tile: 4), out = dm + offset * points * cout4
            var cb = 0
            while cb + 2 <= blocks {
                blockRows8(image, channels: cout, first: cb * 4, h: oh, w: ow, top: 0, left: 0, wp: width, rows: rows, into: plane)
                outputTransformAdjoint8(plane, wp: width, self, tiles: local, block: cb, into: out)
                cb += 2
            }
            if cb < blocks {
                blockRows(image, channels: cout, first: cb * 4, h: oh, w: ow, top: 0, left: 0, wp: width, rows: rows, into: plane)
                outputTransformAdjoint(plane, wp: width, self, tiles: local, block: cb, into: out)
            }
        }
    }

    /// Floats of one blocked plane scratch (a pair's, [·, wp, 8]), big enough for x's and for dy's.
    var planeFloats: Int { max(hp * wp, 4 * tilesY * 4 * tilesX) * 8 }

    /// B dV Bᵀ of the image-local `tiles` of one image, added onto their (overlapping) input patches in
    /// the blocked planes from `planes` on: one per channel block, `plane4` = hp·wp·4 floats apart, a
    /// pair's plane [hp, wp, 8] spanning two. dV is [tiles, 36, Cin4] from the first of `tiles`.
    @inline(__always)
    func scatterInputGradients(_ dv: UnsafePointer<Float>, tiles: Range<Int>, planes: UnsafeMutablePointer<Float>,
                               plane4: Int) {
        let blocks = cin4 / 4
        var cb = 0
        while cb + 2 <= blocks {
            inputTransformAdjoint8(dv, self, tiles: tiles, block: cb, into: planes + cb * plane4)
            cb += 2
        }
        if cb < blocks { inputTransformAdjoint(dv, self, tiles: tiles, block: cb, into: planes + cb * plane4) }
    }

    /// The planes of `scatterInputGradients` (one image) into dx: [Cin, H, W] of that image.
    @inline(__always)
    func unblockInputGradients(_ planes: UnsafePointer<Float>, plane4: Int, into dx: UnsafeMutablePointer<Float>) {
        let blocks = cin4 / 4
        var cb = 0
        while cb + 2 <= blocks {
            unblock8(planes + cb * plane4, self, block: cb, into: dx)
            cb += 2
        }
        if cb < blocks { unblock(planes + cb * plane4, self, block: cb, into: dx) }
    }
}

// MARK: - Blocked planes, eight channels

/// Rows `rows` of the blocked plane `dst` [·, wp, 8]: channels first…first+7 of one image
/// src: [channels, h, w], placed at (top, left), zeros everywhere else (as `blockRows`).
@inline(__always)
func blockRows8(_ src: UnsafePointer<Float>, channels: Int, first: Int, h: Int, w: Int,
                top: Int, left: Int, wp: Int, rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
    let lanes = min(8, channels - first), plane = h * w
    let c0 = src + first * plane
    for pr in rows {
        let row = dst + pr * wp * 8, r = pr - top
        guard r >= 0 && r < h else { row.update(repeating: 0, count: wp * 8); continue }
        row.update(repeating: 0, count: left * 8)
        (row + (left + w) * 8).update(repeating: 0, count: (wp - left - w) * 8)
        let out = row + left * 8
        let s0 = c0 + r * w
        if lanes == 8 {
            let (s1, s2, s3) = (s0 + plane, s0 + 2 * plane, s0 + 3 * plane)
            let (s4, s5, s6, s7) = (s0 + 4 * plane, s0 + 5 * plane, s0 + 6 * plane, s0 + 7 * plane)
            var col = 0
            while col + 4 <= w {  // four pixels of eight channels: two 4×4 transposes, interleaved
                let a = transpose4x4(load4(s0, col), load4(s1, col), load4(s2, col), load4(s3, col))
                let b = transpose4x4(load4(s4, col), load4(s5, col), load4(s6, col), load4(s7, col))
                let o = out + col * 8
                store4(a.0, o, 0); store4(b.0, o, 4); store4(a.1, o, 8); store4(b.1, o, 12)
                store4(a.2, o, 16); store4(b.2, o, 20); store4(a.3, o, 24); store4(b.3, o, 28)
                col += 4
            }
            while col < w {
                store8(Float8(s0[col], s1[col], s2[col], s3[col], s4[col], s5[col], s6[col], s7[col]), out, col * 8)
                col += 1
            }
        } else {  // the last pair of a channel count that is not a multiple of 8: zeros beyond
            for col in 0..<w {
                var v = Float8()
                for l in 0..<lanes { v[l] = s0[l * plane + col] }
                store8(v, out, col * 8)
            }
        }
    }
}

/// dx[cb·4 + l, r, c] = plane[top + r, left + c, l] for l in 0..<8: `unblock` for a pair's plane [hp, wp, 8].
@inline(__always)
func unblock8(_ plane: UnsafePointer<Float>, _ geo: WinogradGeometry, block: Int, into dx: UnsafeMutablePointer<Float>) {
    let lanes = min(8, geo.cin - block * 4), hw = geo.h * geo.w
    let first = dx + block * 4 * hw
    for r in 0..<geo.h {
        let src = plane + ((geo.top + r) * geo.wp + geo.left) * 8, d0 = first + r * geo.w
        var c = 0
        if lanes == 8 {
            let d4 = d0 + 4 * hw
            while c + 4 <= geo.w {  // four pixels of eight channels: two 4×4 transposes
                let s = src + 8 * c
                let a = transpose4x4(load4(s, 0), load4(s, 8), load4(s, 16), load4(s, 24))
                let b = transpose4x4(load4(s, 4), load4(s, 12), load4(s, 20), load4(s, 28))
                store4(a.0, d0, c); store4(a.1, d0 + hw, c); store4(a.2, d0 + 2 * hw, c); store4(a.3, d0 + 3 * hw, c)
                store4(b.0, d4, c); store4(b.1, d4 + hw, c); store4(b.2, d4 + 2 * hw, c); store4(b.3, d4 + 3 * hw, c)
                c += 4
            }
        }
        while c < geo.w {
            for l in 0..<lanes { d0[l * hw + c] = src[8 * c + l] }
            c += 1
        }
    }
}

// MARK: - Rows, eight lanes (the formulas of WinogradTransforms.swift, term for term)

/// (Bᵀ d)_k for one column d of the 6×6 input patch.
@inline(__always)
private func inputRows8(_ d0: Float8, _ d1: Float8, _ d2: Float8, _ d3: Float8, _ d4: Float8, _ d5: Float8)
    -> (Float8, Float8, Float8, Float8, Float8, Float8) {
    let v0: Float8 = d0 - 1.5 * d1 - 2 * d2 + 1.5 * d3 + d4
    let v1: Float8 = 0.5 * d2 + 2.5 * d3 + d4 - d1
    let v2: Float8 = d1 - 2.5 * d2 + 0.5 * d3 + d4
    let v3: Float8 = 2 * (d3 - d1) + (d4 - d2)
    let v4: Float8 = 0.5 * (d1 - d3) + (d4 - d2)
    let v5: Float8 = d1 - 1.5 * d2 - 2 * d3 + 1.5 * d4 + d5
    return (v0, v1, v2, v3, v4, v5)
}

/// (B v)_i: the adjoint of `inputRows8`.
@inline(__always)
private func inputRowsAdjoint8(_ v0: Float8, _ v1: Float8, _ v2: Float8, _ v3: Float8, _ v4: Float8, _ v5: Float8)
    -> (Float8, Float8, Float8, Float8, Float8, Float8) {
    let d1: Float8 = (v2 - v1 + v5) + 0.5 * v4 - 1.5 * v0 - 2 * v3
    let d2: Float8 = 0.5 * v1 - 2 * v0 - 2.5 * v2 - (v3 + v4) - 1.5 * v5
    let d3: Float8 = 1.5 * v0 + 2.5 * v1 + 0.5 * v2 + 2 * v3 - 0.5 * v4 - 2 * v5
    let d4: Float8 = (v0 + v1) + (v2 + v3) + v4 + 1.5 * v5
    return (v0, d1, d2, d3, d4, v5)
}

/// (Aᵀ m)_r for one column m of the 6×6 product.
@inline(__always)
private func outputRows8(_ m0: Float8, _ m1: Float8, _ m2: Float8, _ m3: Float8, _ m4: Float8, _ m5: Float8)
    -> (Float8, Float8, Float8, Float8) {
    let (d12, s12) = (m1 - m2, m1 + m2)
    let y0: Float8 = m0 + s12 + m3 + m4
    let y1: Float8 = d12 + 0.5 * m3 - 2 * m4
    let y2: Float8 = s12 + 0.25 * m3 + 4 * m4
    let y3: Float8 = d12 + 0.125 * m3 - 8 * m4 + m5
    return (y0, y1, y2, y3)
}

/// (A y)_k: the adjoint of `outputRows8`.
@inline(__always)
private func outputRowsAdjoint8(_ y0: Float8, _ y1: Float8, _ y2: Float8, _ y3: Float8)
    -> (Float8, Float8, Float8, Float8, Float8, Float8) {
    let (s02, s13) = (y0 + y2, y1 + y3)
    let m3: Float8 = y0 + 0.5 * y1 + 0.25 * y2 + 0.125 * y3
    let m4: Float8 = y0 - 2 * y1 + 4 * y2 - 8 * y3
    return (y0, s02 + s13, s02 - s13, m3, m4, y3)
}

// MARK: - Transforms, eight channels per vector

/// V[i, ξ, 4·block…4·block+7] = (Bᵀ d B)[ξ] for the i-th of the image-local `tiles`, from the
/// blocked plane [·, wp, 8] of channel blocks `block` and `block + 1`: `inputTransform` for a pair.
@inline(__always)
func inputTransform8(_ plane: UnsafePointer<Float>, wp: Int, _ geo: WinogradGeometry, tiles: Range<Int>,
                     block: Int, into v: UnsafeMutablePointer<Float>) {
    let row = wp * 8, slice = geo.cin4
    withUnsafeTemporaryAllocation(of: Float8.self, capacity: points) { tmp in
        for t in tiles {
            let (ty, tx) = t.quotientAndRemainder(dividingBy: geo.tilesX)
            let p = plane + ty * 4 * row + tx * 32
            for j in 0..<6 {  // columns: Bᵀ d
                let c = p + j * 8
                let r = inputRows8(load8(c, 0), load8(c, row), load8(c, 2 * row), load8(c, 3 * row),
                                   load8(c, 4 * row), load8(c, 5 * row))
                tmp[j] = r.0; tmp[6 + j] = r.1; tmp[12 + j] = r.2; tmp[18 + j] = r.3; tmp[24 + j] = r.4; tmp[30 + j] = r.5
            }
            let out = v + (t - tiles.lowerBound) * points * geo.cin4 + block * 4
            for k in 0..<6 {  // rows: (Bᵀ d) B
                let r = inputRows8(tmp[6 * k], tmp[6 * k + 1], tmp[6 * k + 2], tmp[6 * k + 3], tmp[6 * k + 4], tmp[6 * k + 5])
                let o = out + 6 * k * slice
                store8(r.0, o, 0); store8(r.1, o, slice); store8(r.2, o, 2 * slice)
                store8(r.3, o, 3 * slice); store8(r.4, o, 4 * slice); store8(r.5, o, 5 * slice)
            }
        }
    }
}

/// plane[4·ty + i, 4·tx + j] += (B dV Bᵀ)[i, j]: `inputTransformAdjoint` for channel blocks `block`
/// and `block + 1`, accumulated into their blocked plane [hp, wp, 8]. dV is [tiles, 36, Cin4].
@inline(__always)
func inputTransformAdjoint8(_ dv: UnsafePointer<Float>, _ geo: WinogradGeometry, tiles: Range<Int>, block: Int,
                            into plane: UnsafeMutablePointer<Float>) {
    let row = geo.wp * 8, slice = geo.cin4
    withUnsafeTemporaryAllocation(of: Float8.self, capacity: points) { tmp in
        var (ty, tx) = tiles.lowerBound.quotientAndRemainder(dividingBy: geo.tilesX)
        for t in tiles {
            let src = dv + (t - tiles.lowerBound) * points * geo.cin4 + block * 4
            for k in 0..<6 {  // rows: dV Bᵀ
                let o = src + 6 * k * slice
                let r = inputRowsAdjoint8(load8(o, 0), load8(o, slice), load8(o, 2 * slice), load8(o, 3 * slice),
                                          load8(o, 4 * slice), load8(o, 5 * slice))
                tmp[6 * k] = r.0; tmp[6 * k + 1] = r.1; tmp[6 * k + 2] = r.2
                tmp[6 * k + 3] = r.3; tmp[6 * k + 4] = r.4; tmp[6 * k + 5] = r.5
            }
            let p = plane + ty * 4 * row + tx * 32
            for j in 0..<6 {  // columns: B (dV Bᵀ), added onto the patch
                let r = inputRowsAdjoint8(tmp[j], tmp[6 + j], tmp[12 + j], tmp[18 + j], tmp[24 + j], tmp[30 + j])
                let c = p + j * 8
                store8(load8(c, 0) + r.0, c, 0); store8(load8(c, row) + r.1, c, row)
                store8(load8(c, 2 * row) + r.2, c, 2 * row); store8(load8(c, 3 * row) + r.3, c, 3 * row)
                store8(load8(c, 4 * row) + r.4, c, 4 * row); store8(load8(c, 5 * row) + r.5, c, 5 * row)
            }
            tx += 1
            if tx == geo.tilesX { (ty, tx) = (ty + 1, 0) }
        }
    }
}

/// The output transform of tile (img, ty, tx) for channel blocks `block` and `block + 1`: `outputTile`
/// eight channels per vector. `src`: the tile's 36 × Cout4 products; `tmp`: 40 vectors of scratch.
@inline(__always)
func outputTile8(_ src: UnsafePointer<Float>, _ geo: WinogradGeometry, img: Int, ty: Int, tx: Int, block cb: Int,
                 bias: UnsafePointer<Float>?, relu: Bool, pool: Bool = false, residual: UnsafePointer<Float>? = nil,
                 tmp: UnsafeMutablePointer<Float8>, into y: UnsafeMutablePointer<Float>, argmax: PooledArgmax? = nil) {
    let slice = geo.cout4, plane = geo.oh * geo.ow
    let (rows, cols) = (min(4, geo.oh - 4 * ty), min(4, geo.ow - 4 * tx))
    let out = tmp + 24
    let p = src + cb * 4
    for l in 0..<6 {  // columns: Aᵀ M
        let r = outputRows8(load8(p, l * slice), load8(p, (6 + l) * slice), load8(p, (12 + l) * slice),
                            load8(p, (18 + l) * slice), load8(p, (24 + l) * slice), load8(p, (30 + l) * slice))
        tmp[l] = r.0; tmp[6 + l] = r.1; tmp[12 + l] = r.2; tmp[18 + l] = r.3
    }
    var b = Float8()
    let lanes = min(8, geo.cout - cb * 4)
    if let bias { for l in 0..<lanes { b[l] = bias[cb * 4 + l] } }
    for r in 0..<4 {  // rows: (Aᵀ M) A, all four even where the tile is clipped
        let o = outputRows8(tmp[6 * r], tmp[6 * r + 1], tmp[6 * r + 2], tmp[6 * r + 3], tmp[6 * r + 4], tmp[6 * r + 5])
        if relu && residual == nil {  // with a residual, the ReLU comes after the addition, as it is stored
            out[4 * r] = positivePart(o.0 + b); out[4 * r + 1] = positivePart(o.1 + b)
            out[4 * r + 2] = positivePart(o.2 + b); out[4 * r + 3] = positivePart(o.3 + b)
        } else {
            out[4 * r] = o.0 + b; out[4 * r + 1] = o.1 + b; out[4 * r + 2] = o.2 + b; out[4 * r + 3] = o.3 + b
        }
    }
    if pool {
        if let argmax {
            let codes = argmax.scratch8
            poolTile(out, codes: codes)
            storePooledCodes(UnsafeRawPointer(codes).assumingMemoryBound(to: Int32.self), width: 8, lanes: lanes, geo,
                             img: img, ty: ty, tx: tx, block: cb, into: argmax.codes)
        } else {
            poolTile(out)
        }
        return storePooledTile(UnsafeRawPointer(out).assumingMemoryBound(to: Float.self), width: 8, lanes: lanes, geo,
                               img: img, ty: ty, tx: tx, block: cb, into: y)
    }
    // As in `outputTile`: the outputs go through memory before the transposes.
    let dst = y + (img * geo.cout + cb * 4) * plane + 4 * ty * geo.ow + 4 * tx
    if let residual {
        return storeTileAddingResidual(UnsafeRawPointer(out).assumingMemoryBound(to: Float.self), width: 8, lanes: lanes,
                                       rows: rows, cols: cols, geo, residual + (dst - y), relu: relu, into: dst)
    }
    if lanes == 8 && cols == 4 {
        let dst4 = dst + 4 * plane
        for r in 0..<rows {  // pixels c = 0…3 with lanes = channels → one vector per channel
            let (o0, o1, o2, o3) = (out[4 * r], out[4 * r + 1], out[4 * r + 2], out[4 * r + 3])
            let a = transpose4x4(o0.lowHalf, o1.lowHalf, o2.lowHalf, o3.lowHalf)
            let h = transpose4x4(o0.highHalf, o1.highHalf, o2.highHalf, o3.highHalf)
            let d = dst + r * geo.ow, e = dst4 + r * geo.ow
            store4(a.0, d, 0); store4(a.1, d, plane); store4(a.2, d, 2 * plane); store4(a.3, d, 3 * plane)
            store4(h.0, e, 0); store4(h.1, e, plane); store4(h.2, e, 2 * plane); store4(h.3, e, 3 * plane)
        }
    } else {
        let f = UnsafeRawPointer(out).assumingMemoryBound(to: Float.self)
        for r in 0..<rows {
            for l in 0..<lanes { for c in 0..<cols { dst[l * plane + r * geo.ow + c] = f[(4 * r + c) * 8 + l] } }
        }
    }
}

/// y[n, co, 4·ty + r, 4·tx + c] = (Aᵀ M A)[r, c] (+ bias) for every tile t and output channel,
/// clipped at the right and bottom edges; `relu`: max(·, 0) of that, as it is stored; `residual` (y's shape): added
/// before the ReLU, y = max((Aᵀ M A + bias) + residual, 0), the sums of `conv2d(…) + residual` then `.relu()`. M is [tiles, 36, Cout4].
/// Channel blocks in pairs (`outputTile8`), a last odd one alone (`outputTile`). `pool` (with `relu`): y is
/// instead the 2×2 max-pool of those outputs, [N, Cout, ⌊OH/2⌋, ⌊OW/2⌋] (`storePooledTile`), and `argmax` (with `pool`)
/// receives which output of each window that is (`WindowArgmax`).
func outputTransform(_ m: UnsafePointer<Float>, _ geo: WinogradGeometry, tiles: Range<Int>,
                     bias: UnsafePointer<Float>?, relu: Bool = false, pool: Bool = false, residual: UnsafePointer<Float>? = nil,
                     into y: UnsafeMutablePointer<Float>, argmax codes: UnsafeMutablePointer<UInt8>? = nil) {
    require(!pool || relu, "outputTransform: pooling is fused only after the ReLU")
    require(residual == nil || !pool, "outputTransform: a residual is added only without pooling")
    require(codes == nil || pool, "outputTransform: an argmax is kept only with pooling")
    let blocks = geo.cout4 / 4
    // Scratch: 40 vectors for a tile's transform, eight and four channels wide, and its window codes.
    withUnsafeTemporaryAllocation(of: Float8.self, capacity: 40) { tmp8 in
    withUnsafeTemporaryAllocation(of: Float4.self, capacity: 40) { tmp4 in
    withUnsafeTemporaryAllocation(of: SIMD8<Int32>.self, capacity: 4) { scratch8 in
    withUnsafeTemporaryAllocation(of: SIMD4<Int32>.self, capacity: 4) { scratch4 in
        let argmax = codes.map { PooledArgmax(codes: $0, scratch8: scratch8.baseAddress!, scratch4: scratch4.baseAddress!) }
        for t in tiles {
            let (img, ty, tx) = geo.tile(t)
            let src = m + (t - tiles.lowerBound) * points * geo.cout4
            var cb = 0
            while cb + 2 <= blocks {
                outputTile8(src, geo, img: img, ty: ty, tx: tx, block: cb, bias: bias, relu: relu, pool: pool,
                            residual: residual, tmp: tmp8.baseAddress!, into: y, argmax: argmax)
                cb += 2
            }
            if cb < blocks {
                outputTile(src, geo, img: img, ty: ty, tx: tx, block: cb, bias: bias, relu: relu, pool: pool,
                           residual: residual, tmp: tmp4.baseAddress!, into: y, argmax: argmax)
            }
        }
    }
    }
    }
    }
}

/// dM[i, ξ, 4·block…4·block+7] = (A dy Aᵀ)[ξ]: `outputTransformAdjoint` for channel blocks `block` and
/// `block + 1`, from their blocked dy plane [·, wp, 8] (zero beyond OH, OW). dM is [tiles, 36, Cout4].
@inline(__always)
func outputTransformAdjoint8(_ plane: UnsafePointer<Float>, wp: Int, _ geo: WinogradGeometry, tiles: Range<Int>,
                             block: Int, into dm: UnsafeMutablePointer<Float>) {
    let row = wp * 8, slice = geo.cout4
    withUnsafeTemporaryAllocation(of: Float8.self, capacity: 24) { tmp in
        for t in tiles {
            let (ty, tx) = t.quotientAndRemainder(dividingBy: geo.tilesX)
            let p = plane + ty * 4 * row + tx * 32
            for c in 0..<4 {  // columns: A dy
                let q = p + c * 8
                let r = outputRowsAdjoint8(load8(q, 0), load8(q, row), load8(q, 2 * row), load8(q, 3 * row))
                tmp[c] = r.0; tmp[4 + c] = r.1; tmp[8 + c] = r.2; tmp[12 + c] = r.3; tmp[16 + c] = r.4; tmp[20 + c] = r.5
            }
            let out = dm + (t - tiles.lowerBound) * points * geo.cout4 + block * 4
            for k in 0..<6 {  // rows: (A dy) Aᵀ
                let r = outputRowsAdjoint8(tmp[4 * k], tmp[4 * k + 1], tmp[4 * k + 2], tmp[4 * k + 3])
                let o = out + 6 * k * slice
                store8(r.0, o, 0); store8(r.1, o, slice); store8(r.2, o, 2 * slice)
                store8(r.3, o, 3 * slice); store8(r.4, o, 4 * slice); store8(r.5, o, 5 * slice)
            }
        }
    }
}

/// Stores one tile's 4×4 outputs `out` (16 vectors of `width` = 4 or 8 floats: rows of four pixels, lanes =
/// channels, of which `lanes` are real) at `dst` in y's [N, C, OH, OW] layout, each plus the residual float at the
/// same place of `residual`, then max(·, 0) with `relu`: (conv + bias) + residual, rounded as an addition of the two
/// tensors is, and the ReLU of that sum. `rows` × `cols` is the part of the tile inside the output.
@inline(__always)
func storeTileAddingResidual(_ out: UnsafePointer<Float>, width: Int, lanes: Int, rows: Int, cols: Int,
                             _ geo: WinogradGeometry, _ residual: UnsafePointer<Float>, relu: Bool,
                             into dst: UnsafeMutablePointer<Float>) {
    let plane = geo.oh * geo.ow
    @inline(__always) func put(_ v: Float4, _ offset: Int) {
        let sum = v + load4(residual, offset)
        store4(relu ? positivePart(sum) : sum, dst, offset)
    }
    if lanes == width && cols == 4 {
        for r in 0..<rows {
            for half in stride(from: 0, to: width, by: 4) {  // four channels: pixels c = 0…3 → one vector per channel
                @inline(__always) func pixel(_ c: Int) -> Float4 { load4(out, (4 * r + c) * width + half) }
                let t = transpose4x4(pixel(0), pixel(1), pixel(2), pixel(3))
                let d = half * plane + r * geo.ow
                put(t.0, d); put(t.1, d + plane); put(t.2, d + 2 * plane); put(t.3, d + 3 * plane)
            }
        }
    } else {
        for r in 0..<rows {
            for l in 0..<lanes {
                for c in 0..<cols {
                    let i = l * plane + r * geo.ow + c
                    let sum = out[(4 * r + c) * width + l] + residual[i]
                    dst[i] = relu ? (sum > 0 ? sum : 0) : sum
                }
            }
        }
    }
}
