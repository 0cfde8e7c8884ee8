/// Elementwise arithmetic on tensors of identical shape, and with scalars.
/// Shapes: `a: S, b: S → S`. Kernels split over the workers above `elementwiseGrain` floats.

/// out[i] = f(a[i], b[i]) over equal-length buffers, in parallel.
@inline(__always)
func zipMap(_ a: Tensor, _ b: Tensor, _ f: @escaping (Float, Float) -> Float) -> Tensor {
    precondition(a.shape == b.shape, "shapes differ: \(a.shape) vs \(b.shape)")
    let out = Tensor(uninitializedShape: a.shape)
    nonisolated(unsafe) let (pa, pb, po) = (a.data, b.data, out.data)
    parallelFor(a.count, grain: elementwiseGrain) { r in
        for i in r { po[i] = f(pa[i], pb[i]) }
    }
    return out
}

/// out[i] = f(a[i]) in parallel.
@inline(__always)
func map(_ a: Tensor, _ f: @escaping (Float) -> Float) -> Tensor {
    let out = Tensor(uninitializedShape: a.shape)
    nonisolated(unsafe) let (pa, po) = (a.data, out.data)
    parallelFor(a.count, grain: elementwiseGrain) { r in
        for i in r { po[i] = f(pa[i]) }
    }
    return out
}

extension Tensor {
    /// self += other, elementwise, in place, not recorded (gradient accumulation, optimizers).
    public func addInPlace(_ other: Tensor, scale: Float = 1) {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        nonisolated(unsafe) let (pa, pb) = (data, other.data)
        parallelFor(count, grain: elementwiseGrain) { r in
            for i in r { pa[i] += scale * pb[i] }
        }
    }

    /// A new tensor self + other, not recorded.
    public func adding(_ other: Tensor) -> Tensor { zipMap(self, other, +) }

    /// Fills with zeros in place.
    public func zero() { data.update(repeating: 0, count: count) }
}

/// a + b (same shape).
public func + (a: Tensor, b: Tensor) -> Tensor {
    let out = zipMap(a, b, +)
    record(out, "add", [a, b]) { g, _ in [g, g] }
    return out
}

/// a − b (same shape).
public func - (a: Tensor, b: Tensor) -> Tensor {
    let out = zipMap(a, b, -)
    record(out, "sub", [a, b]) { g, needs in [g, needs[1] ? map(g) { -$0 } : nil] }
    return out
}

/// a ⊙ b (same shape).
public func * (a: Tensor, b: Tensor) -> Tensor {
    let out = zipMap(a, b, *)
    record(out, "mul", [a, b]) { g, needs in
        [needs[0] ? zipMap(g, b, *) : nil, needs[1] ? zipMap(g, a, *) : nil]
    }
    return out
}

/// s · a.
public func * (s: Float, a: Tensor) -> Tensor {
    let out = map(a) { s * $0 }
    record(out, "scale", [a]) { g, _ in [map(g) { s * $0 }] }
    return out
}

/// a + s.
public func + (a: Tensor, s: Float) -> Tensor {
    let out = map(a) { $0 + s }
    record(out, "addScalar", [a]) { g, _ in [g] }
    return out
}

/// −a.
public prefix func - (a: Tensor) -> Tensor { -1 * a }

/// a − b for a tensor and a scalar.
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }

/// s − a.
public func - (s: Float, a: Tensor) -> Tensor { (-a) + s }
