import Engine
import Foundation
import Testing
@testable import NN

/// A checkpoint's claim about its model (our metadata, or its tensor shapes) is checked before the model is
/// built: `ModelZoo.stateElementCount` must agree with what `make` allocates, and a claim the file cannot
/// back is refused, naming the file and both counts, without allocating what it claims.
@Suite struct ModelClaimTests {
    /// Small specs of every architecture, varying classes, channels, input size, depth and width.
    static let specs: [ModelSpec] = [
        ModelSpec(arch: "smallcnn", numClasses: 2, inChannels: 1, inputSize: 4),
        ModelSpec(arch: "smallcnn", numClasses: 7, inChannels: 3, inputSize: 32),
        ModelSpec(arch: "tinycnn", numClasses: 100, inChannels: 1, inputSize: 28),
        ModelSpec(arch: "tinycnn", numClasses: 3, inChannels: 5, inputSize: 8),
        ModelSpec(arch: "resnet18", numClasses: 10, inChannels: 3, inputSize: 32),
        ModelSpec(arch: "resnet18", numClasses: 2, inChannels: 1, inputSize: 32),
        ModelSpec(arch: "preactresnet18", numClasses: 5, inChannels: 4, inputSize: 32),
        ModelSpec(arch: "mobilenetv2", numClasses: 10, inChannels: 3, inputSize: 32),
        ModelSpec(arch: "mobilenetv2", numClasses: 3, inChannels: 1, inputSize: 32),
        ModelSpec(arch: "resnet56", numClasses: 11, inChannels: 2, inputSize: 32),
        ModelSpec(arch: "trades-wrn-10-1", numClasses: 2, inChannels: 1, inputSize: 32),
        ModelSpec(arch: "trades-wrn-16-2", numClasses: 7, inChannels: 3, inputSize: 32),
        ModelSpec(arch: "trades-wrn-34-1", numClasses: 10, inChannels: 3, inputSize: 32),
        ModelSpec(arch: "dm-wrn-10-1", numClasses: 10, inChannels: 3, inputSize: 32),
        ModelSpec(arch: "dm-wrn-16-2", numClasses: 5, inChannels: 2, inputSize: 32),
        ModelSpec(arch: "wrn-22-3", numClasses: 3, inChannels: 1, inputSize: 32),
    ]

    @Test(arguments: specs)
    func countedElementsEqualTheBuiltModelsState(_ spec: ModelSpec) throws {
        var rng = SeededGenerator(seed: 0)
        let model = try ModelZoo.make(spec, rng: &rng)
        let built = model.state.reduce(0) { $0 + $1.tensor.count }
        #expect(try ModelZoo.stateElementCount(spec) == built, "\(spec)")
    }

    /// Every architecture still loads from a checkpoint of its own, with our metadata and (where the keys
    /// identify it) without, in which case the architecture is detected.
    @Test(arguments: specs)
    func legitimateCheckpointsStillLoad(_ spec: ModelSpec) throws {
        var rng = SeededGenerator(seed: 1)
        let model = try ModelZoo.make(spec, rng: &rng)
        let values = model.state.map(\.tensor.scalars)
        let file = Checkpoint.file(of: model)
        let loaded = try Checkpoint.model(from: file, source: "own.safetensors")
        #expect(loaded.spec == spec)
        #expect(loaded.state.map(\.tensor.scalars) == values)
        let bare = SafeTensorsFile(metadata: [:], entries: file.entries)
        #expect(try Checkpoint.model(from: bare, source: "pytorch.safetensors").state.map(\.tensor.scalars) == values)
        #expect(try Checkpoint.model(from: bare, source: "pytorch.safetensors", arch: spec.arch).state.map(\.tensor.scalars) == values)
    }

