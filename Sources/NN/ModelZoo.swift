import Engine

/// Architectures by name, one entry each: the table that building, counting, detection, help texts,
/// Configs/README's list and the tests read. Adding one is one file in Models/ plus one entry in `entries`.
public enum ModelZoo {
    /// One architecture, or a family of them (a WideResNet's depth and width are part of its name).
    public struct Architecture: Sendable {
        /// The name as a config or `--model` writes it; D and W stand for a WideResNet's depth and width.
        public let name: String
        /// A few words for help texts and Configs/README (the layout, aliases); may be empty.
        public let help: String
        /// A name of this entry that the tests build (small where the entry is a family).
        public let example: String
        /// The input it usually takes: channels and side.
        let channels: Int, inputSize: Int
        /// The canonical form of `arch` when it is one of this entry's names ("wrn-34-10" → "trades-wrn-34-10"),
        /// nil when it is not; throws for one of its names with parameters out of range.
        let canonical: @Sendable (_ arch: String) throws -> String?
        /// What a model of a valid spec whose canonical name is this entry's consists of.
        let blueprint: @Sendable (_ spec: ModelSpec, _ canonical: String) throws -> Blueprint
        /// The spec of a PyTorch state_dict of this architecture, read off its keys and shapes; nil when the
        /// keys are not this architecture's. No two entries detect the same model (a test checks).
        let detect: @Sendable (StateShapes) -> ModelSpec?
    }

    /// What `make` builds for a spec and what `stateElementCount` counts: one decision for both, taken
    /// after the spec is checked against `ModelSpec`'s limits (which also keep the counts far from overflow).
    struct Blueprint {
        let make: (inout SeededGenerator) -> Model
        let elementCount: () -> Int
    }

    public static let entries: [Architecture] = [
        smallCNN("smallcnn", widths: (32, 64, 128), hidden: 256) { $0 != 16 },
        smallCNN("tinycnn", widths: (16, 32, 64), hidden: 128) { $0 == 16 },
        named("resnet18", "CIFAR layout", detect: { $0.has("layer4.1.conv2.weight") && $0.has("bn1.weight") ? $0.cifarSpec(head: "linear") : nil }) { spec in
            Blueprint(make: { ResNet(spec: spec, widths: [64, 128, 256, 512], blocksPerStage: 2, rng: &$0) },
                      elementCount: { ResNet.elementCount(spec: spec, widths: [64, 128, 256, 512], blocksPerStage: 2) })
        },
        named("preactresnet18", "CIFAR layout", detect: { $0.has("layer4.1.conv2.weight") && !$0.has("bn1.weight") ? $0.cifarSpec(head: "linear") : nil }) { spec in
            Blueprint(make: { PreActResNet18(spec: spec, rng: &$0) }, elementCount: { PreActResNet18.elementCount(spec: spec) })
        },
        named("mobilenetv2", "CIFAR layout", detect: { $0.has("layers.0.conv1.weight") ? $0.cifarSpec(head: "linear") : nil }) { spec in
            Blueprint(make: { MobileNetV2(spec: spec, rng: &$0) }, elementCount: { MobileNetV2.elementCount(spec: spec) })
        },
        named("resnet56", "CIFAR layout, for clean teachers",
              detect: { $0.has("layer3.8.conv2.weight") && !$0.has("layer4.0.conv1.weight") ? $0.cifarSpec(head: "linear") : nil }) { spec in
            Blueprint(make: { ResNet(spec: spec, widths: [16, 32, 64], blocksPerStage: 9, rng: &$0) },
                      elementCount: { ResNet.elementCount(spec: spec, widths: [16, 32, 64], blocksPerStage: 9) })
        },
        wideResNet("trades", help: "TRADES layout; wrn-34-10 is trades-wrn-34-10", example: "trades-wrn-10-1",
                   alias: { $0 == "wrn-34-10" ? "trades-wrn-34-10" : nil },
                   detect: { shapes in
                       guard let inChannels = shapes.dim("conv1.weight", 1), shapes.has("block1.layer.0.conv1.weight"),
                             let k = shapes.classes("fc") else { return nil }
                       let blocks = (0...).prefix { shapes.has("block1.layer.\($0).conv1.weight") }.count
                       let width = (shapes.dim("block1.layer.0.conv1.weight", 0) ?? 16) / 16
                       let arch = (blocks == 5 && width == 10) ? "wrn-34-10" : "trades-wrn-\(6 * blocks + 4)-\(width)"
                       return ModelSpec(arch: arch, numClasses: k, inChannels: inChannels, inputSize: 32)
                   }) { spec, depth, width in
            Blueprint(make: { TradesWideResNet(spec: spec, depth: depth, widen: width, rng: &$0) },
                      elementCount: { TradesWideResNet.elementCount(spec: spec, depth: depth, widen: width) })
        },
        wideResNet("dm", help: "DeepMind layout, Swish; also wrn-D-W other than 34-10", example: "dm-wrn-10-1",
                   alias: { $0.hasPrefix("wrn-") && $0 != "wrn-34-10" ? "dm-" + $0 : nil },
                   detect: { shapes in
                       guard let inChannels = shapes.dim("init_conv.weight", 1), let k = shapes.classes("logits") else { return nil }
                       let blocks = (0...).prefix { shapes.has("layer.0.block.\($0).conv_0.weight") }.count
                       let width = (shapes.dim("layer.0.block.0.conv_0.weight", 0) ?? 16) / 16
                       return ModelSpec(arch: "dm-wrn-\(6 * blocks + 4)-\(width)", numClasses: k, inChannels: inChannels, inputSize: 32)
                   }) { spec, depth, width in
            Blueprint(make: { DMWideResNet(spec: spec, depth: depth, width: width, rng: &$0) },
                      elementCount: { DMWideResNet.elementCount(spec: spec, depth: depth, width: width) })
        },
    ]

