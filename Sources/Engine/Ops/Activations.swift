import Foundation

/// Pointwise activations and the non-differentiable helpers attacks need.
/// Shapes: `x: S → S`.
extension Tensor {
    /// max(x, 0). ∂/∂x = 1 where x > 0, else 0.
    public func relu() -> Tensor {
        let out = map(self) { $0 > 0 ? $0 : 0 }
        record(out, "relu", [self]) { g, _ in [zipMap(g, out) { gi, yi in yi > 0 ? gi : 0 }] }
        return out
    }

    /// Swish / SiLU: x·σ(x). ∂/∂x = σ(x)·(1 + x·(1 − σ(x))).
    public func swish() -> Tensor {
        let out = map(self) { $0 / (1 + expf(-$0)) }
        let x = self
        record(out, "swish", [self]) { g, _ in
            [zipMap(g, x) { gi, xi in
                let s = 1 / (1 + expf(-xi))
                return gi * s * (1 + xi * (1 - s))
            }]
        }
        return out
    }

    /// Elementwise sign (−1, 0, +1). Not differentiable: never recorded.
    public func sign() -> Tensor { map(self) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) } }

    /// Clamps into [lo, hi]. ∂/∂x = 1 strictly inside, 0 where clamped.
    public func clamped(_ lo: Float, _ hi: Float) -> Tensor {
        let out = map(self) { min(max($0, lo), hi) }
        let x = self
        record(out, "clamp", [self]) { g, _ in [zipMap(g, x) { gi, xi in (xi >= lo && xi <= hi) ? gi : 0 }] }
        return out
    }

    /// exp(x).
    public func exp() -> Tensor {
        let out = map(self) { expf($0) }
        record(out, "exp", [self]) { g, _ in [zipMap(g, out, *)] }
        return out
    }

    /// log(x) (x > 0).
    public func log() -> Tensor {
        let out = map(self) { logf($0) }
        let x = self
        record(out, "log", [self]) { g, _ in [zipMap(g, x, /)] }
        return out
    }

    /// x^p for x > 0.
    public func pow(_ p: Float) -> Tensor {
        let out = map(self) { powf($0, p) }
        let x = self
        record(out, "pow", [self]) { g, _ in [zipMap(g, x) { gi, xi in gi * p * powf(xi, p - 1) }] }
        return out
    }
}
