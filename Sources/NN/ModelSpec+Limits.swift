/// Bounds on what a spec may claim. Specs come from files made elsewhere (a checkpoint's metadata, or its
/// tensor shapes) as well as from configs, so every field is checked before anything is sized from it;
/// each bound is far beyond any real image classifier.
extension ModelSpec {
    /// ImageNet-21k has 21 841 classes; a million leaves room for any real label set.
    public static let classRange = 2...1_000_000
    /// Grey, RGB, RGBA and multispectral images all fit.
    public static let channelRange = 1...64
    /// Height = width of the input images; 4096 is beyond any image the trainer would see whole.
    public static let inputSizeRange = 1...4096

    /// Throws `ModelZooError.invalid` naming the first field outside its range (the names are the
    /// config's, `model.<field>`).
    public func validate() throws {
        func check(_ field: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else {
                throw ModelZooError.invalid(arch, "\(field) must be in \(range.lowerBound)…\(range.upperBound), got \(value)")
            }
        }
        try check("num_classes", numClasses, Self.classRange)
        try check("in_channels", inChannels, Self.channelRange)
        try check("input_size", inputSize, Self.inputSizeRange)
        if let mean, mean.count != inChannels {
            throw ModelZooError.invalid(arch, "mean has \(mean.count) values for \(inChannels) channels")
        }
        if let std, std.count != inChannels || std.contains(where: { !($0 > 0) }) {
            throw ModelZooError.invalid(arch, "std needs \(inChannels) positive values, got \(std.count > 8 ? "\(std.count) values" : "\(std)")")
        }
    }
}
