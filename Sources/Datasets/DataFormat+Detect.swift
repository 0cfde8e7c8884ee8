import Foundation

extension DataFormat {
    /// The format of a dataset directory, from the names in it (first rule that matches):
    /// 1. an IDX images file (a name with "idx3" and "ubyte", e.g. `train-images-idx3-ubyte.gz`) → `.idx`;
    /// 2. `data_batch_N.bin` or `test_batch.bin` → `.cifar10`;
    /// 3. `train.bin` or `test.bin` → `.cifar100`;
    /// 4. at least one sub-folder → `.folder`.
    static func detect(in directory: String) throws -> DataFormat {
        let names = try FileAccess.list(directory)
        let lower = names.map { $0.lowercased() }
        if lower.contains(where: IDX.isImagesFileName) { return .idx }
        if lower.contains(where: { CIFAR.isCIFAR10TrainFile($0) || $0 == "test_batch.bin" }) { return .cifar10 }
        if lower.contains("train.bin") || lower.contains("test.bin") { return .cifar100 }
        if names.contains(where: { FileAccess.isDirectory(FileAccess.join(directory, $0)) }) { return .folder }
        throw DatasetError.unrecognisedLayout(path: directory, found: names)
    }
}

/// Class names of the datasets whose files do not carry them.
enum KnownClasses {
    static let fashionMNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    static let cifar10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    /// CIFAR-100 fine labels, in label order (alphabetical), as in the archive's fine_label_names.txt.
    static let cifar100 = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trolleybus", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ]

    /// Non-empty lines of a names file (`classes.txt`, CIFAR's `batches.meta.txt`), or nil when absent.
    static func read(_ path: String) throws -> [String]? {
        guard FileAccess.exists(path) else { return nil }
        let text = String(decoding: try FileAccess.read(path), as: UTF8.self)
        let names = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        return names.isEmpty ? nil : names
    }
}
