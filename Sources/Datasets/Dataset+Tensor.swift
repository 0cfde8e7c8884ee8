import Engine

/// Where a dataset's bytes become a model's input, the one place: the evaluator's batches (`tensor`) and,
/// through `BatchLoader`, the trainer's (`images(at:augmentation:)`). Byte v becomes v/255 (correctly
/// rounded: `unitScale`), so that the same image is the same tensor in training and in evaluation.
extension Dataset {
    /// The examples at `indices` (repeats allowed) → x: [n, C, H, W] in [0, 1], and their labels.
    public func tensor(_ indices: [Int]) -> (Tensor, [Int]) {
        (images(at: indices), indices.map { labels[$0] })
    }

    /// The examples at `indices` → x: [n, C, H, W] in [0, 1], example i cropped and flipped as
    /// `augmentation(i)` draws it (nil: as stored).
    func images(at indices: [Int], augmentation: ((Int) -> AugmentationDraw)? = nil) -> Tensor {
        let (c, h, w, size) = (channels, height, width, imageSize)
        let x = Tensor(uninitializedShape: [indices.count, c, h, w])
        images.withUnsafeBufferPointer { src in
            unitScale.withUnsafeBufferPointer { scale in
                for (k, i) in indices.enumerated() {
                    require((0..<count).contains(i), "example index \(i) outside 0..<\(count)")
                    let draw = augmentation?(i) ?? .identity
                    writeAugmented(src.baseAddress! + i * size, x.data + k * size, channels: c, height: h, width: w,
                                   padding: draw.padding, dy: draw.dy, dx: draw.dx, flip: draw.flip,
                                   scale: scale.baseAddress!)
                }
            }
        }
        return x
    }
}
