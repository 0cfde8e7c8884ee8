/// The transforms of the Winograd F(4×4, 3×3) convolution (Winograd.swift), four channels per SIMD
/// vector, and the blocked planes they read and write. The data transforms run eight channels per
/// vector (WinogradTransformsSIMD8.swift, bit for bit the same); these four-channel ones are their
/// reference and take the last block of an odd number of channel blocks.
///
/// Matrices (interpolation points 0, 1, −1, 1/2, −2, ∞), applied separably to rows and columns:
///   input  V = Bᵀ d B (6×6 → 6×6)      `inputRows`,  adjoint `inputRowsAdjoint`
///   output y = Aᵀ M A (6×6 → 4×4)      `outputRows`, adjoint `outputRowsAdjoint`
///   kernel U = G w Gᵀ (3×3 → 6×6)      `kernelRows`, adjoint `kernelRowsAdjoint`
/// Tile-major layouts: V and M are [tiles, 36, C4], the transformed weights [36, Cin4, Cout4].

/// Positions in the transform domain (6×6), as in Winograd.swift.
private let points = 36

// MARK: - Blocked planes

/// Rows `rows` of the blocked plane `dst` [·, wp, 4]: channels first…first+3 of one image
/// src: [channels, h, w], placed at (top, left), zeros everywhere else (padding, the right and
/// bottom margins, channels beyond `channels`). Small enough to stay in L1 while its tiles are
/// transformed.
@inline(__always)
func blockRows(_ src: UnsafePointer<Float>, channels: Int, first: Int, h: Int, w: Int,
               top: Int, left: Int, wp: Int, rows: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
    let lanes = min(4, channels - first), plane = h * w
    let c0 = src + first * plane
    for pr in rows {
        let row = dst + pr * wp * 4, r = pr - top
        guard r >= 0 && r < h else { row.update(repeating: 0, count: wp * 4); continue }
        row.update(repeating: 0, count: left * 4)
        (row + (left + w) * 4).update(repeating: 0, count: (wp - left - w) * 4)
        let out = row + left * 4
        let s0 = c0 + r * w
        if lanes == 4 {
            let (s1, s2, s3) = (s0 + plane, s0 + 2 * plane, s0 + 3 * plane)
            var col = 0
            while col + 4 <= w {  // four pixels of four channels: one 4×4 transpose
                let t = transpose4x4(load4(s0, col), load4(s1, col), load4(s2, col), load4(s3, col))
                store4(t.0, out, col * 4)
                store4(t.1, out, col * 4 + 4)
                store4(t.2, out, col * 4 + 8)
                store4(t.3, out, col * 4 + 12)
                col += 4
            }
            while col < w {
                store4(Float4(s0[col], s1[col], s2[col], s3[col]), out, col * 4)
                col += 1
            }
        } else {  // the last block of a channel count that is not a multiple of 4: zeros beyond
            for col in 0..<w {
                var v = Float4()
                for l in 0..<lanes { v[l] = s0[l * plane + col] }
                store4(v, out, col * 4)
            }
        }
    }
}

// MARK: - Transforms (four channels per vector)

