/// Reverse-mode automatic differentiation.
///
/// Each op that runs while gradients are recorded (`GradMode.isEnabled`) and has an input with
/// `requiresGrad` attaches a `Node` to its output: the inputs, and a backward closure that maps the
/// gradient of the output to the gradients of the inputs. `backward()` walks the recorded graph in
/// reverse topological order. A model may run several forward passes before one backward (MTARD runs
/// the student on clean and adversarial batches): shared parameters receive the sum.

/// Maps ∂L/∂output to ∂L/∂input for every input whose flag in `needs` is true (nil for the others,
/// so e.g. an attack's input-only backward skips the weight-gradient GEMMs of a convolution).
public typealias BackwardFunction = (_ gradOutput: Tensor, _ needs: [Bool]) -> [Tensor?]

/// One recorded op. The graph holds nodes, not the tensors they computed: an intermediate result's
/// storage lives only as long as some backward closure captured it (ReLU its output, a convolution
/// its input, batch norm its input), as in PyTorch's saved tensors. A BN output feeding a ReLU, or
/// the sum of a residual block, is freed as soon as the forward pass moves on; counting what a
/// ResNet block keeps, that is 4 of its 7 activations.
final class Node {
    let name: String
    /// Shape of the output, for checking the gradients flowing into it.
    let shape: [Int]
    /// Where each input's gradient goes.
    private(set) var inputs: [Edge]
    private(set) var backward: BackwardFunction?
    /// The output tensor while somebody else keeps it, so that freeing the graph detaches it.
    weak var output: Tensor?

    init(name: String, shape: [Int], inputs: [Edge], backward: @escaping BackwardFunction) {
        self.name = name; self.shape = shape; self.inputs = inputs; self.backward = backward
    }

    /// Drops the closure (and with it the saved tensors) and the edges, and detaches the output.
    func release() {
        backward = nil
        inputs = []
        if let output, output.node === self { output.node = nil; output.requiresGrad = false }
    }
}

/// An op's input as the graph sees it: the node that computed it, or the tensor itself when it is
/// a leaf (a parameter, an input we differentiate with respect to, or a constant).
enum Edge {
    case node(Node)
    case leaf(Tensor)

    init(_ t: Tensor) { self = t.node.map(Edge.node) ?? .leaf(t) }

    var id: ObjectIdentifier {
        switch self {
        case .node(let n): ObjectIdentifier(n)
        case .leaf(let t): ObjectIdentifier(t)
        }
    }

    var shape: [Int] {
        switch self {
        case .node(let n): n.shape
        case .leaf(let t): t.shape
        }
    }
}

/// Whether ops record the graph. Task-local, like PyTorch's thread-local grad mode.
public enum GradMode {
    @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording any graph (evaluation, teachers, optimizer updates).
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(false, operation: body)
}

/// Whether an op on `inputs` is recorded (`record` attaches its backward): the graph is being recorded and some
/// input requires grad. Ops that can skip work no backward will need (an argmax, a full-size activation) ask this.
@inline(__always)
public func willRecord(_ inputs: [Tensor]) -> Bool {
    GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad })
}

/// Attaches `backward` to `output` when the graph is being recorded and some input requires grad.
/// Ops call this once, after computing `output`.
@inline(__always)
public func record(_ output: Tensor, _ name: String, _ inputs: [Tensor], _ backward: @escaping BackwardFunction) {
    guard willRecord(inputs) else { return }
    let node = Node(name: name, shape: output.shape, inputs: inputs.map(Edge.init), backward: backward)
    node.output = output
    output.requiresGrad = true
    output.node = node
}

extension Tensor {
    /// Backpropagates from this scalar (or from `seed` = ∂L/∂self) and *accumulates* into `grad`
    /// of every leaf with `requiresGrad`. Frees the graph afterwards.
    public func backward(seed: Tensor? = nil) {
        let results = Self.propagate(from: self, seed: seed, targets: nil)
        for (leaf, g) in results {
            if let existing = leaf.grad { existing.addInPlace(g) } else { leaf.grad = g }
        }
    }

