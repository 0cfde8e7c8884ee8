import Engine

/// One mini-batch, ready for the model.
public struct Batch: Sendable {
    /// x: [N, C, H, W], each value in [0, 1].
    public var images: Tensor
    /// N class indices.
    public var labels: [Int]
    /// N positions in the dataset the examples came from (for per-example bookkeeping and galleries).
    public var indices: [Int]

    /// [N, C, H, W].
    public var shape: [Int] { images.shape }
    public var count: Int { labels.count }

    public init(images: Tensor, labels: [Int], indices: [Int]) {
        require(images.rank == 4 && images.shape[0] == labels.count && indices.count == labels.count,
                "a batch of images \(images.shape) with \(labels.count) labels and \(indices.count) indices")
        self.images = images
        self.labels = labels
        self.indices = indices
    }
}
