import Attacks
import Engine
import Foundation
@testable import NN
import Testing
@testable import Distillation

/// Every registered attack, method and architecture, built from its registry entry and run once on tiny
/// input: what a new entry must pass. A new entry needs no new line here.
@Suite struct Registries {
    /// (That every attack stays in the ε-ball and in [0, 1] on a trained model: `AttackTests`.)
    @Test(arguments: AttackRegistry.entries.map(\.name))
    func everyAttackPerturbsAndRepeatsWithItsSeed(name: String) throws {
        let entry = try #require(AttackRegistry.entries.first { $0.name == name })
        let eps: Float = 0.1
        let selected = try #require(try AttackRegistry.parse(entry.example, eps: eps).first)
        #expect(selected.key == entry.example && selected.mode == entry.mode)
        // A random tinycnn on 1×8×8 images and a batch of 8 images in [0, 1].
        let (model, (x, y)) = (MethodSteps.tiny(seed: 1), MethodSteps.batch())
        var rng = SeededGenerator(seed: 4), again = rng
        let adv = selected.attack.perturb(model, x, labels: y, rng: &rng)
        #expect(adv.shape == x.shape && adv.scalars != x.scalars)
        #expect(selected.attack.perturb(model, x, labels: y, rng: &again).scalars == adv.scalars, "\(name) repeats with its seed")
        #expect(selected.attack.gradientSteps >= 1)
    }

    @Test(arguments: AttackRegistry.suites.map(\.name))
    func everySuiteExpandsToRegisteredAttacks(name: String) throws {
        let suite = try #require(AttackRegistry.suites.first { $0.name == name })
        #expect(try AttackRegistry.parse(name, eps: 0.1).map(\.key) == suite.members)
    }

