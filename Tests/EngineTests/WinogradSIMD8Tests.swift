@testable import Engine
import Testing

/// The data transforms eight channels per vector (WinogradTransformsSIMD8.swift) against the
/// four-channel ones they replace, composed as main composed them: bit for bit equal, on channel
/// counts that leave partial and odd blocks (1, 3, 4, 5, 8, 12, 17), ragged tiles, and tile ranges
/// that start and end inside images.

/// The drivers of the four-channel transforms, one block at a time: the reference.
private extension WinogradGeometry {
    func transformInputsByFours(_ x: UnsafePointer<Float>, tiles: Range<Int>, into v: UnsafeMutablePointer<Float>,
                                plane: UnsafeMutablePointer<Float>) {
        forEachImage(in: tiles) { img, local, offset in
            for cb in 0..<cin4 / 4 {
                blockRows(x + img * cin * h * w, channels: cin, first: cb * 4, h: h, w: w,
                          top: top, left: left, wp: wp, rows: paddedRows(local, tile: 6), into: plane)
                inputTransform(plane, wp: wp, self, tiles: local, block: cb, into: v + offset * 36 * cin4)
            }
        }
    }

    func transformOutputGradientsByFours(_ dy: UnsafePointer<Float>, tiles: Range<Int>, into dm: UnsafeMutablePointer<Float>,
                                         plane: UnsafeMutablePointer<Float>) {
        let width = 4 * tilesX
        forEachImage(in: tiles) { img, local, offset in
            for cb in 0..<cout4 / 4 {
                blockRows(dy + img * cout * oh * ow, channels: cout, first: cb * 4, h: oh, w: ow,
                          top: 0, left: 0, wp: width, rows: paddedRows(local, tile: 4), into: plane)
                outputTransformAdjoint(plane, wp: width, self, tiles: local, block: cb, into: dm + offset * 36 * cout4)
            }
        }
    }

    func outputTransformByFours(_ m: UnsafePointer<Float>, tiles: Range<Int>, bias: UnsafePointer<Float>?, relu: Bool,
                                into y: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float4.self, capacity: 40) { tmp in
            for t in tiles {
                let (img, ty, tx) = tile(t)
                for cb in 0..<cout4 / 4 {
                    outputTile(m + (t - tiles.lowerBound) * 36 * cout4, self, img: img, ty: ty, tx: tx, block: cb,
                               bias: bias, relu: relu, tmp: tmp.baseAddress!, into: y)
                }
            }
        }
    }
}

struct SIMD8Case: CustomTestStringConvertible, Sendable {
    let channels: Int, n: Int, h: Int, w: Int
    let padding: (top: Int, bottom: Int, left: Int, right: Int)
    var testDescription: String { "\(channels) channels, \(n)×\(h)×\(w), padding \(padding)" }

    var geometry: WinogradGeometry {
        WinogradGeometry(n: n, cin: channels, cout: channels, h: h, w: w, top: padding.top, bottom: padding.bottom,
                         left: padding.left, right: padding.right)
    }
    /// Every tile, and a range that starts in the first image's first tile row's middle and ends inside the last image.
    var tileRanges: [Range<Int>] {
        let g = geometry
        return [0..<g.tiles, 1..<max(2, g.tiles - 1)]
    }

    static let all: [SIMD8Case] = [1, 3, 4, 5, 8, 12, 17].flatMap { c in
        [SIMD8Case(channels: c, n: 2, h: 9, w: 11, padding: (1, 1, 1, 1)),  // 3×3 ragged tiles per image
         SIMD8Case(channels: c, n: 3, h: 6, w: 9, padding: (2, 0, 1, 2))]   // asymmetric padding
    }
}

private func bits(_ p: UnsafePointer<Float>, _ count: Int) -> [UInt32] {
    (0..<count).map { p[$0].bitPattern }
}

