import Engine

/// Architectures by name. Adding one is one file in Models/ plus one case here.
public enum ModelZoo {
    /// Names accepted by `make`, for help texts and error messages.
    public static let architectures = [
        "smallcnn", "tinycnn", "resnet18", "preactresnet18", "mobilenetv2", "resnet56",
        "wrn-34-10 (TRADES layout)", "trades-wrn-D-W", "dm-wrn-D-W (also wrn-D-W other than 34-10)",
    ]

    /// Builds a freshly initialised model (PyTorch's default initialisation, drawn from `rng`).
    public static func make(_ spec: ModelSpec, rng: inout SeededGenerator) throws -> Model {
        switch try blueprint(spec) {
        case let .smallCNN(widths, hidden): return SmallCNN(spec: spec, widths: widths, hidden: hidden, rng: &rng)
        case let .resNet(widths, blocks): return ResNet(spec: spec, widths: widths, blocksPerStage: blocks, rng: &rng)
        case .preActResNet18: return PreActResNet18(spec: spec, rng: &rng)
        case .mobileNetV2: return MobileNetV2(spec: spec, rng: &rng)
        case let .tradesWRN(depth, width): return TradesWideResNet(spec: spec, depth: depth, widen: width, rng: &rng)
        case let .dmWRN(depth, width): return DMWideResNet(spec: spec, depth: depth, width: width, rng: &rng)
        }
    }

    /// How many values `make(spec)` would allocate — every tensor of its `state`, parameters and buffers —
    /// worked out without allocating them, so that a file's claim about its model can be checked against
    /// what the file holds before the model is built. Throws what `make` throws for an invalid spec.
    public static func stateElementCount(_ spec: ModelSpec) throws -> Int {
        switch try blueprint(spec) {
        case let .smallCNN(widths, hidden): SmallCNN.elementCount(spec: spec, widths: widths, hidden: hidden)
        case let .resNet(widths, blocks): ResNet.elementCount(spec: spec, widths: widths, blocksPerStage: blocks)
        case .preActResNet18: PreActResNet18.elementCount(spec: spec)
        case .mobileNetV2: MobileNetV2.elementCount(spec: spec)
        case let .tradesWRN(depth, width): TradesWideResNet.elementCount(spec: spec, depth: depth, widen: width)
        case let .dmWRN(depth, width): DMWideResNet.elementCount(spec: spec, depth: depth, width: width)
        }
    }

    /// What `make` builds for a spec and what `stateElementCount` counts: one decision for both, taken
    /// after the spec is checked against `ModelSpec`'s limits (which also keep the counts far from overflow).
    enum Blueprint {
        case smallCNN(widths: (Int, Int, Int), hidden: Int)
        case resNet(widths: [Int], blocksPerStage: Int)
        case preActResNet18
        case mobileNetV2
        case tradesWRN(depth: Int, width: Int)
        case dmWRN(depth: Int, width: Int)
    }

    static func blueprint(_ spec: ModelSpec) throws -> Blueprint {
        try spec.validate()
        switch try canonicalName(spec.arch) {
        case "smallcnn", "tinycnn":
            guard spec.inputSize % 4 == 0 else {
                throw ModelZooError.invalid(spec.arch, "input_size must be a multiple of 4, got \(spec.inputSize)")
            }
            return spec.arch == "smallcnn" ? .smallCNN(widths: (32, 64, 128), hidden: 256) : .smallCNN(widths: (16, 32, 64), hidden: 128)
        case "resnet18": return .resNet(widths: [64, 128, 256, 512], blocksPerStage: 2)
        case "resnet56": return .resNet(widths: [16, 32, 64], blocksPerStage: 9)
        case "preactresnet18": return .preActResNet18
        case "mobilenetv2": return .mobileNetV2
        case let name:
            let (layout, depth, width) = try parseWRN(name)
            return layout == "trades" ? .tradesWRN(depth: depth, width: width) : .dmWRN(depth: depth, width: width)
        }
    }

    /// The usual input geometry of an architecture: 28×28 grey for the small CNNs, 32×32 RGB otherwise.
    public static func defaultSpec(arch: String, numClasses: Int = 10, inChannels: Int? = nil,
                                   inputSize: Int? = nil) -> ModelSpec {
        let small = arch == "smallcnn" || arch == "tinycnn"
        return ModelSpec(arch: arch, numClasses: numClasses, inChannels: inChannels ?? (small ? 1 : 3),
                         inputSize: inputSize ?? (small ? 28 : 32))
    }