    /// Names accepted by `make`, with their few words, for help texts and error messages.
    public static var names: [String] { entries.map { $0.help.isEmpty ? $0.name : "\($0.name) (\($0.help))" } }

    /// Builds a freshly initialised model (PyTorch's default initialisation, drawn from `rng`).
    public static func make(_ spec: ModelSpec, rng: inout SeededGenerator) throws -> Model {
        try blueprint(spec).make(&rng)
    }

    /// How many values `make(spec)` would allocate — every tensor of its `state`, parameters and buffers —
    /// worked out without allocating them, so that a file's claim about its model can be checked against
    /// what the file holds before the model is built. Throws what `make` throws for an invalid spec.
    public static func stateElementCount(_ spec: ModelSpec) throws -> Int {
        try blueprint(spec).elementCount()
    }

    static func blueprint(_ spec: ModelSpec) throws -> Blueprint {
        try spec.validate()
        let (entry, name) = try resolve(spec.arch)
        return try entry.blueprint(spec, name)
    }

    /// The entry `arch` names and its canonical name; throws for unknown names with the list of known ones.
    static func resolve(_ arch: String) throws -> (Architecture, String) {
        for entry in entries { if let name = try entry.canonical(arch) { return (entry, name) } }
        throw ModelZooError.unknownArchitecture(arch)
    }

    /// Maps aliases to canonical names; throws for unknown names with the list of known ones.
    static func canonicalName(_ arch: String) throws -> String { try resolve(arch).1 }

    /// The usual input geometry of an architecture: 28×28 grey for the small CNNs, 32×32 RGB otherwise.
    public static func defaultSpec(arch: String, numClasses: Int = 10, inChannels: Int? = nil,
                                   inputSize: Int? = nil) -> ModelSpec {
        let entry = (try? resolve(arch))?.0
        return ModelSpec(arch: arch, numClasses: numClasses, inChannels: inChannels ?? entry?.channels ?? 3,
                         inputSize: inputSize ?? entry?.inputSize ?? 32)
    }

    /// Guesses the architecture of a PyTorch state_dict from its keys and shapes (for files without our
    /// metadata). Returns nil when nothing fits, including when a tensor it reads has too few dimensions
    /// (a hostile or corrupt file: a 1-D `conv1.weight` once made this trap).
    public static func detect(shapes: [String: [Int]]) -> ModelSpec? {
        let shapes = StateShapes(shapes)
        return entries.lazy.compactMap { $0.detect(shapes) }.first
    }

    /// A state_dict's tensor shapes, as the detectors read them.
    struct StateShapes {
        let shapes: [String: [Int]]
        init(_ shapes: [String: [Int]]) { self.shapes = shapes }

        func has(_ key: String) -> Bool { shapes[key] != nil }
        /// Dimension `i` of the tensor called `key`, nil if it is absent or has fewer dimensions.
        func dim(_ key: String, _ i: Int) -> Int? {
            guard let shape = shapes[key], i < shape.count else { return nil }
            return shape[i]
        }
        /// The class count of a linear head.
        func classes(_ head: String) -> Int? { dim(head + ".weight", 0) }

        /// A CIFAR-layout model with a `conv1` stem and a `head` classifier on 32×32 images.
        func cifarSpec(head: String) -> (inChannels: Int, classes: Int)? {
            guard dim("conv1.weight", 0) != nil, let inChannels = dim("conv1.weight", 1), let k = classes(head) else { return nil }
            return (inChannels, k)
        }
    }

    // MARK: Entry builders

