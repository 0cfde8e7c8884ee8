/// The SIMD pieces the op kernels share: unaligned vector loads and stores through typed pointers, and
/// Float sums that vectorise.
///
/// A scalar Float loop sum does not vectorise (the compiler must keep its strict left-to-right order), so
/// sums run in SIMD8 accumulators: a different but fixed order, the same on every run.

/// `V`'s lanes from `p + offset` on, with no alignment requirement.
@inline(__always)
func loadVector<V: SIMD>(_ p: UnsafePointer<V.Scalar>, _ offset: Int = 0) -> V {
    UnsafeRawPointer(p + offset).loadUnaligned(as: V.self)
}

/// Writes `v`'s lanes to `p + offset` on, with no alignment requirement.
@inline(__always)
func storeVector<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<V.Scalar>, _ offset: Int = 0) {
    UnsafeMutableRawPointer(p + offset).storeBytes(of: v, as: V.self)
}

/// Eight floats from `p + offset` on.
@inline(__always)
func load8(_ p: UnsafePointer<Float>, _ offset: Int = 0) -> SIMD8<Float> { loadVector(p, offset) }

/// Eight floats to `p + offset` on.
@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ offset: Int = 0) { storeVector(v, p, offset) }

/// Four floats from `p + offset` on.
@inline(__always)
func load4(_ p: UnsafePointer<Float>, _ offset: Int = 0) -> SIMD4<Float> { loadVector(p, offset) }

/// Four floats to `p + offset` on.
@inline(__always)
func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>, _ offset: Int = 0) { storeVector(v, p, offset) }

/// Σ_i f(i) over 0..<n, eight lanes at a time in two accumulators (16 terms per round, then one more
/// round of 8 if it fits); `f` gives the eight terms from index i on, `g` the single terms of the tail.
@inline(__always)
func simdSum(_ n: Int, _ f: (Int) -> SIMD8<Float>, _ g: (Int) -> Float) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n { a0 += f(i); a1 += f(i + 8); i += 16 }
    if i + 8 <= n { a0 += f(i); i += 8 }
    var s = (a0 + a1).sum()
    while i < n { s += g(i); i += 1 }
    return s
}

/// out[base + i] = f(base + i) for i in 0..<n, eight at a time (`f8`) with a scalar tail (`f1`).
@inline(__always)
func simdMap(_ n: Int, base: Int, to out: UnsafeMutablePointer<Float>,
             _ f8: (Int) -> SIMD8<Float>, _ f1: (Int) -> Float) {
    var i = base
    let end = base + n
    while i + 8 <= end { store8(f8(i), out, i); i += 8 }
    while i < end { out[i] = f1(i); i += 1 }
}

/// Calls `step(j)` at j = 0, width, 2·width, … while a whole step fits in 0..<n, then once more at n − width when
/// n is not a multiple of `width`: a vector loop with no scalar tail, whose last step overlaps the one before it.
/// Only for steps that overwrite their outputs with values computed from their inputs alone (never accumulate):
/// the outputs covered twice then get the same floats twice. Requires n ≥ width.
@inline(__always)
func overlappingSteps(_ n: Int, width: Int, _ step: (Int) -> Void) {
    var j = 0
    while j + width <= n { step(j); j += width }
    if j < n { step(n - width) }
}

/// Σ p[0..<count]: `simdSum` over whole rounds of 16, then the last 0–15 floats one by one (kept so, bit
/// for bit as before, for the planes whose sums the conv bias gradient and global average pooling take).
@inline(__always)
func sumOfFloats(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
    let whole = count - count % 16
    var s = simdSum(whole, { load8(p, $0) }, { p[$0] })
    for i in whole..<count { s += p[i] }
    return s
}

/// max(v, 0) lane by lane, as `relu()` computes it: `x > 0 ? x : 0` (a NaN gives 0). One overload per
/// vector width: written generically over `SIMD`, the lane operations were not specialised in the kernels
/// that use them (a depthwise forward pass ran 7× slower).
@inline(__always)
func positivePart(_ v: SIMD8<Float>) -> SIMD8<Float> { SIMD8<Float>().replacing(with: v, where: v .> SIMD8<Float>()) }

@inline(__always)
func positivePart(_ v: SIMD4<Float>) -> SIMD4<Float> { SIMD4<Float>().replacing(with: v, where: v .> SIMD4<Float>()) }

/// g where y > 0, else 0, lane by lane: the gradient through a ReLU whose output is y.
@inline(__always)
func maskedByPositive(_ g: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8<Float>().replacing(with: g, where: y .> SIMD8<Float>())
}

/// p[i] = max(p[i], 0) for i in 0..<count, in place (a ReLU over outputs a kernel has just written).
@inline(__always)
func clampNegativesToZero(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
    simdMap(count, base: 0, to: p, { positivePart(load8(p, $0)) }, { p[$0] > 0 ? p[$0] : 0 })
}

/// Σ_i (y[i] > 0 ? g[i] : 0) over 0..<count, summed in the order of `sumOfFloats`, so that it is bit for
/// bit `sumOfFloats` of the masked values.
@inline(__always)
func maskedSumOfFloats(_ g: UnsafePointer<Float>, where y: UnsafePointer<Float>, _ count: Int) -> Float {
    let whole = count - count % 16
    var s = simdSum(whole, { maskedByPositive(load8(g, $0), load8(y, $0)) }, { y[$0] > 0 ? g[$0] : 0 })
    for i in whole..<count { s += y[i] > 0 ? g[i] : 0 }
    return s
}
