/// Elementwise arithmetic on tensors of identical shape, and with scalars.
/// Shapes: `a: S, b: S → S`. Kernels split over the workers above `elementwiseGrain` floats.
///
/// The kernels are generic over the function applied, a small struct (`Add`, `Scale(s)`, `ReLU`, …),
/// rather than taking a closure: each op's loop is then specialised with the function inlined and
/// vectorised. With a closure the loop called it once per element (relu ran 4–5× below the memory
/// rate and took 15 % of a smallcnn forward pass).

/// y = f(x) for one float.
protocol UnaryFunction { func callAsFunction(_ x: Float) -> Float }
/// y = f(a, b) for two floats.
protocol BinaryFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float }

/// out[i] = f(a[i], b[i]) over equal-length buffers, in parallel.
@inline(__always)
func zipMap<F: BinaryFunction>(_ a: Tensor, _ b: Tensor, _ f: F) -> Tensor {
    require(a.shape == b.shape, "shapes differ: \(a.shape) vs \(b.shape)")
    let out = Tensor(uninitializedShape: a.shape)
    nonisolated(unsafe) let (pa, pb, po) = (a.data, b.data, out.data)
    OpProfile.measure("\(F.self)") {
        parallelFor(a.count, grain: elementwiseGrain) { r in
            for i in r { po[i] = f(pa[i], pb[i]) }
        }
    }
    return out
}

/// out[i] = f(a[i]) in parallel.
@inline(__always)
func map<F: UnaryFunction>(_ a: Tensor, _ f: F) -> Tensor {
    let out = Tensor(uninitializedShape: a.shape)
    nonisolated(unsafe) let (pa, po) = (a.data, out.data)
    OpProfile.measure("\(F.self)") {
        parallelFor(a.count, grain: elementwiseGrain) { r in
            for i in r { po[i] = f(pa[i]) }
        }
    }
    return out
}

struct Add: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
struct Subtract: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
struct Multiply: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
struct Divide: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
struct Scale: UnaryFunction {
    let s: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { s * x }
}
struct Shift: UnaryFunction {
    let s: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x + s }
}

extension Tensor {
    /// self += scale·other, elementwise, in place, not recorded (gradient accumulation, optimizers).
    public func addInPlace(_ other: Tensor, scale: Float = 1) {
        require(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        nonisolated(unsafe) let (pa, pb) = (data, other.data)
        parallelFor(count, grain: elementwiseGrain) { r in
            for i in r { pa[i] += scale * pb[i] }
        }
    }

    /// A new tensor self + other, not recorded.
    public func adding(_ other: Tensor) -> Tensor { zipMap(self, other, Add()) }

    /// Fills with zeros in place.
    public func zero() { data.update(repeating: 0, count: count) }
}

/// a + b (same shape).
public func + (a: Tensor, b: Tensor) -> Tensor {
    let out = zipMap(a, b, Add())
    record(out, "add", [a, b]) { g, _ in [g, g] }
    return out
}

/// a − b (same shape).
public func - (a: Tensor, b: Tensor) -> Tensor {
    let out = zipMap(a, b, Subtract())
    record(out, "sub", [a, b]) { g, needs in [g, needs[1] ? map(g, Scale(s: -1)) : nil] }
    return out
}

/// a ⊙ b (same shape).
public func * (a: Tensor, b: Tensor) -> Tensor {
    let out = zipMap(a, b, Multiply())
    record(out, "mul", [a, b]) { g, needs in
        [needs[0] ? zipMap(g, b, Multiply()) : nil, needs[1] ? zipMap(g, a, Multiply()) : nil]
    }
    return out
}

/// s · a.
public func * (s: Float, a: Tensor) -> Tensor {
    let out = map(a, Scale(s: s))
    record(out, "scale", [a]) { g, _ in [map(g, Scale(s: s))] }
    return out
}

/// a + s.
public func + (a: Tensor, s: Float) -> Tensor {
    let out = map(a, Shift(s: s))
    record(out, "addScalar", [a]) { g, _ in [g] }
    return out
}

/// −a.
public prefix func - (a: Tensor) -> Tensor { -1 * a }

/// a − b for a tensor and a scalar.
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }

/// s − a.
public func - (s: Float, a: Tensor) -> Tensor { (-a) + s }
