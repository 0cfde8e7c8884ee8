/// A Float32 tensor in contiguous row-major (NCHW) layout that can take part in reverse-mode autograd.
///
/// Tensors are reference types: autograd needs identity (a parameter used by two forward passes
/// receives the sum of both gradients). Reshaping returns a view that shares storage.
public final class Tensor: @unchecked Sendable {
    /// Dimensions, outermost first, e.g. `[N, C, H, W]`.
    public let shape: [Int]
    /// The floats; `storage.count == shape.product`.
    public let storage: Storage
    /// True for parameters and inputs we differentiate with respect to, and for every result
    /// computed from them while gradients are recorded.
    public var requiresGrad: Bool
    /// Gradient accumulated by `backward()` (leaves only).
    public var grad: Tensor?
    /// How this tensor was computed; nil for leaves and for results computed without recording.
    var node: Node?

    public init(shape: [Int], storage: Storage, requiresGrad: Bool = false) {
        require(shape.allSatisfy({ $0 >= 0 }), "negative dimension in \(shape)")
        require(shape.reduce(1, *) == storage.count, "shape \(shape) holds \(shape.reduce(1, *)) floats, storage \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// Uninitialised tensor: every element must be written before it is read.
    public convenience init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: Storage(uninitializedCount: shape.reduce(1, *)))
    }

    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, storage: Storage(zeros: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    public convenience init(repeating value: Float, shape: [Int]) {
        self.init(uninitializedShape: shape)
        data.update(repeating: value, count: count)
    }

    public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
        require(scalars.count == shape.reduce(1, *), "\(scalars.count) scalars do not fill shape \(shape)")
        self.init(shape: shape, storage: Storage(uninitializedCount: scalars.count), requiresGrad: requiresGrad)
        scalars.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: scalars.count) }
    }

    /// Number of elements.
    @inlinable public var count: Int { storage.count }
    /// Raw access to the elements (row-major).
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.pointer }
    /// A copy of the elements.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    /// The single element of a one-element tensor.
    public var item: Float {
        require(count == 1, "item of a tensor of shape \(shape)")
        return data[0]
    }
    public var rank: Int { shape.count }

    /// A tensor sharing this one's storage with another shape of the same element count.
    /// Gradients flow through it.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            resolved[inferred] = known == 0 ? 0 : count / known
        }
        require(resolved.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        let out = Tensor(shape: resolved, storage: storage)
        let inShape = shape
        record(out, "reshape", [self]) { g, _ in [g.reshaped(inShape)] }
        return out
    }

    /// The same storage as a plain tensor outside the graph: what an op's backward closure keeps of
    /// the op's own output (keeping the output itself would tie it to its node in a cycle).
    var savedForBackward: Tensor { Tensor(shape: shape, storage: storage) }

    /// `[N, ...] → [N, prod(...)]`.
    public func flattened() -> Tensor { reshaped([shape[0], -1]) }

    /// A copy that shares nothing and records nothing (like PyTorch's `detach().clone()`).
    public func detachedCopy() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        out.data.update(from: data, count: count)
        return out
    }

    /// The same storage, cut off from the graph (no copy).
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

extension Array where Element == Int {
    /// Product of the dimensions.
    @inlinable var product: Int { reduce(1, *) }
}

import Foundation