@Test(arguments: SIMD8Case.all)
func eightChannelTransformsEqualFourChannelOnes(_ c: SIMD8Case) {
    let g = c.geometry
    let x = smoothInput([g.n, g.cin, g.h, g.w], seed: 71)
    let dy = smoothInput([g.n, g.cout, g.oh, g.ow], seed: 72)
    let bias = smoothInput([g.cout], seed: 73)
    let plane = Tensor(zeros: [g.planeFloats])
    for tiles in c.tileRanges {
        // V = Bᵀ d B and dM = A dy Aᵀ, [tiles, 36, C4], from the same sentinel-filled buffers.
        let count = 36 * tiles.count * g.cin4
        let (v8, v4) = (Tensor(shape: [count], scalars: .init(repeating: 7, count: count)),
                        Tensor(shape: [count], scalars: .init(repeating: 7, count: count)))
        g.transformInputs(x.data, tiles: tiles, into: v8.data, plane: plane.data)
        g.transformInputsByFours(x.data, tiles: tiles, into: v4.data, plane: plane.data)
        #expect(bits(v8.data, count) == bits(v4.data, count), "input transform, tiles \(tiles)")

        let (dm8, dm4) = (Tensor(shape: [count], scalars: .init(repeating: 7, count: count)),
                          Tensor(shape: [count], scalars: .init(repeating: 7, count: count)))
        g.transformOutputGradients(dy.data, tiles: tiles, into: dm8.data, plane: plane.data)
        g.transformOutputGradientsByFours(dy.data, tiles: tiles, into: dm4.data, plane: plane.data)
        #expect(bits(dm8.data, count) == bits(dm4.data, count), "output transform adjoint, tiles \(tiles)")

        // y = Aᵀ M A (+ bias) (ReLU) from M = the V above (any values serve), into sentinel-filled outputs.
        for (withBias, relu) in [(false, false), (true, false), (true, true)] {
            let yCount = g.n * g.cout * g.oh * g.ow
            let (y8, y4) = (Tensor(shape: [yCount], scalars: .init(repeating: 7, count: yCount)),
                            Tensor(shape: [yCount], scalars: .init(repeating: 7, count: yCount)))
            let b = withBias ? UnsafePointer(bias.data) : nil
            outputTransform(v8.data, g, tiles: tiles, bias: b, relu: relu, into: y8.data)
            g.outputTransformByFours(v8.data, tiles: tiles, bias: b, relu: relu, into: y4.data)
            #expect(bits(y8.data, yCount) == bits(y4.data, yCount), "output transform, bias \(withBias), relu \(relu), tiles \(tiles)")
        }
    }

    // dx += B dV Bᵀ per image, its tiles in two calls (as chunks split an image), then unblocked.
    let tpi = g.tilesPerImage, plane4 = g.hp * g.wp * 4, blocks = g.cin4 / 4
    let dv = smoothInput([g.n * tpi * 36 * g.cin4], seed: 74)
    let dxCount = g.n * g.cin * g.h * g.w
    let (dx8, dx4) = (Tensor(shape: [dxCount], scalars: .init(repeating: 7, count: dxCount)),
                      Tensor(shape: [dxCount], scalars: .init(repeating: 7, count: dxCount)))
    let planes = Tensor(zeros: [blocks * plane4])
    let split = tpi / 2
    for img in 0..<g.n {
        let src = dv.data + img * tpi * 36 * g.cin4, halves = [0..<split, split..<tpi].filter { !$0.isEmpty }
        planes.data.update(repeating: 0, count: blocks * plane4)
        for part in halves {
            g.scatterInputGradients(src + part.lowerBound * 36 * g.cin4, tiles: part, planes: planes.data, plane4: plane4)
        }
        g.unblockInputGradients(planes.data, plane4: plane4, into: dx8.data + img * g.cin * g.h * g.w)

        planes.data.update(repeating: 0, count: blocks * plane4)
        for cb in 0..<blocks {
            for part in halves {
                inputTransformAdjoint(src + part.lowerBound * 36 * g.cin4, g, tiles: part, block: cb,
                                      into: planes.data + cb * plane4)
            }
            unblock(planes.data + cb * plane4, g, block: cb, into: dx4.data + img * g.cin * g.h * g.w)
        }
    }
    #expect(bits(dx8.data, dxCount) == bits(dx4.data, dxCount), "input transform adjoint")
}
