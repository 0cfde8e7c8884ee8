/// One mini-batch, ready for the model.
public struct Batch: Sendable {
    /// [N, C, H, W] row-major, each in [0, 1].
    public var images: [Float]
    /// N class indices.
    public var labels: [Int]
    /// [N, C, H, W].
    public var shape: [Int]
    /// N positions in the dataset the examples came from (for per-example bookkeeping and galleries).
    public var indices: [Int]

    public var count: Int { labels.count }

    public init(images: [Float], labels: [Int], shape: [Int], indices: [Int]) {
        precondition(shape.count == 4 && shape[0] == labels.count && indices.count == labels.count
                     && images.count == shape.reduce(1, *), "batch shape \(shape) disagrees with its contents")
        self.images = images
        self.labels = labels
        self.shape = shape
        self.indices = indices
    }
}