    @Test(arguments: MethodRegistry.standard.names)
    func everyMethodTakesAStepWithAFiniteLossAndGradient(name: String) throws {
        let entry = try #require(MethodRegistry.standard.method(named: name))
        let student = MethodSteps.tiny(seed: 1)
        let teachers = Teachers(natural: MethodSteps.tiny(seed: 2), robust: MethodSteps.tiny(seed: 3))
        // Terms that start late start at once here.
        let parameters: [String: Any] = name == "iad" ? ["iad_start_epoch": 0] : name == "ciard" ? ["teacher_start_epoch": 0] : [:]
        let method = try MethodSteps.method(name, parameters)
        let (x, y) = MethodSteps.batch()
        var context = StepContext(epoch: 0, batchIndex: 0, numClasses: MethodSteps.classes, teachers: teachers, rng: SeededGenerator(seed: 9))
        let rngBefore = context.rng
        let out = method.step(student: student, x: x, labels: y, context: &context)
        #expect(out.loss.shape == [] || out.loss.count == 1)
        #expect(out.loss.item.isFinite && out.loss.item >= 0, "\(name): loss \(out.loss.item)")
        #expect(out.logs.values.allSatisfy(\.isFinite) && !out.logs.isEmpty)
        if name == "iad" { #expect(out.logs["loss_introspection"] != nil, "the introspection term is on from epoch 0") }
        if entry.attack != nil { #expect(context.rng != rngBefore, "\(name)'s attack draws its start from the run's generator") }
        let trainables = method.trainables
        #expect(Set(out.trainableLosses.keys).isSubset(of: trainables.map(\.name)))
        trainables.filter { out.trainableLosses[$0.name] != nil }.reduce(out.loss) { $0 + out.trainableLosses[$1.name]! }.backward()
        for t in trainables where out.trainableLosses[t.name] != nil {
            #expect(t.model.parameters.allSatisfy { $0.grad.map { $0.sumDouble().isFinite } ?? false }, "\(name): \(t.name) receives finite gradients")
        }
        let grads = student.parameters.compactMap(\.grad)
        #expect(grads.count == student.parameters.count, "every student parameter receives a gradient")
        #expect(grads.allSatisfy { $0.sumDouble().isFinite })
        #expect(grads.contains { g in (0..<g.count).contains { g.data[$0] != 0 } })
        for t in [teachers.natural!, teachers.robust!] { #expect(t.parameters.allSatisfy { $0.grad == nil }) }
        // The state survives a checkpoint's round trip, under the keys checkpoints have always used.
        let saved = try method.checkpointState()
        try method.restoreState(from: saved)
        #expect(try method.checkpointState() == saved)
        // Only a method that carries something from batch to batch has a state: a balancer, or PeerAiD's count of averaged snapshots.
        #expect(saved.isEmpty == (method.state.balancer == nil && name != "peeraid"))
        if name == "peeraid" { #expect(saved == ["swa_count": 0]) }
    }

    @Test(arguments: ModelZoo.entries.map(\.name))
    func everyArchitectureBuildsRunsForwardAndIsDetectedAsItself(name: String) throws {
        let entry = try #require(ModelZoo.entries.first { $0.name == name })
        let spec = ModelZoo.defaultSpec(arch: entry.example, numClasses: 7)
        var rng = SeededGenerator(seed: 5)
        let model = try ModelZoo.make(spec, rng: &rng)
        let x = Tensor.uniform([2, spec.inChannels, spec.inputSize, spec.inputSize], 0, 1, using: &rng)
        let logits = withNoGrad { model.forward(x, training: false) }
        #expect(logits.shape == [2, 7] && logits.scalars.allSatisfy(\.isFinite))
        #expect(try ModelZoo.stateElementCount(spec) == model.state.reduce(0) { $0 + $1.tensor.count })
        // Detection from the PyTorch keys finds this architecture, and no other entry's detector claims it.
        let shapes = Dictionary(uniqueKeysWithValues: model.state.map { ($0.key, $0.tensor.shape) })
        let claims = ModelZoo.entries.filter { $0.detect(ModelZoo.StateShapes(shapes)) != nil }.map(\.name)
        #expect(claims == [name])
        #expect(ModelZoo.detect(shapes: shapes) == spec)
    }

    /// A method object's key is read once, whichever method it is for: every use of a key has one type.
    @Test func everyParameterKeyHasOneTypeAcrossMethods() {
        let uses = MethodRegistry.standard.methods.flatMap(\.parameters)
        for key in MethodRegistry.standard.parameterKeys {
            let types = Set(uses.filter { $0.key == key }.map { ObjectIdentifier($0.valueType) })
            #expect(types.count == 1, "\(key)")
        }
    }

    /// A tiny run config with `method` as the method object and the teachers the method needs, parsed as
    /// `train --config` parses a file, with `registry`'s methods and modifiers.
    static func config(method: [String: Any], registry: MethodRegistry) throws -> RunConfig {
        let roles = registry.method(named: method["name"] as! String)?.teachers ?? []
        let object: [String: Any] = [
            "name": "t", "data": ["train": ["path": "-"], "test": ["path": "-"]], "model": ["arch": "tinycnn"],
            "teachers": Dictionary(uniqueKeysWithValues: roles.map { ($0.rawValue, ["checkpoint": "-"]) }), "method": method,
            "attack": ["eps": 0.1, "step_size": 0.05, "steps": 2], "epochs": 1,
        ]
        return try RunConfig.parse(JSONSerialization.data(withJSONObject: object), source: "t.json", methods: registry)
    }

    /// A modifier only tests know: it multiplies the base method's loss by `factor`.
    static let factor = MethodParameter<Float>(key: "factor", help: "loss multiplier") { $0 > 0 ? nil : "must be > 0, got \($0)" }
    static let scaled = MethodModifier("scaled", "the base loss × factor", parameters: [.init(factor, default: 1)],
                                       appliesTo: .methods(distillingFrom: .robust)) { base, settings in
        // `base` is opened to its type, which ScaledLoss is generic over.
        scaledLoss(base, factor: settings[factor])
    }
    static let registry = MethodRegistry(methods: MethodRegistry.standard.methods, modifiers: [scaled])

    @Test func aRegisteredModifierWrapsItsBaseMethod() throws {
        let plain = try Self.config(method: ["name": "adaad"], registry: Self.registry)
        let modified = try Self.config(method: ["name": "adaad", "scaled": ["factor": 3]], registry: Self.registry)
        #expect(modified.method.modifiers["scaled"]?[Self.factor] == 3)
        let (x, y) = MethodSteps.batch()
        func loss(_ config: RunConfig) throws -> Float {
            let method = try Self.registry.make(config.method, attack: config.attack, numClasses: MethodSteps.classes)
            var context = StepContext(epoch: 0, batchIndex: 0, numClasses: MethodSteps.classes,
                                      teachers: Teachers(robust: MethodSteps.tiny(seed: 3)), rng: SeededGenerator(seed: 9))
            return method.step(student: MethodSteps.tiny(seed: 1), x: x, labels: y, context: &context).loss.item
        }
        let base = try loss(plain), tripled = try loss(modified)
        #expect(base > 0 && abs(tripled - 3 * base) <= 1e-6 * base)
        // A wrapped B-MTARD keeps (and checkpoints) its balancer.
        let bmtard = try Self.config(method: ["name": "bmtard", "scaled": ["factor": 2]], registry: Self.registry)
        let method = try Self.registry.make(bmtard.method, attack: bmtard.attack, numClasses: MethodSteps.classes)
        var context = StepContext(epoch: 0, batchIndex: 0, numClasses: MethodSteps.classes,
                                  teachers: Teachers(natural: MethodSteps.tiny(seed: 2), robust: MethodSteps.tiny(seed: 3)),
                                  rng: SeededGenerator(seed: 9))
        _ = method.step(student: MethodSteps.tiny(seed: 1), x: x, labels: y, context: &context)
        let saved = try method.checkpointState()
        #expect(method.state.balancer?.initialLossAdv != nil && saved["loss_adv_0"] != nil)
        // The modifier's parameters are part of the config that config.json records.
        let json = try JSONEncoder().encode(modified.method)
        let decoder = JSONDecoder()
        decoder.userInfo[MethodRegistry.userInfoKey] = Self.registry
        #expect(try decoder.decode(MethodConfig.self, from: json) == modified.method)
    }

    @Test func aModifiersParametersAndScopeAreValidatedLikeAMethods() throws {
        func refusal(_ method: [String: Any], registry: MethodRegistry = Self.registry) -> String {
            do { _ = try Self.config(method: method, registry: registry); return "accepted" } catch { return "\(error)" }
        }
        #expect(refusal(["name": "adaad", "scaled": ["factor": -1]]) == "config field 'method.scaled.factor': must be > 0, got -1.0")
        #expect(refusal(["name": "adaad", "scaled": ["facter": 2]]).contains("unknown config key 'method.scaled.facter' — did you mean 'method.scaled.factor'?"))
        #expect(refusal(["name": "adaad", "scaled": ["factor": "two"]]).contains("'method.scaled.factor' should be a number"))
        #expect(refusal(["name": "pgd_at", "scaled": [String: Any]()])
                    == "config field 'method.scaled': scaled applies to methods with a robust teacher; method 'pgd_at' is not one")
        // Without the modifier registered, its key is an unknown one.
        #expect(refusal(["name": "adaad", "scaled": ["factor": 2]], registry: .standard).contains("unknown config key 'method.scaled'"))
    }
}

/// Configs/README's tables of methods, parameters, teachers, architectures and attacks are the registries'.
@Test func configsReadmeShowsWhatTheRegistriesHold() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let readme = try String(contentsOf: root.appendingPathComponent("Configs/README.md"), encoding: .utf8)
    for block in RegistryTables.all { #expect(readme.contains(block), "Configs/README.md should hold, verbatim:\n\(block)") }
}

/// The Markdown that Configs/README shows of each registry.
enum RegistryTables {
    static var all: [String] { [architectureRow, teacherRows, parameterRows, methods, modifiers, attacks] }

    static func code(_ s: String) -> String { "`\(s)`" }

    static var architectureRow: String {
        "| `model.arch` | required | " + ModelZoo.entries.map { code($0.name) + ($0.help.isEmpty ? "" : " (\($0.help))") }.joined(separator: ", ") + " |"
    }

    static var teacherRows: String {
        let methods = MethodRegistry.standard.methods
        return TeacherRole.allCases.map { role in
            let users = methods.filter { $0.teachers.contains(role) }.map { code($0.name) }.joined(separator: ", ")
            return "| `teachers.\(role.rawValue).checkpoint` | — | \(role.adjective) teacher (needed by \(users)); ours or a PyTorch `state_dict` |"
        }.joined(separator: "\n")
    }

    static var parameterRows: String {
        let uses = MethodRegistry.standard.methods.flatMap(\.parameters)
        return MethodRegistry.standard.parameterKeys.map { key in
            "| `method.\(key)` | the method's (see [Methods](#methods)) | \(uses.first { $0.key == key }!.help) |"
        }.joined(separator: "\n")
    }

    static var methods: String {
        let rows = MethodRegistry.standard.methods.map { m in
            let teachers = TeacherRole.allCases.filter(m.teachers.contains).map(\.adjective).joined(separator: ", ")
            let attack = m.attack.map { a in
                "\(a.start.rawValue) start" + (a.step == 2 / 255 && a.stepEps == 8 / 255 ? "" : ", step \(a.step.configText) · ε/\(a.stepEps.configText)")
            }
            let parameters = m.parameters.map { "\(code($0.key)) = \($0.defaultText)" }.joined(separator: ", ")
            return "| \(code(m.name)) | \(teachers.isEmpty ? "—" : teachers) | \(attack ?? "—") | \(parameters.isEmpty ? "—" : parameters) | \(m.summary) |"
        }
        return (["| method | teachers | training attack | parameters = default | what |", "|---|---|---|---|---|"] + rows).joined(separator: "\n")
    }

    static var modifiers: String {
        let rows = MethodRegistry.standard.modifiers.map { m in
            let parameters = m.parameters.map { "\(code($0.key)) = \($0.defaultText)" }.joined(separator: ", ")
            return "| \(code(m.key)) | \(m.appliesTo.description) | \(parameters.isEmpty ? "—" : parameters) | \(m.summary) |"
        }
        return (["| modifier | applies to | parameters = default | what |", "|---|---|---|---|"] + rows).joined(separator: "\n")
    }

    static var attacks: String {
        let rows = AttackRegistry.entries.map { "| \(code($0.name)) | \($0.help) | \($0.mode.rawValue) |" }
            + AttackRegistry.suites.map { "| \(code($0.name)) | \($0.help): \($0.members.map(code).joined(separator: ", ")) | suite |" }
        return (["| name | attack | mode |", "|---|---|---|"] + rows).joined(separator: "\n")
    }
}

/// The base method's loss × `factor`; everything else is the base's.
final class ScaledLoss<Base: Method>: MethodWrapper {
    typealias State = Base.State
    let base: Base
    let factor: Float
    init(base: Base, factor: Float) { self.base = base; self.factor = factor }

    func step(student: Model, x: Tensor, labels: [Int], context: inout StepContext) -> StepOutput {
        var out = base.step(student: student, x: x, labels: labels, context: &context)
        out.loss = factor * out.loss
        return out
    }
}

func scaledLoss<Base: Method>(_ base: Base, factor: Float) -> any Method { ScaledLoss(base: base, factor: factor) }