    /// An architecture with one name, on 3×32×32 input, whose detector gives the stem's channels and the classes.
    private static func named(_ name: String, _ help: String,
                              detect: @escaping @Sendable (StateShapes) -> (inChannels: Int, classes: Int)?,
                              blueprint: @escaping @Sendable (ModelSpec) -> Blueprint) -> Architecture {
        Architecture(name: name, help: help, example: name, channels: 3, inputSize: 32,
                     canonical: { $0 == name ? name : nil }, blueprint: { spec, _ in blueprint(spec) },
                     detect: { shapes in
                         detect(shapes).map { ModelSpec(arch: name, numClasses: $0.classes, inChannels: $0.inChannels, inputSize: 32) }
                     })
    }

    /// The small CNNs for 28×28 grey images (any side that is a multiple of 4); `stem` tells them apart by the
    /// first convolution's output channels.
    private static func smallCNN(_ name: String, widths: (Int, Int, Int), hidden: Int,
                                 stem: @escaping @Sendable (Int) -> Bool) -> Architecture {
        Architecture(
            name: name, help: "", example: name, channels: 1, inputSize: 28,
            canonical: { $0 == name ? name : nil },
            blueprint: { spec, _ in
                guard spec.inputSize % 4 == 0 else {
                    throw ModelZooError.invalid(spec.arch, "input_size must be a multiple of 4, got \(spec.inputSize)")
                }
                return Blueprint(make: { SmallCNN(spec: spec, widths: widths, hidden: hidden, rng: &$0) },
                                 elementCount: { SmallCNN.elementCount(spec: spec, widths: widths, hidden: hidden) })
            },
            detect: { shapes in
                guard let stemOut = shapes.dim("conv1.weight", 0), stem(stemOut), let inChannels = shapes.dim("conv1.weight", 1),
                      shapes.has("conv3.weight"), let fc1Inputs = shapes.dim("fc1.weight", 1), let k = shapes.classes("fc2") else { return nil }
                let c3 = shapes.dim("conv3.weight", 0) ?? 1
                let side = Int((Double(fc1Inputs / max(c3, 1))).squareRoot().rounded())
                return ModelSpec(arch: name, numClasses: k, inChannels: inChannels, inputSize: side * 4)
            })
    }

    /// A WideResNet family `<layout>-wrn-D-W` (depth D = 6n + 4 within `wrnDepths`, width W within `wrnWidths`).
    private static func wideResNet(_ layout: String, help: String, example: String,
                                   alias: @escaping @Sendable (String) -> String?,
                                   detect: @escaping @Sendable (StateShapes) -> ModelSpec?,
                                   blueprint: @escaping @Sendable (ModelSpec, _ depth: Int, _ width: Int) -> Blueprint) -> Architecture {
        Architecture(
            name: "\(layout)-wrn-D-W", help: help, example: example, channels: 3, inputSize: 32,
            canonical: { arch in
                guard let name = arch.hasPrefix("\(layout)-wrn-") ? arch : alias(arch) else { return nil }
                _ = try parseWRN(name)
                return name
            },
            blueprint: { spec, name in
                let (_, depth, width) = try parseWRN(name)
                return blueprint(spec, depth, width)
            },
            detect: detect)
    }

    /// "trades-wrn-34-10" → ("trades", 34, 10). Depth must be 6n + 4 within `wrnDepths`, width within `wrnWidths`.
    static func parseWRN(_ name: String) throws -> (String, Int, Int) {
        let parts = name.split(separator: "-")
        guard parts.count == 4, parts[1] == "wrn", parts[0] == "trades" || parts[0] == "dm",
              let depth = Int(parts[2]), let width = Int(parts[3])
        else { throw ModelZooError.unknownArchitecture(name) }
        guard wrnDepths.contains(depth), (depth - 4) % 6 == 0 else {
            throw ModelZooError.invalid(name, "WRN depth must be 6n+4 in \(wrnDepths.lowerBound)…\(wrnDepths.upperBound), got \(depth)")
        }
        guard wrnWidths.contains(width) else {
            throw ModelZooError.invalid(name, "WRN width must be in \(wrnWidths.lowerBound)…\(wrnWidths.upperBound), got \(width)")
        }
        return (String(parts[0]), depth, width)
    }

    /// WideResNet depths and widths accepted: the published robust models go up to WRN-106-16 (Gowal et al.,
    /// Wang et al.); these bounds leave ample room while keeping a name like `dm-wrn-100000-100` from
    /// describing a model of 10^13 values.
    public static let wrnDepths = 10...1000
    public static let wrnWidths = 1...64
}

public enum ModelZooError: Error, CustomStringConvertible, Equatable {
    case unknownArchitecture(String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .unknownArchitecture(let name):
            "unknown architecture '\(name)'; known: \(ModelZoo.names.joined(separator: ", ")) (WRN depth must be 6n+4)"
        case .invalid(let arch, let why): "invalid model '\(arch)': \(why)"
        }
    }
}
