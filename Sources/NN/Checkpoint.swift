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

    /// A model's state as a safetensors file (F32; `num_batches_tracked` as I64 like PyTorch).
    public static func file(of model: Model, metadata: [String: String] = [:],
                            extra: [SafeTensorsEntry] = []) -> SafeTensorsFile {
        var meta = metadata
        meta[modelMetadataKey] = String(decoding: (try? JSONEncoder().encode(model.spec)) ?? Data(), as: UTF8.self)
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

    /// The spec recorded in our metadata, if any.
    public static func spec(in file: SafeTensorsFile, source: String) throws -> ModelSpec? {
        guard let json = file.metadata[modelMetadataKey] else { return nil }
        do { return try JSONDecoder().decode(ModelSpec.self, from: Data(json.utf8)) }
        catch { throw CheckpointError.badMetadata(file: source, key: modelMetadataKey, reason: "\(error)") }
    }

    /// Reads a checkpoint and builds its model. `arch` is required when the file has no metadata and
    /// overrides detection; an `arch` that contradicts our metadata is an error.
    public static func loadModel(path: String, arch: String? = nil, inputSize: Int? = nil) throws -> (Model, SafeTensorsFile) {
        let file = try SafeTensorsFile.read(path: path)
        var spec: ModelSpec
        if let recorded = try Self.spec(in: file, source: path) {
            if let arch, try ModelZoo.canonicalName(arch) != ModelZoo.canonicalName(recorded.arch) {
                throw CheckpointError.architectureConflict(file: path, requested: arch, recorded: recorded.arch)
            }
            spec = recorded
        } else {
            let shapes = modelShapes(file)
            if let arch {
                _ = try ModelZoo.canonicalName(arch)
                let detected = ModelZoo.detect(shapes: shapes)
                spec = ModelZoo.defaultSpec(arch: arch, numClasses: detected?.numClasses ?? 10,
                                            inChannels: detected?.inChannels, inputSize: detected?.inputSize)
                if detected == nil, let head = headClasses(shapes) { spec.numClasses = head }
            } else if let detected = ModelZoo.detect(shapes: shapes) {
                spec = detected
            } else {
                throw CheckpointError.noArchitecture(file: path)
            }
        }
        if let inputSize { spec.inputSize = inputSize }
        var rng = SeededGenerator(seed: 0)
        let model = try ModelZoo.make(spec, rng: &rng)
        try load(file, into: model, source: path)
        return (model, file)
    }

    /// Copies the file's tensors into the model, checking that the key sets and shapes match exactly.
    public static func load(_ file: SafeTensorsFile, into model: Model, source: String) throws {
        var byKey: [String: SafeTensorsEntry] = [:]
        for e in file.entries {
            let key = normalizedKey(e.name)
            if key.hasPrefix(reservedPrefix) || key.hasPrefix("sub_block1.") { continue }
            byKey[key] = e
        }
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

public enum CheckpointError: Error, CustomStringConvertible {
    case keyMismatch(file: String, arch: String, missing: [String], unexpected: [String])
    case shapeMismatch(file: String, key: String, expected: [Int], found: [Int])
    case noArchitecture(file: String)
    case architectureConflict(file: String, requested: String, recorded: String)
    case badMetadata(file: String, key: String, reason: String)

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
            return "\(file) has no AdvDistill metadata and its keys match no known architecture; pass --model (one of: \(ModelZoo.architectures.joined(separator: ", ")))"
        case let .architectureConflict(file, requested, recorded):
            return "\(file) was saved as '\(recorded)' but --model says '\(requested)'"
        case let .badMetadata(file, key, reason):
            return "\(file): metadata '\(key)' is not valid: \(reason)"
        }
    }
}
