import Engine
import Foundation

/// Model weights ⇄ safetensors files with PyTorch's state_dict keys.
///
/// Our files carry the `ModelSpec` as JSON in `__metadata__["model"]`, so `eval --checkpoint` needs no other
/// flags; a file saved by PyTorch (`safetensors.torch.save_file(model.state_dict(), path)`) loads with
/// `arch` given (`--model`), the class and channel counts read off the tensors. A leading `module.`
/// (DataParallel) is stripped; TRADES' unused `sub_block1.*` is ignored; tensors under
/// `Checkpoint.reservedPrefix` (optimizer and trainer state) are not model state.
public enum Checkpoint {
    public static let modelMetadataKey = "model"
    public static let reservedPrefix = "advdistill."

    /// The file's model tensors: every entry outside `reservedPrefix` (optimizer and trainer state), in file order.
    public static func modelEntries(of file: SafeTensorsFile) -> [SafeTensorsEntry] {
        file.entries.filter { !$0.name.hasPrefix(reservedPrefix) }
    }

    /// A model's state as a safetensors file (F32; `num_batches_tracked` as I64 like PyTorch).
    public static func file(of model: Model, metadata: [String: String] = [:],
                            extra: [SafeTensorsEntry] = []) -> SafeTensorsFile {
        var meta = metadata
        meta[modelMetadataKey] = model.spec.metadataJSON
        let entries = model.state.map { e in
            SafeTensorsEntry(name: e.key, dtype: e.key.hasSuffix("num_batches_tracked") ? .i64 : .f32,
                             shape: e.tensor.shape, values: e.tensor.scalars)
        }
        return SafeTensorsFile(metadata: meta, entries: entries + extra)
    }

    /// Writes the model atomically.
    public static func save(_ model: Model, to path: String, metadata: [String: String] = [:],
                            extra: [SafeTensorsEntry] = []) throws {
        try file(of: model, metadata: metadata, extra: extra).write(to: path)
    }

    /// The spec recorded in our metadata, if any, checked against `ModelSpec`'s limits and the zoo's names.
    public static func spec(in file: SafeTensorsFile, source: String) throws -> ModelSpec? {
        guard let json = file.metadata[modelMetadataKey] else { return nil }
        let spec: ModelSpec
        do { spec = try JSONDecoder().decode(ModelSpec.self, from: Data(json.utf8)) }
        catch { throw CheckpointError.badMetadata(file: source, key: modelMetadataKey, reason: "\(error)") }
        do { _ = try ModelZoo.blueprint(spec) }
        catch { throw CheckpointError.badMetadata(file: source, key: modelMetadataKey, reason: "\(error)") }
        return spec
    }

    /// Reads a checkpoint and builds its model (see `model(from:source:arch:inputSize:)`).
    public static func loadModel(path: String, arch: String? = nil, inputSize: Int? = nil) throws -> (Model, SafeTensorsFile) {
        let file = try SafeTensorsFile.read(path: path)
        return (try model(from: file, source: path, arch: arch, inputSize: inputSize), file)
    }

    /// Builds the model a parsed file describes and copies its tensors in. `arch` is required when the file
    /// has no metadata and overrides detection; an `arch` that contradicts our metadata is an error.
    ///
    /// The file's claim (metadata, or its tensor shapes) is checked before anything is allocated: the spec
    /// must be within `ModelSpec`'s limits, and the model must not need more values than the file's model
    /// tensors hold — a real checkpoint holds every one, so a small file claiming a huge model is refused
    /// instead of allocating what it claims.
    public static func model(from file: SafeTensorsFile, source: String, arch: String? = nil,
                             inputSize: Int? = nil) throws -> Model {
        var (spec, claim) = try claimedSpec(file, source: source, arch: arch)
        if let inputSize { spec.inputSize = inputSize }
        let needed: Int
        do { needed = try ModelZoo.stateElementCount(spec) }
        catch { throw CheckpointError.invalidModel(file: source, claim: claim, reason: "\(error)") }
        let held = modelEntries(file).values.reduce(0) { $0 + $1.values.count }
        guard needed <= held else {
            throw CheckpointError.modelExceedsFile(file: source, claim: claim, spec: spec, needed: needed, held: held)
        }
        var rng = SeededGenerator(seed: 0)
        let model = try ModelZoo.make(spec, rng: &rng)
        try load(file, into: model, source: source)
        return model
    }

    /// The spec the file claims and where the claim comes from: our metadata, `arch` with the class and
    /// channel counts read off the tensors, or detection from the tensor keys and shapes.
    static func claimedSpec(_ file: SafeTensorsFile, source: String, arch: String?) throws -> (ModelSpec, ModelClaim) {
        if let recorded = try Self.spec(in: file, source: source) {
            if let arch, try ModelZoo.canonicalName(arch) != ModelZoo.canonicalName(recorded.arch) {
                throw CheckpointError.architectureConflict(file: source, requested: arch, recorded: recorded.arch)
            }
            return (recorded, .metadata)
        }
        let shapes = modelShapes(file)
        if let arch {
            _ = try ModelZoo.canonicalName(arch)
            let detected = ModelZoo.detect(shapes: shapes)
            var spec = ModelZoo.defaultSpec(arch: arch, numClasses: detected?.numClasses ?? 10,
                                            inChannels: detected?.inChannels, inputSize: detected?.inputSize)
            if detected == nil, let head = headClasses(shapes) { spec.numClasses = head }
            return (spec, .requested)
        }
        guard let detected = ModelZoo.detect(shapes: shapes) else { throw CheckpointError.noArchitecture(file: source) }
        return (detected, .tensorShapes)
    }

