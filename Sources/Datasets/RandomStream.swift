import Engine

/// The Datasets module's random streams, each a `SeededGenerator(key:)` of the run's seed and the stream's
/// label (and the epoch, and the example), so that the shuffle, the augmentation draws and the validation
/// split of one seed never share numbers, and none depends on how many draws another made.
enum RandomStream: UInt64 {
    case shuffle = 1, augmentation = 2, validationSplit = 3
}