/// The 4×4 transpose of the rows a, b, c, d, built from half-vector moves and even/odd selections
/// (register shuffles). Spelled lane by lane, `Float4(a[0], b[0], …)`, it made the compiler
/// compute the transposed results one scalar at a time (the output transform ran 2× slower).
@inline(__always)
func transpose4x4(_ a: Float4, _ b: Float4, _ c: Float4, _ d: Float4) -> (Float4, Float4, Float4, Float4) {
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
func inputTransform(_ plane: UnsafePointer<Float>, wp: Int, _ geo: WinogradGeometry, tiles: Range<Int>,
                    block: Int, into v: UnsafeMutablePointer<Float>) {
    let row = wp * 4, slice = geo.cin4
    withUnsafeTemporaryAllocation(of: Float4.self, capacity: points) { tmp in
        for t in tiles {
            let (ty, tx) = t.quotientAndRemainder(dividingBy: geo.tilesX)
            let p = plane + ty * 4 * row + tx * 16
            for j in 0..<6 {  // columns: Bᵀ d
                let c = p + j * 4
                let r = inputRows(load4(c, 0), load4(c, row), load4(c, 2 * row), load4(c, 3 * row),
                                  load4(c, 4 * row), load4(c, 5 * row))
                tmp[j] = r.0; tmp[6 + j] = r.1; tmp[12 + j] = r.2; tmp[18 + j] = r.3; tmp[24 + j] = r.4; tmp[30 + j] = r.5
            }
            let out = v + (t - tiles.lowerBound) * points * geo.cin4 + block * 4
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
func inputTransformAdjoint(_ dv: UnsafePointer<Float>, _ geo: WinogradGeometry, tiles: Range<Int>, block: Int,
                           into plane: UnsafeMutablePointer<Float>) {
    let row = geo.wp * 4, slice = geo.cin4
    withUnsafeTemporaryAllocation(of: Float4.self, capacity: points) { tmp in
        var (ty, tx) = tiles.lowerBound.quotientAndRemainder(dividingBy: geo.tilesX)
        for t in tiles {
            let src = dv + (t - tiles.lowerBound) * points * geo.cin4 + block * 4
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
            if tx == geo.tilesX { (ty, tx) = (ty + 1, 0) }
        }
    }
}

/// dx[cb·4 + l, r, c] = plane[top + r, left + c, l] for one image: the blocked plane's data region
/// back to [Cin, H, W] (the padding rows and columns hold gradients of zeros and are dropped).
@inline(__always)
func unblock(_ plane: UnsafePointer<Float>, _ geo: WinogradGeometry, block: Int, into dx: UnsafeMutablePointer<Float>) {
    let lanes = min(4, geo.cin - block * 4), hw = geo.h * geo.w
    let first = dx + block * 4 * hw
    for r in 0..<geo.h {
        let src = plane + ((geo.top + r) * geo.wp + geo.left) * 4, d0 = first + r * geo.w
        var c = 0
        if lanes == 4 {
            while c + 4 <= geo.w {  // four pixels of four channels: one 4×4 transpose
                let t = transpose4x4(load4(src, 4 * c), load4(src, 4 * c + 4), load4(src, 4 * c + 8), load4(src, 4 * c + 12))
                store4(t.0, d0, c); store4(t.1, d0 + hw, c); store4(t.2, d0 + 2 * hw, c); store4(t.3, d0 + 3 * hw, c)
                c += 4
            }
        }
        while c < geo.w {
            for l in 0..<lanes { d0[l * hw + c] = src[4 * c + l] }
            c += 1
        }
    }
}

/// The output transform of tile (img, ty, tx) for channel block `block`: y[img, 4·block + l, 4·ty + r,
/// 4·tx + c] = (Aᵀ M A)[r, c] (+ bias), clipped at the right and bottom edges; `relu`: max(·, 0) of that,
/// as it is stored. `src`: the tile's 36 × Cout4 products (of M [tiles, 36, Cout4]); `tmp`: 40 vectors
/// of scratch. `outputTransform` (WinogradTransformsSIMD8.swift) calls it for a last odd block.
@inline(__always)
func outputTile(_ src: UnsafePointer<Float>, _ geo: WinogradGeometry, img: Int, ty: Int, tx: Int, block cb: Int,
                bias: UnsafePointer<Float>?, relu: Bool, pool: Bool = false, residual: UnsafePointer<Float>? = nil,
                tmp: UnsafeMutablePointer<Float4>, into y: UnsafeMutablePointer<Float>, argmax: PooledArgmax? = nil) {
    let slice = geo.cout4, plane = geo.oh * geo.ow
    let (rows, cols) = (min(4, geo.oh - 4 * ty), min(4, geo.ow - 4 * tx))
    // tmp[0..<24]: Aᵀ M (4 rows × 6); tmp[24..<40]: the 4×4 outputs, lanes = channels.
    let out = tmp + 24
    let p = src + cb * 4
    for l in 0..<6 {  // columns: Aᵀ M
        let r = outputRows(load4(p, l * slice), load4(p, (6 + l) * slice), load4(p, (12 + l) * slice),
                           load4(p, (18 + l) * slice), load4(p, (24 + l) * slice), load4(p, (30 + l) * slice))
        tmp[l] = r.0; tmp[6 + l] = r.1; tmp[12 + l] = r.2; tmp[18 + l] = r.3
    }
    var b = Float4()
    let lanes = min(4, geo.cout - cb * 4)
    if let bias { for l in 0..<lanes { b[l] = bias[cb * 4 + l] } }
    for r in 0..<4 {  // rows: (Aᵀ M) A, all four even where the tile is clipped
        let o = outputRows(tmp[6 * r], tmp[6 * r + 1], tmp[6 * r + 2], tmp[6 * r + 3], tmp[6 * r + 4], tmp[6 * r + 5])
        if relu && residual == nil {  // with a residual, the ReLU comes after the addition (`storeTileAddingResidual`)
            out[4 * r] = positivePart(o.0 + b); out[4 * r + 1] = positivePart(o.1 + b)
            out[4 * r + 2] = positivePart(o.2 + b); out[4 * r + 3] = positivePart(o.3 + b)
        } else {
            out[4 * r] = o.0 + b; out[4 * r + 1] = o.1 + b; out[4 * r + 2] = o.2 + b; out[4 * r + 3] = o.3 + b
        }
    }
    if pool {
        if let argmax {
            let codes = argmax.scratch4
            poolTile(out, codes: codes)
            storePooledCodes(UnsafeRawPointer(codes).assumingMemoryBound(to: Int32.self), width: 4, lanes: lanes, geo,
                             img: img, ty: ty, tx: tx, block: cb, into: argmax.codes)
        } else {
            poolTile(out)
        }
        return storePooledTile(UnsafeRawPointer(out).assumingMemoryBound(to: Float.self), width: 4, lanes: lanes, geo,
                               img: img, ty: ty, tx: tx, block: cb, into: y)
    }
    // Keeping the outputs in memory until here matters: transposing them straight from
    // registers made the compiler compute the second pass one lane at a time (2× slower).
    let dst = y + (img * geo.cout + cb * 4) * plane + 4 * ty * geo.ow + 4 * tx
    if let residual {
        return storeTileAddingResidual(UnsafeRawPointer(out).assumingMemoryBound(to: Float.self), width: 4, lanes: lanes,
                                       rows: rows, cols: cols, geo, residual + (dst - y), relu: relu, into: dst)
    }
    if lanes == 4 && cols == 4 {
        for r in 0..<rows {  // pixels c = 0…3 with lanes = channels → one vector per channel
            let t = transpose4x4(out[4 * r], out[4 * r + 1], out[4 * r + 2], out[4 * r + 3])
            let d = dst + r * geo.ow
            store4(t.0, d, 0); store4(t.1, d, plane); store4(t.2, d, 2 * plane); store4(t.3, d, 3 * plane)
        }
    } else {
        let f = UnsafeRawPointer(out).assumingMemoryBound(to: Float.self)
        for r in 0..<rows {
            for l in 0..<lanes { for c in 0..<cols { dst[l * plane + r * geo.ow + c] = f[(4 * r + c) * 4 + l] } }
        }
    }
}

/// The 2×2 max-pool of one tile's 4×4 ReLU outputs, `out`'s 16 vectors (row-major, lanes = channels), kept
/// in out[0..<4] ((0, 0), (0, 1), (1, 0), (1, 1)) for `storePooledTile`. Each window's maximum is that of the
/// same four values as `maxPool2d`'s, none NaN after the ReLU, so the pooled values are `maxPool2d`'s bit for bit.
@inline(__always)
func poolTile(_ out: UnsafeMutablePointer<Float8>) {
    @inline(__always) func larger(_ a: Float8, _ b: Float8) -> Float8 { a.replacing(with: b, where: b .> a) }
    @inline(__always) func window(_ i: Int, _ j: Int) -> Float8 {
        larger(larger(out[8 * i + 2 * j], out[8 * i + 2 * j + 1]), larger(out[8 * i + 4 + 2 * j], out[8 * i + 5 + 2 * j]))
    }
    (out[0], out[1], out[2], out[3]) = (window(0, 0), window(0, 1), window(1, 0), window(1, 1))
}

/// `poolTile` for four channels (one function per vector width, as `positivePart` in SIMD.swift: generic lane code
/// was not specialised where it was inlined, and a generic store here made Square 1.5× slower).
@inline(__always)
func poolTile(_ out: UnsafeMutablePointer<Float4>) {
    @inline(__always) func larger(_ a: Float4, _ b: Float4) -> Float4 { a.replacing(with: b, where: b .> a) }
    @inline(__always) func window(_ i: Int, _ j: Int) -> Float4 {
        larger(larger(out[8 * i + 2 * j], out[8 * i + 2 * j + 1]), larger(out[8 * i + 4 + 2 * j], out[8 * i + 5 + 2 * j]))
    }
    (out[0], out[1], out[2], out[3]) = (window(0, 0), window(0, 1), window(1, 0), window(1, 1))
}

/// Where a gradient will flow back through the fused convolution, ReLU and 2×2 max-pool: the window codes
/// (`WindowArgmax`), one byte per pooled output, and a scratch for one tile's codes.
struct PooledArgmax {
    /// [N, Cout, ⌊OH/2⌋, ⌊OW/2⌋], the layout of the pooled y.
    let codes: UnsafeMutablePointer<UInt8>
    /// The codes of one tile's four windows before they are stored, eight and four channels at a time.
    let scratch8: UnsafeMutablePointer<SIMD8<Int32>>
    let scratch4: UnsafeMutablePointer<SIMD4<Int32>>
}

/// `poolTile` that also keeps each window's `WindowArgmax` code in `codes[0..<4]`. The pooled values are
/// `poolTile`'s: the same comparisons, in the same order (`windowMaximum`).
@inline(__always)
func poolTile(_ out: UnsafeMutablePointer<Float8>, codes: UnsafeMutablePointer<SIMD8<Int32>>) {
    @inline(__always) func window(_ i: Int, _ j: Int) -> (Float8, SIMD8<Int32>) {
        windowMaximum(out[8 * i + 2 * j], out[8 * i + 2 * j + 1], out[8 * i + 4 + 2 * j], out[8 * i + 5 + 2 * j])
    }
    let windows = (window(0, 0), window(0, 1), window(1, 0), window(1, 1))
    (out[0], codes[0]) = windows.0; (out[1], codes[1]) = windows.1
    (out[2], codes[2]) = windows.2; (out[3], codes[3]) = windows.3
}

/// `poolTile(_:codes:)` for four channels (one function per vector width, as `poolTile`).
@inline(__always)
func poolTile(_ out: UnsafeMutablePointer<Float4>, codes: UnsafeMutablePointer<SIMD4<Int32>>) {
    @inline(__always) func window(_ i: Int, _ j: Int) -> (Float4, SIMD4<Int32>) {
        windowMaximum(out[8 * i + 2 * j], out[8 * i + 2 * j + 1], out[8 * i + 4 + 2 * j], out[8 * i + 5 + 2 * j])
    }
    let windows = (window(0, 0), window(0, 1), window(1, 0), window(1, 1))
    (out[0], codes[0]) = windows.0; (out[1], codes[1]) = windows.1
    (out[2], codes[2]) = windows.2; (out[3], codes[3]) = windows.3
}

/// Stores a pooled tile (`poolTile`: `pooled` holds 4 vectors of `width` floats, `lanes` of them real channels
/// from `block` on) into y: [N, Cout, ⌊OH/2⌋, ⌊OW/2⌋]. The tile at (ty, tx) holds the pooled outputs
/// (2·ty + i, 2·tx + j), i, j < 2, wherever they exist: with ⌊·/2⌋ a window never reaches past OH or OW.
@inline(__always)
func storePooledTile(_ pooled: UnsafePointer<Float>, width: Int, lanes: Int, _ geo: WinogradGeometry, img: Int, ty: Int,
                     tx: Int, block cb: Int, into y: UnsafeMutablePointer<Float>) {
    let (poh, pow) = (geo.oh / 2, geo.ow / 2)
    let (rows, cols) = (min(2, poh - 2 * ty), min(2, pow - 2 * tx))
    let plane = poh * pow
    let dst = y + (img * geo.cout + cb * 4) * plane + 2 * ty * pow + 2 * tx
    if rows == 2 && cols == 2 {
        for l in 0..<lanes {
            let d = dst + l * plane
            d[0] = pooled[l]; d[1] = pooled[width + l]; d[pow] = pooled[2 * width + l]; d[pow + 1] = pooled[3 * width + l]
        }
        return
    }
    guard rows > 0 && cols > 0 else { return }
    for i in 0..<rows {
        for l in 0..<lanes { for j in 0..<cols { dst[l * plane + i * pow + j] = pooled[(2 * i + j) * width + l] } }
    }
}

/// `storePooledTile` for the window codes of `poolTile(_:codes:)` (4 vectors of `width` Int32), as bytes, into
/// `codes`: [N, Cout, ⌊OH/2⌋, ⌊OW/2⌋], the layout of the pooled y.
@inline(__always)
func storePooledCodes(_ pooled: UnsafePointer<Int32>, width: Int, lanes: Int, _ geo: WinogradGeometry, img: Int, ty: Int,
                      tx: Int, block cb: Int, into codes: UnsafeMutablePointer<UInt8>) {
    let (poh, pow) = (geo.oh / 2, geo.ow / 2)
    let (rows, cols) = (min(2, poh - 2 * ty), min(2, pow - 2 * tx))
    guard rows > 0 && cols > 0 else { return }
    let plane = poh * pow
    let dst = codes + (img * geo.cout + cb * 4) * plane + 2 * ty * pow + 2 * tx
    for i in 0..<rows {
        for l in 0..<lanes {
            for j in 0..<cols { dst[l * plane + i * pow + j] = UInt8(truncatingIfNeeded: pooled[(2 * i + j) * width + l]) }
        }
    }
}

/// dM[i, ξ, 4·block…4·block+3] = (A dy Aᵀ)[ξ] for the i-th of the image-local `tiles`, from the
/// blocked dy plane [·, wp, 4] of that channel block (zero beyond OH, OW). dM is [tiles, 36, Cout4].
@inline(__always)
func outputTransformAdjoint(_ plane: UnsafePointer<Float>, wp: Int, _ geo: WinogradGeometry, tiles: Range<Int>,
                            block: Int, into dm: UnsafeMutablePointer<Float>) {
    let row = wp * 4, slice = geo.cout4
    withUnsafeTemporaryAllocation(of: Float4.self, capacity: 24) { tmp in
        for t in tiles {
            let (ty, tx) = t.quotientAndRemainder(dividingBy: geo.tilesX)
            let p = plane + ty * 4 * row + tx * 16
            for c in 0..<4 {  // columns: A dy
                let q = p + c * 4
                let r = outputRowsAdjoint(load4(q, 0), load4(q, row), load4(q, 2 * row), load4(q, 3 * row))
                tmp[c] = r.0; tmp[4 + c] = r.1; tmp[8 + c] = r.2; tmp[12 + c] = r.3; tmp[16 + c] = r.4; tmp[20 + c] = r.5
            }
            let out = dm + (t - tiles.lowerBound) * points * geo.cout4 + block * 4
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
func transposeMatrix(_ src: UnsafePointer<Float>, rows: Int, cols: Int,
                     into dst: UnsafeMutablePointer<Float>, ld: Int) {
    var r = 0
    while r + 4 <= rows {
        let (s0, s1, s2, s3) = (src + r * cols, src + (r + 1) * cols, src + (r + 2) * cols, src + (r + 3) * cols)
        var c = 0
        while c + 4 <= cols {
            let t = transpose4x4(load4(s0, c), load4(s1, c), load4(s2, c), load4(s3, c))
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
func weightTransformAdjoint(_ du: UnsafePointer<Float>, parts: Int, cout: Int, cin: Int) -> Tensor {
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
