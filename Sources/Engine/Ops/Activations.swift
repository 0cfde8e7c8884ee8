import Foundation

/// Pointwise activations and the non-differentiable helpers attacks need.
/// Shapes: `x: S → S`.
extension Tensor {
    /// max(x, 0). ∂/∂x = 1 where x > 0, else 0.
    public func relu() -> Tensor {
        let out = map(self, ReLU())
        let saved = out.savedForBackward
        record(out, "relu", [self]) { g, _ in [zipMap(g, saved, ReLUBackward())] }
        return out
    }

    /// Swish / SiLU: x·σ(x). ∂/∂x = σ(x)·(1 + x·(1 − σ(x))).
    public func swish() -> Tensor {
        let out = map(self, Swish())
        let x = self
        record(out, "swish", [self]) { g, _ in [zipMap(g, x, SwishBackward())] }
        return out
    }

    /// Elementwise sign (−1, 0, +1). Not differentiable: never recorded.
    public func sign() -> Tensor { map(self, Sign()) }

    /// Clamps into [lo, hi]. ∂/∂x = 1 strictly inside, 0 where clamped.
    public func clamped(_ lo: Float, _ hi: Float) -> Tensor {
        let out = map(self, Clamp(lo: lo, hi: hi))
        let x = self
        record(out, "clamp", [self]) { g, _ in [zipMap(g, x, ClampBackward(lo: lo, hi: hi))] }
        return out
    }

    /// exp(x).
    public func exp() -> Tensor {
        let out = map(self, Exp())
        let saved = out.savedForBackward
        record(out, "exp", [self]) { g, _ in [zipMap(g, saved, Multiply())] }
        return out
    }

    /// log(x) (x > 0).
    public func log() -> Tensor {
        let out = map(self, Log())
        let x = self
        record(out, "log", [self]) { g, _ in [zipMap(g, x, Divide())] }
        return out
    }

    /// x^p for x > 0.
    public func pow(_ p: Float) -> Tensor {
        let out = map(self, Power(p: p))
        let x = self
        record(out, "pow", [self]) { g, _ in [zipMap(g, x, PowerBackward(p: p))] }
        return out
    }
}

// The functions of the ops above (see Arithmetic.swift for why they are structs).

/// x > 0 ? x : 0 (a NaN gives 0).
struct ReLU: UnaryFunction { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 } }
/// (g, y) ↦ y > 0 ? g : 0, from the output y = relu(x).
struct ReLUBackward: BinaryFunction { @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { y > 0 ? g : 0 } }
struct Swish: UnaryFunction { @inline(__always) func callAsFunction(_ x: Float) -> Float { x / (1 + expf(-x)) } }
struct SwishBackward: BinaryFunction {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        let s = 1 / (1 + expf(-x))
        return g * s * (1 + x * (1 - s))
    }
}
struct Sign: UnaryFunction { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) } }
struct Clamp: UnaryFunction {
    let lo: Float, hi: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { min(max(x, lo), hi) }
}
struct ClampBackward: BinaryFunction {
    let lo: Float, hi: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { (x >= lo && x <= hi) ? g : 0 }
}
struct Exp: UnaryFunction { @inline(__always) func callAsFunction(_ x: Float) -> Float { expf(x) } }
struct Log: UnaryFunction { @inline(__always) func callAsFunction(_ x: Float) -> Float { logf(x) } }
struct Power: UnaryFunction {
    let p: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { powf(x, p) }
}
struct PowerBackward: BinaryFunction {
    let p: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { g * p * powf(x, p - 1) }
}