    /// Maps aliases to canonical names; throws for unknown names with the list of known ones.
    static func canonicalName(_ arch: String) throws -> String {
        switch arch {
        case "smallcnn", "tinycnn", "resnet18", "resnet56", "preactresnet18", "mobilenetv2": return arch
        case "wrn-34-10": return "trades-wrn-34-10"
        default:
            if arch.hasPrefix("trades-wrn-") || arch.hasPrefix("dm-wrn-") {
                _ = try parseWRN(arch); return arch
            }
            if arch.hasPrefix("wrn-") { let name = "dm-" + arch; _ = try parseWRN(name); return name }
            throw ModelZooError.unknownArchitecture(arch)
        }
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

    /// Guesses the architecture of a PyTorch state_dict from its keys and shapes (for files without our
    /// metadata). Returns nil when nothing fits, including when a tensor it reads has too few dimensions
    /// (a hostile or corrupt file: a 1-D `conv1.weight` once made this trap).
    public static func detect(shapes: [String: [Int]]) -> ModelSpec? {
        func has(_ k: String) -> Bool { shapes[k] != nil }
        /// Dimension `i` of the tensor called `key`, nil if it is absent or has fewer dimensions.
        func dim(_ key: String, _ i: Int) -> Int? {
            guard let shape = shapes[key], i < shape.count else { return nil }
            return shape[i]
        }
        func classes(_ head: String) -> Int? { dim(head + ".weight", 0) }
        if let inChannels = dim("init_conv.weight", 1), let k = classes("logits") {
            let blocks = (0...).prefix { has("layer.0.block.\($0).conv_0.weight") }.count
            let width = (dim("layer.0.block.0.conv_0.weight", 0) ?? 16) / 16
            return ModelSpec(arch: "dm-wrn-\(6 * blocks + 4)-\(width)", numClasses: k, inChannels: inChannels, inputSize: 32)
        }
        if let inChannels = dim("conv1.weight", 1), has("block1.layer.0.conv1.weight"), let k = classes("fc") {
            let blocks = (0...).prefix { has("block1.layer.\($0).conv1.weight") }.count
            let width = (dim("block1.layer.0.conv1.weight", 0) ?? 16) / 16
            let arch = (blocks == 5 && width == 10) ? "wrn-34-10" : "trades-wrn-\(6 * blocks + 4)-\(width)"
            return ModelSpec(arch: arch, numClasses: k, inChannels: inChannels, inputSize: 32)
        }
        guard let stemOut = dim("conv1.weight", 0), let inChannels = dim("conv1.weight", 1) else { return nil }
        if has("layers.0.conv1.weight"), let k = classes("linear") {
            return ModelSpec(arch: "mobilenetv2", numClasses: k, inChannels: inChannels, inputSize: 32)
        }
        if has("layer4.1.conv2.weight"), let k = classes("linear") {
            let arch = has("bn1.weight") ? "resnet18" : "preactresnet18"
            return ModelSpec(arch: arch, numClasses: k, inChannels: inChannels, inputSize: 32)
        }
        if has("layer3.8.conv2.weight"), !has("layer4.0.conv1.weight"), let k = classes("linear") {
            return ModelSpec(arch: "resnet56", numClasses: k, inChannels: inChannels, inputSize: 32)
        }
        if has("conv3.weight"), let fc1Inputs = dim("fc1.weight", 1), let k = classes("fc2") {
            let arch = stemOut == 16 ? "tinycnn" : "smallcnn"
            let c3 = dim("conv3.weight", 0) ?? 1
            let side = Int((Double(fc1Inputs / max(c3, 1))).squareRoot().rounded())
            return ModelSpec(arch: arch, numClasses: k, inChannels: inChannels, inputSize: side * 4)
        }
        return nil
    }
}

public enum ModelZooError: Error, CustomStringConvertible, Equatable {
    case unknownArchitecture(String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .unknownArchitecture(let name):
            "unknown architecture '\(name)'; known: \(ModelZoo.architectures.joined(separator: ", ")) (WRN depth must be 6n+4)"
        case .invalid(let arch, let why): "invalid model '\(arch)': \(why)"
        }
    }
}
