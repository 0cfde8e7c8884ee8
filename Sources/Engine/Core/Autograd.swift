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

final class Node {
    let name: String
    let inputs: [Tensor]
    let backward: BackwardFunction
    init(name: String, inputs: [Tensor], backward: @escaping BackwardFunction) {
        self.name = name; self.inputs = inputs; self.backward = backward
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

/// Attaches `backward` to `output` when the graph is being recorded and some input requires grad.
/// Ops call this once, after computing `output`.
@inline(__always)
public func record(_ output: Tensor, _ name: String, _ inputs: [Tensor], _ backward: @escaping BackwardFunction) {
    guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return }
    output.requiresGrad = true
    output.node = Node(name: name, inputs: inputs, backward: backward)
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
    /// leaf with requiresGrad).
    private static func propagate(from root: Tensor, seed: Tensor?, targets: [Tensor]?) -> [(Tensor, Tensor)] {
        let seedGrad = seed ?? {
            guard root.count == 1 else { fatalError("backward() without a seed needs a scalar, got shape \(root.shape)") }
            return Tensor(repeating: 1, shape: root.shape)
        }()
        guard seedGrad.shape == root.shape else { fatalError("seed shape \(seedGrad.shape) ≠ output shape \(root.shape)") }
        let targetIDs = targets.map { Set($0.map(ObjectIdentifier.init)) }

        // Topological order (inputs before outputs), iterative to survive deep networks.
        var order: [Tensor] = []
        var visited: Set<ObjectIdentifier> = []
        var stack: [(Tensor, Bool)] = [(root, false)]
        while let (t, expanded) = stack.popLast() {
            let id = ObjectIdentifier(t)
            if expanded { order.append(t); continue }
            if visited.contains(id) { continue }
            visited.insert(id)
            stack.append((t, true))
            if let node = t.node {
                for input in node.inputs where !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }

        // Which tensors lead to a target: only their gradients are computed.
        var needs: [ObjectIdentifier: Bool] = [:]
        for t in order {
            let id = ObjectIdentifier(t)
            if let node = t.node {
                needs[id] = (targetIDs?.contains(id) ?? false)
                    || node.inputs.contains { needs[ObjectIdentifier($0)] ?? false }
            } else {
                needs[id] = targetIDs.map { $0.contains(id) } ?? t.requiresGrad
            }
        }

        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seedGrad]
        var results: [(Tensor, Tensor)] = []
        for t in order.reversed() {
            let id = ObjectIdentifier(t)
            guard let g = grads.removeValue(forKey: id) else { continue }
            let isTarget = targetIDs.map { $0.contains(id) } ?? (t.node == nil && t.requiresGrad)
            if isTarget { results.append((t, g)) }
            guard let node = t.node else { continue }
            let mask = node.inputs.map { needs[ObjectIdentifier($0)] ?? false }
            guard mask.contains(true) else { continue }
            let inputGrads = OpProfile.measure("∂ " + node.name) { node.backward(g, mask) }
            for (i, input) in node.inputs.enumerated() where mask[i] {
                guard let ig = inputGrads[i] else { continue }
                guard ig.shape == input.shape else { fatalError("\(node.name) backward gave gradient \(ig.shape) for input \(input.shape)") }
                let iid = ObjectIdentifier(input)
                if let acc = grads[iid] {
                    // Never mutate a gradient an op may have returned by reference (e.g. `add`).
                    grads[iid] = OpProfile.measure("∂ accumulate") { acc.adding(ig) }
                } else {
                    grads[iid] = ig
                }
            }
        }
        // Free the graph: saved activations are released with the nodes.
        for t in order where t.node != nil { t.node = nil; t.requiresGrad = false }
        return results
    }
}