    /// Writes a small checkpoint whose metadata records `spec` (as our writer would) next to `entries`.
    static func file(claiming spec: ModelSpec?, entries: [SafeTensorsEntry], name: String) throws -> String {
        var metadata: [String: String] = [:]
        if let spec { metadata[Checkpoint.modelMetadataKey] = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self) }
        let path = tempPath(name)
        try SafeTensorsFile(metadata: metadata, entries: entries).write(to: path)
        return path
    }

    /// A few values under keys of the claimed model: far too few for it.
    static let fewValues = [
        SafeTensorsEntry(name: "fc2.bias", dtype: .f32, shape: [3], values: [0, 0, 0]),
    ]

    /// Loads `path` and returns the refusal's message, checking that refusing took well under a second
    /// (building any of these claims would allocate gigabytes or more, or take minutes).
    static func refusal(_ path: String, arch: String? = nil) throws -> String {
        var message: String?
        let elapsed = ContinuousClock().measure {
            do { _ = try Checkpoint.loadModel(path: path, arch: arch) } catch { message = "\(error)" }
        }
        #expect(elapsed < .seconds(1), "refusing \(path) took \(elapsed)")
        return try #require(message, "\(path) was loaded")
    }

    @Test func metadataClaimingAHundredBillionClassesIsRefusedNamingTheField() throws {
        let spec = ModelSpec(arch: "tinycnn", numClasses: 100_000_000_000, inChannels: 1, inputSize: 4)
        let path = try Self.file(claiming: spec, entries: Self.fewValues, name: "classes.safetensors")
        let message = try Self.refusal(path)
        #expect(message.hasPrefix(path))
        #expect(message.contains("metadata 'model' is not valid"))
        #expect(message.contains("num_classes must be in 2…1000000, got 100000000000"))
    }

    @Test(arguments: [
        (ModelSpec(arch: "tinycnn", numClasses: 10, inChannels: 1_000_000, inputSize: 28), "in_channels must be in 1…64, got 1000000"),
        (ModelSpec(arch: "smallcnn", numClasses: 10, inChannels: 1, inputSize: 1 << 40), "input_size must be in 1…4096, got 1099511627776"),
        (ModelSpec(arch: "dm-wrn-100000-100", numClasses: 10, inChannels: 3, inputSize: 32), "WRN depth must be 6n+4 in 10…1000, got 100000"),
        (ModelSpec(arch: "trades-wrn-100000-10", numClasses: 10, inChannels: 3, inputSize: 32), "WRN depth must be 6n+4 in 10…1000, got 100000"),
        (ModelSpec(arch: "dm-wrn-28-100", numClasses: 10, inChannels: 3, inputSize: 32), "WRN width must be in 1…64, got 100"),
    ])
    func metadataOutsideTheLimitsIsRefusedNamingTheField(_ spec: ModelSpec, _ expected: String) throws {
        let path = try Self.file(claiming: spec, entries: Self.fewValues, name: "limits.safetensors")
        let message = try Self.refusal(path)
        #expect(message.hasPrefix("\(path): metadata 'model' is not valid"))
        #expect(message.contains(expected), "\(message)")
    }

    /// Within every limit, but the file holds three values: the count check refuses it before building.
    @Test(arguments: [
        ModelSpec(arch: "dm-wrn-1000-64", numClasses: 1_000_000, inChannels: 64, inputSize: 32),
        ModelSpec(arch: "smallcnn", numClasses: 10, inChannels: 1, inputSize: 4096),
        ModelSpec(arch: "resnet18", numClasses: 10, inChannels: 3, inputSize: 32),
    ])
    func metadataClaimingMoreThanTheFileHoldsIsRefusedWithBothCounts(_ spec: ModelSpec) throws {
        let path = try Self.file(claiming: spec, entries: Self.fewValues, name: "big.safetensors")
        let needed = try ModelZoo.stateElementCount(spec)
        #expect(needed > 3)
        let message = try Self.refusal(path)
        #expect(message == "\(path): its metadata describes \(spec.arch) with \(spec.numClasses) classes and "
            + "\(spec.inChannels) input channels (\(spec.inputSize)×\(spec.inputSize)), which needs \(needed) values; the file holds 3")
    }

    /// No metadata: the TRADES WRN key pattern with zero-element tensors whose dimensions claim a huge width
    /// (or a large one within the limits), or a huge head.
    @Test func detectedArchitecturesAreCheckedLikeRecordedOnes() throws {
        func entry(_ name: String, _ shape: [Int]) -> SafeTensorsEntry {
            SafeTensorsEntry(name: name, dtype: .f32, shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *)))
        }
        let stem = entry("conv1.weight", [16, 3, 3, 3])
        let absurd = try Self.file(claiming: nil, entries: [
            stem, entry("block1.layer.0.conv1.weight", [1_600_000, 0, 3, 3]), entry("fc.weight", [10, 0]),
        ], name: "wide.safetensors")
        #expect(try Self.refusal(absurd)
            == "\(absurd): its tensor shapes describe an invalid model 'trades-wrn-10-100000': WRN width must be in 1…64, got 100000")

        let large = try Self.file(claiming: nil, entries: [
            stem, entry("block1.layer.0.conv1.weight", [1024, 0, 3, 3]), entry("fc.weight", [10, 0]),
        ], name: "wide64.safetensors")
        let spec = ModelSpec(arch: "trades-wrn-10-64", numClasses: 10, inChannels: 3, inputSize: 32)
        #expect(try Self.refusal(large) == "\(large): its tensor shapes describe trades-wrn-10-64 with 10 classes and 3 input "
            + "channels (32×32), which needs \(try ModelZoo.stateElementCount(spec)) values; the file holds 432")

        let head = try Self.file(claiming: nil, entries: [
            entry("init_conv.weight", [16, 3, 3, 3]), entry("logits.weight", [100_000_000_000, 0]),
        ], name: "head.safetensors")
        #expect(try Self.refusal(head)
            == "\(head): its tensor shapes describe an invalid model 'dm-wrn-4-1': num_classes must be in 2…1000000, got 100000000000")
        #expect(try Self.refusal(head, arch: "resnet18") == "\(head): the requested architecture, sized by its tensors, is "
            + "an invalid model 'resnet18': num_classes must be in 2…1000000, got 100000000000")
    }

    @Test func aRequestedArchitectureIsCheckedAgainstTheFile() throws {
        let path = try Self.file(claiming: nil, entries: Self.fewValues, name: "few.safetensors")
        // Nothing in the file names a head, so the class count is the default 10.
        let spec = ModelZoo.defaultSpec(arch: "resnet18")
        #expect(try Self.refusal(path, arch: "resnet18") == "\(path): the requested architecture, sized by its tensors, is resnet18 with 10 classes and 3 input "
            + "channels (32×32), which needs \(try ModelZoo.stateElementCount(spec)) values; the file holds 3")
    }

    /// The crafted files committed to the fuzz corpus (Tests/Fixtures/fuzz/safetensors/regressions/oom-…),
    /// which the safetensors harness now takes through the same path, are refused the same way.
    @Test(arguments: [
        ("oom-metadata-1e11-classes.safetensors", "num_classes must be in 2…1000000, got 100000000000"),
        ("oom-metadata-dm-wrn-100000-100.safetensors", "WRN depth must be 6n+4 in 10…1000, got 100000"),
        ("oom-detect-trades-wrn-width-100000.safetensors", "WRN width must be in 1…64, got 100000"),
    ])
    func committedRegressionInputsAreRefused(_ name: String, _ expected: String) throws {
        let message = try Self.refusal(Self.regression(name))
        #expect(message.hasPrefix(Self.regression(name)) && message.contains(expected), "\(message)")
    }

    @Test func theCommittedTinyFileClaimingAWideResNetIsRefusedWithBothCounts() throws {
        let path = Self.regression("oom-metadata-dm-wrn-1000-64-in-a-tiny-file.safetensors")
        let needed = try ModelZoo.stateElementCount(ModelSpec(arch: "dm-wrn-1000-64", inChannels: 3, inputSize: 32))
        #expect(try Self.refusal(path) == "\(path): its metadata describes dm-wrn-1000-64 with 10 classes and 3 input "
            + "channels (32×32), which needs \(needed) values; the file holds 3")
    }

    static func regression(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/safetensors/regressions/\(name)").path
    }
}
