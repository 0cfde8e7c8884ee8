/// Fully connected layer y = x·Wᵀ + b (PyTorch `nn.Linear` layout).
///
/// Shapes: `x: [N, in]`, `weight: [out, in]`, `bias: [out]` → `y: [N, out]`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let profiled = OpProfile.begin("linear")
    defer { OpProfile.end(profiled) }
    require(x.rank == 2 && weight.rank == 2 && x.shape[1] == weight.shape[1], "linear: x \(x.shape) does not match weight \(weight.shape)")
    let (n, inF, outF) = (x.shape[0], x.shape[1], weight.shape[0])
    let y = Tensor(uninitializedShape: [n, outF])
    if let bias {
        require(bias.shape == [outF], "linear: bias \(bias.shape), expected [\(outF)]")
        for i in 0..<n { (y.data + i * outF).update(from: bias.data, count: outF) }
    }
    parallelGEMM(x.data, weight.data, y.data, m: n, n: outF, k: inF, beta: bias == nil ? 0 : 1, transB: true)
    FLOPCounter.add(2 * n * inF * outF)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    record(y, "linear", inputs) { g, needs in
        // g: [N, out]
        var grads: [Tensor?] = Array(repeating: nil, count: inputs.count)
        if needs[0] {  // dx = g · W : [N, out] × [out, in]
            let dx = Tensor(uninitializedShape: [n, inF])
            parallelGEMM(g.data, weight.data, dx.data, m: n, n: inF, k: outF)
            FLOPCounter.add(2 * n * inF * outF)
            grads[0] = dx
        }
        if needs[1] {  // dW = gᵀ · x : [out, N] × [N, in]
            let dw = Tensor(uninitializedShape: [outF, inF])
            parallelGEMM(g.data, x.data, dw.data, m: outF, n: inF, k: n, transA: true)
            FLOPCounter.add(2 * n * inF * outF)
            grads[1] = dw
        }
        if inputs.count == 3 && needs[2] {  // db = Σ_n g
            let db = Tensor(zeros: [outF])
            for i in 0..<n { for j in 0..<outF { db.data[j] += g.data[i * outF + j] } }
            grads[2] = db
        }
        return grads
    }
    return y
}