    /// ∂self/∂t for each `t` in `targets`, without touching any `.grad` and computing only what
    /// those gradients need. A target the graph does not reach gets a zero gradient.
    public func gradients(wrt targets: [Tensor], seed: Tensor? = nil) -> [Tensor] {
        let results = Self.propagate(from: self, seed: seed, targets: targets)
        var byID: [ObjectIdentifier: Tensor] = [:]
        for (t, g) in results { byID[ObjectIdentifier(t)] = g }
        return targets.map { byID[ObjectIdentifier($0)] ?? Tensor(zeros: $0.shape) }
    }

    /// Core of backward: returns (tensor, gradient) for each target reached (targets nil: every
    /// leaf with requiresGrad). Frees each node once its gradient has been passed on, so saved
    /// activations are released during the walk, not after it.
    private static func propagate(from root: Tensor, seed: Tensor?, targets: [Tensor]?) -> [(Tensor, Tensor)] {
        let seedGrad = seed ?? {
            require(root.count == 1, "backward() without a seed needs a scalar, got shape \(root.shape)")
            return Tensor(repeating: 1, shape: root.shape)
        }()
        require(seedGrad.shape == root.shape, "seed shape \(seedGrad.shape) ≠ output shape \(root.shape)")
        // Targets by the identity the graph knows them by: their node, or themselves for leaves.
        let targetByID: [ObjectIdentifier: Tensor]? = targets.map { ts in
            Dictionary(ts.map { (Edge($0).id, $0) }, uniquingKeysWith: { a, _ in a })
        }
        guard let rootNode = root.node else {
            // A leaf: its own gradient is the seed.
            let isTarget = targetByID.map { $0[ObjectIdentifier(root)] != nil } ?? root.requiresGrad
            return isTarget ? [(root, seedGrad)] : []
        }

        // Topological order of the nodes (inputs before outputs), iterative to survive deep networks.
        var order: [Node] = []
        var leaves: [ObjectIdentifier: Tensor] = [:]
        var visited: Set<ObjectIdentifier> = []
        var stack: [(Node, Bool)] = [(rootNode, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for edge in node.inputs {
                switch edge {
                case .node(let n): if !visited.contains(ObjectIdentifier(n)) { stack.append((n, false)) }
                case .leaf(let t): leaves[ObjectIdentifier(t)] = t
                }
            }
        }

        // Which edges lead to a target: only their gradients are computed.
        func isTarget(_ id: ObjectIdentifier) -> Bool { targetByID?[id] != nil }
        var needs: [ObjectIdentifier: Bool] = [:]
        for (id, leaf) in leaves { needs[id] = targetByID == nil ? leaf.requiresGrad : isTarget(id) }
        for node in order {
            let id = ObjectIdentifier(node)
            needs[id] = isTarget(id) || node.inputs.contains { needs[$0.id] ?? false }
        }

        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(rootNode): seedGrad]
        var results: [(Tensor, Tensor)] = []
        for node in order.reversed() {
            defer { node.release() }
            let id = ObjectIdentifier(node)
            guard let g = grads.removeValue(forKey: id) else { continue }
            if let target = targetByID?[id] { results.append((target, g)) }
            let mask = node.inputs.map { needs[$0.id] ?? false }
            guard mask.contains(true), let backward = node.backward else { continue }
            let inputGrads = OpProfile.measure("∂ " + node.name) { backward(g, mask) }
            for (i, edge) in node.inputs.enumerated() where mask[i] {
                guard let ig = inputGrads[i] else { continue }
                require(ig.shape == edge.shape, "\(node.name) backward gave gradient \(ig.shape) for input \(edge.shape)")
                if let acc = grads[edge.id] {
                    // Never mutate a gradient an op may have returned by reference (e.g. `add`).
                    grads[edge.id] = OpProfile.measure("∂ accumulate") { acc.adding(ig) }
                } else {
                    grads[edge.id] = ig
                }
            }
        }
        for (id, leaf) in leaves {
            guard let g = grads[id], targetByID == nil ? leaf.requiresGrad : isTarget(id) else { continue }
            results.append((leaf, g))
        }
        return results
    }
}