    /// Copies the file's tensors into the model, checking that the key sets and shapes match exactly.
    public static func load(_ file: SafeTensorsFile, into model: Model, source: String) throws {
        let byKey = modelEntries(file)
        let state = model.state
        let expected = Set(state.map(\.key))
        let missing = state.map(\.key).filter { byKey[$0] == nil }
        let unexpected = byKey.keys.filter { !expected.contains($0) }.sorted()
        if !missing.isEmpty || !unexpected.isEmpty {
            throw CheckpointError.keyMismatch(file: source, arch: model.spec.arch, missing: missing, unexpected: unexpected)
        }
        for s in state {
            let e = byKey[s.key]!
            // PyTorch saves num_batches_tracked as a 0-d tensor: shapes [] and [1] both hold one value.
            let sameShape = e.shape == s.tensor.shape || (e.values.count == 1 && s.tensor.count == 1)
            guard sameShape, e.values.count == s.tensor.count else {
                throw CheckpointError.shapeMismatch(file: source, key: s.key, expected: s.tensor.shape, found: e.shape)
            }
        }
        for s in state {
            byKey[s.key]!.values.withUnsafeBufferPointer { s.tensor.data.update(from: $0.baseAddress!, count: s.tensor.count) }
        }
    }

    /// The architecture the file's keys and shapes suggest (files without our metadata).
    public static func detectedSpec(_ file: SafeTensorsFile) -> ModelSpec? { ModelZoo.detect(shapes: modelShapes(file)) }

    /// The file's tensors that are model state, by normalised key: not our training state, not TRADES'
    /// unused `sub_block1`.
    static func modelEntries(_ file: SafeTensorsFile) -> [String: SafeTensorsEntry] {
        var byKey: [String: SafeTensorsEntry] = [:]
        for e in file.entries {
            let key = normalizedKey(e.name)
            if key.hasPrefix(reservedPrefix) || key.hasPrefix("sub_block1.") { continue }
            byKey[key] = e
        }
        return byKey
    }

    static func normalizedKey(_ name: String) -> String {
        name.hasPrefix("module.") ? String(name.dropFirst("module.".count)) : name
    }

    static func modelShapes(_ file: SafeTensorsFile) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for e in file.entries where !e.name.hasPrefix(reservedPrefix) { shapes[normalizedKey(e.name)] = e.shape }
        return shapes
    }

    /// Rows of the last 2-D weight whose key names a classifier head.
    static func headClasses(_ shapes: [String: [Int]]) -> Int? {
        for head in ["linear", "fc", "fc2", "logits"] { if let s = shapes[head + ".weight"], s.count == 2 { return s[0] } }
        return nil
    }
}

/// Where the architecture a checkpoint is loaded as comes from, for error messages.
public enum ModelClaim: Sendable, Equatable {
    /// Our `model` metadata.
    case metadata
    /// Detected from the tensor keys and shapes (a file without our metadata).
    case tensorShapes
    /// Given by the caller (`--model`, a teacher's `arch`), with class and channel counts read off the tensors.
    case requested

    var describes: String {
        switch self {
        case .metadata: "its metadata describes"
        case .tensorShapes: "its tensor shapes describe"
        case .requested: "the requested architecture, sized by its tensors, is"
        }
    }
}

public enum CheckpointError: Error, CustomStringConvertible {
    case keyMismatch(file: String, arch: String, missing: [String], unexpected: [String])
    case shapeMismatch(file: String, key: String, expected: [Int], found: [Int])
    case noArchitecture(file: String)
    case architectureConflict(file: String, requested: String, recorded: String)
    case badMetadata(file: String, key: String, reason: String)
    case invalidModel(file: String, claim: ModelClaim, reason: String)
    case modelExceedsFile(file: String, claim: ModelClaim, spec: ModelSpec, needed: Int, held: Int)

    public var description: String {
        func list(_ keys: [String]) -> String {
            keys.count <= 8 ? keys.joined(separator: ", ") : keys.prefix(8).joined(separator: ", ") + ", … (\(keys.count) in all)"
        }
        switch self {
        case let .keyMismatch(file, arch, missing, unexpected):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys: \(list(missing))") }
            if !unexpected.isEmpty { parts.append("unexpected keys: \(list(unexpected))") }
            return "\(file) does not match architecture '\(arch)': " + parts.joined(separator: "; ")
                + " (is --model right?)"
        case let .shapeMismatch(file, key, expected, found):
            return "\(file): tensor '\(key)' has shape \(found), the model expects \(expected) (wrong --model, classes or channels?)"
        case let .noArchitecture(file):
            return "\(file) has no AdvDistill metadata and its keys match no known architecture; pass --model (one of: \(ModelZoo.names.joined(separator: ", ")))"
        case let .architectureConflict(file, requested, recorded):
            return "\(file) was saved as '\(recorded)' but --model says '\(requested)'"
        case let .badMetadata(file, key, reason):
            return "\(file): metadata '\(key)' is not valid: \(reason)"
        case let .invalidModel(file, claim, reason):
            return "\(file): \(claim.describes) an \(reason)"
        case let .modelExceedsFile(file, claim, spec, needed, held):
            return "\(file): \(claim.describes) \(spec.arch) with \(spec.numClasses) classes and \(spec.inChannels) input "
                + "channels (\(spec.inputSize)×\(spec.inputSize)), which needs \(needed) values; the file holds \(held)"
        }
    }
}

extension ModelSpec {
    /// The spec as the JSON that checkpoints and ONNX exports carry, keys sorted: the same spec always gives the same
    /// bytes, so two runs that train the same weights write byte-identical model files.
    public var metadataJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
