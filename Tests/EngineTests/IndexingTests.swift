import Engine
import Testing

/// Batch-axis utilities: gradients against finite differences, values against hand-written rows.
enum IndexingOp: String, CaseIterable, CustomTestStringConvertible {
    case concatBatch, concatSamePartTwice, batchSlice, sliceThenConcat

    var testDescription: String { rawValue }

    func inputs() -> [Tensor] {
        switch self {
        case .concatBatch: [smoothInput([2, 3, 2], seed: 51), smoothInput([1, 3, 2], seed: 52), smoothInput([3, 3, 2], seed: 53)]
        case .concatSamePartTwice: [smoothInput([2, 4], seed: 54)]
        case .batchSlice, .sliceThenConcat: [smoothInput([5, 2, 3], seed: 55)]
        }
    }

    func apply(_ x: [Tensor]) -> Tensor {
        switch self {
        case .concatBatch: Engine.concatBatch(x)
        // MTARD-style: one tensor used twice in a graph must receive the sum of both gradient blocks.
        case .concatSamePartTwice: Engine.concatBatch([x[0], x[0].relu()])
        case .batchSlice: x[0].batchSlice(1..<4)
        // Run a concatenated batch through one op and split it back, as methods do with clean + adversarial.
        case .sliceThenConcat: Engine.concatBatch([x[0].batchSlice(3..<5), x[0].batchSlice(0..<2)]).swish()
        }
    }
}

@Test(arguments: IndexingOp.allCases)
func indexingGradientMatchesFiniteDifferences(_ op: IndexingOp) {
    GradientCheck().check(op.rawValue, inputs: op.inputs(), op.apply)
}

/// A [rows, 2] tensor whose row i holds [10·i, 10·i + 1]: every row is recognisable.
private func numberedRows(_ rows: Int) -> Tensor {
    Tensor(shape: [rows, 2], scalars: (0..<rows).flatMap { [Float(10 * $0), Float(10 * $0 + 1)] })
}

@Test func concatBatchStacksRowsInOrderAndSplitsTheGradientBack() {
    let a = numberedRows(2), b = Tensor(shape: [1, 2], scalars: [-1, -2])
    a.requiresGrad = true
    let c = concatBatch([a, b])
    #expect(c.shape == [3, 2])
    #expect(c.scalars == [0, 1, 10, 11, -1, -2])
    // b does not require grad: only a receives its block [1, 2 | 3, 4] of the seed.
    let ga = c.gradients(wrt: [a], seed: Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]))[0]
    #expect(ga.scalars == [1, 2, 3, 4])
}

@Test func batchSliceCopiesTheRowsAndScattersTheGradientIntoZeros() {
    let x = numberedRows(4)
    x.requiresGrad = true
    let s = x.batchSlice(1..<3)
    #expect(s.shape == [2, 2] && s.scalars == [10, 11, 20, 21])
    let gx = s.gradients(wrt: [x], seed: Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))[0]
    #expect(gx.scalars == [0, 0, 1, 2, 3, 4, 0, 0])
    // A copy: writing into the slice leaves x alone.
    s.data[0] = 99
    #expect(x.data[2] == 10)
}

@Test func gatherBatchAndScatterBatchMoveWholeRows() {
    let x = numberedRows(4)
    #expect(x.gatherBatch([3, 0, 3]).scalars == [30, 31, 0, 1, 30, 31])
    // Keeping per-example worst cases: rows 1 and 3 of `best` take rows 0 and 1 of `found`.
    let best = numberedRows(4)
    best.scatterBatch(Tensor(shape: [2, 2], scalars: [-1, -2, -3, -4]), at: [1, 3])
    #expect(best.scalars == [0, 1, -1, -2, 20, 21, -3, -4])
}

@Test func pickReadsTheLabelledEntryOfEachRow() {
    let p = Tensor(shape: [3, 3], scalars: [0.1, 0.2, 0.7, 0.5, 0.3, 0.2, 0, 1, 0])
    #expect(p.pick(labels: [2, 0, 1]) == [0.7, 0.5, 1])
}

@Test func argmaxRowsTakesTheFirstOfTiedMaxima() {
    let t = Tensor(shape: [3, 4], scalars: [1, 5, 5, 0, -3, -2, -9, -2, 7, 7, 7, 7])
    #expect(argmaxRows(t) == [1, 1, 0])
}

@Test func scatterBatchOutOfRangeIndexStopsWithAMessage() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
        Tensor(zeros: [2, 3]).scatterBatch(Tensor(zeros: [1, 3]), at: [2])
    }
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains("scatterBatch: row index 2 out of range for dimension 0 of [2, 3]"), "stderr: \(stderr)")
}
