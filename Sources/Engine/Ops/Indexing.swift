/// Batch-axis bookkeeping for attacks and methods: concatenating batches (one forward pass over clean
/// and adversarial examples), slicing them apart, and keeping per-example worst cases.
///
/// Legend: N rows along dimension 0; a "row" is one example of `rowSize` = the product of the other
/// dimensions (C·H·W for images, K for logits). Rows are contiguous, so every copy is a memcpy.

extension RowKernels {
    /// Elements per index of dimension 0 (C·H·W of an image batch).
    static func rowSize(_ t: Tensor) -> Int { t.shape.dropFirst().reduce(1, *) }
}

extension Tensor {
    fileprivate func checkRowIndex(_ index: Int, _ op: String) {
        require(index >= 0 && index < shape[0], "\(op): row index \(index) out of range for dimension 0 of \(shape)")
    }

    /// Rows `range` along dimension 0, as a copy.
    ///
    /// Shapes: `self: [N, ...]` → `[range.count, ...]`.
    /// Backward: the gradient lands in rows `range` of a zero tensor of `self`'s shape.
    public func batchSlice(_ range: Range<Int>) -> Tensor {
        require(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                "batchSlice: rows \(range) out of range for shape \(shape)")
        let row = RowKernels.rowSize(self)
        var outShape = shape
        outShape[0] = range.count
        let out = Tensor(uninitializedShape: outShape)
        out.data.update(from: data + range.lowerBound * row, count: range.count * row)
        let inShape = shape
        record(out, "batchSlice", [self]) { g, _ in
            // g: [range.count, ...] → dx: [N, ...]
            let dx = Tensor(zeros: inShape)
            (dx.data + range.lowerBound * row).update(from: g.data, count: range.count * row)
            return [dx]
        }
        return out
    }

    /// Rows at `indices` along dimension 0 (repeats allowed), as a copy. Not recorded.
    ///
    /// Shapes: `self: [N, ...]` → `[indices.count, ...]`.
    public func gatherBatch(_ indices: [Int]) -> Tensor {
        require(rank >= 1, "gatherBatch of a rank-0 tensor")
        let row = RowKernels.rowSize(self)
        var outShape = shape
        outShape[0] = indices.count
        let out = Tensor(uninitializedShape: outShape)
        for (i, index) in indices.enumerated() {
            checkRowIndex(index, "gatherBatch")
            (out.data + i * row).update(from: data + index * row, count: row)
        }
        return out
    }

    /// Writes row i of `source` into row `indices[i]` of self, in place. Not recorded: attacks use
    /// it to keep each example's worst case so far, on tensors outside any graph (writing into a
    /// tensor a recorded op saved would corrupt that op's backward).
    ///
    /// Shapes: `self: [N, ...]`, `source: [indices.count, ...]`.
    public func scatterBatch(_ source: Tensor, at indices: [Int]) {
        require(source.rank == rank && rank >= 1 && source.shape.dropFirst() == shape.dropFirst()
                    && source.shape[0] == indices.count,
                "scatterBatch: source \(source.shape) does not fit \(indices.count) rows of \(shape)")
        let row = RowKernels.rowSize(self)
        for (i, index) in indices.enumerated() {
            checkRowIndex(index, "scatterBatch")
            (data + index * row).update(from: source.data + i * row, count: row)
        }
    }

    /// p[n, labels[n]] for each n (e.g. the probability a model gives the true class). Not recorded.
    ///
    /// Shapes: `self: [N, K]`, `labels: N` → N floats.
    public func pick(labels: [Int]) -> [Float] {
        let (n, k) = RowKernels.matrixShape(self, "pick")
        RowKernels.checkLabels(labels, rows: n, classes: k, "pick")
        return labels.enumerated().map { i, label in data[i * k + label] }
    }
}

/// Index of the largest element of each row; the first one on ties (like `torch.argmax`). Not recorded.
///
/// Shapes: `t: [N, K]` (K ≥ 1) → N indices.
public func argmaxRows(_ t: Tensor) -> [Int] {
    let (n, k) = RowKernels.matrixShape(t, "argmaxRows")
    require(k >= 1, "argmaxRows of a matrix with no columns, shape \(t.shape)")
    return (0..<n).map { i in
        let row = t.data + i * k
        var best = 0
        for j in 1..<k where row[j] > row[best] { best = j }
        return best
    }
}

/// Concatenation along dimension 0 (the batch): the rows of `parts[0]`, then of `parts[1]`, ….
///
/// Shapes: `parts[i]: [N_i, ...]` (equal trailing dimensions) → `[Σ N_i, ...]`.
/// Backward: each part needing a gradient receives its own block of rows of g.
public func concatBatch(_ parts: [Tensor]) -> Tensor {
    guard let first = parts.first, first.rank >= 1 else { fatalError("concatBatch needs at least one batched tensor") }
    let trailing = Array(first.shape.dropFirst())
    for (i, part) in parts.enumerated() where part.rank != first.rank || Array(part.shape.dropFirst()) != trailing {
        fatalError("concatBatch: part \(i) has shape \(part.shape), part 0 has \(first.shape)")
    }
    let row = RowKernels.rowSize(first)
    let counts = parts.map { $0.shape[0] }
    let out = Tensor(uninitializedShape: [counts.reduce(0, +)] + trailing)
    var offset = 0
    for part in parts {
        (out.data + offset * row).update(from: part.data, count: part.count)
        offset += part.shape[0]
    }
    let shapes = parts.map(\.shape)  // not the parts: backward needs only their shapes
    record(out, "concatBatch", parts) { g, needs in
        // g: [Σ N_i, ...] → dparts[i]: [N_i, ...]
        var grads: [Tensor?] = []
        var offset = 0
        for (i, shape) in shapes.enumerated() {
            if needs[i] {
                let d = Tensor(uninitializedShape: shape)
                d.data.update(from: g.data + offset * row, count: d.count)
                grads.append(d)
            } else {
                grads.append(nil)
            }
            offset += counts[i]
        }
        return grads
    }
    return out
}
