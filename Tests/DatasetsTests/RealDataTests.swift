import Foundation
import Testing
@testable import Datasets

/// Where `make data` / the Debian package dataset-fashion-mnist put the real Fashion-MNIST.
private let fashionMNIST = "/usr/share/datasets/fashion-mnist"
private let fashionMNISTInstalled = FileManager.default.fileExists(atPath: fashionMNIST + "/train-images-idx3-ubyte.gz")

@Suite struct RealDataTests {
    @Test func committedSampleFolderLoadsThreeShapeClasses() throws {
        let ds = try Dataset.load(DataSpec(path: repositoryRoot + "/Data/sample-folder"))
        #expect(ds.format == .folder)
        #expect(ds.classNames == ["circle", "square", "triangle"])
        #expect(ds.count == 18)
        #expect(ds.labels == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2])
        #expect(ds.imageShape == [1, 28, 28])
        // Shape centres (x, y) from Data/make-sample-folder.py: light (230) there, dark (20) in the
        // corner; JPEGs (images 4 and 5) within a lossy tolerance.
        let centres = [(14, 14), (11, 12), (16, 15), (13, 17), (15, 11), (12, 14)]
        for i in 0..<18 {
            let (x, y) = centres[i % 6]
            let tolerance = i % 6 >= 4 ? 24 : 0
            #expect(abs(Int(ds.images[i * 784 + y * 28 + x]) - 230) <= tolerance, "image \(i) centre")
            #expect(abs(Int(ds.images[i * 784]) - 20) <= tolerance, "image \(i) corner")
        }
    }

    @Test(.enabled(if: fashionMNISTInstalled, "Fashion-MNIST is not installed (make data)"))
    func fashionMNISTHasSixtyThousandTrainAndTenThousandTestImages() throws {
        let train = try Dataset.load(DataSpec(path: fashionMNIST))
        #expect(train.format == .idx)
        #expect(train.count == 60_000)
        #expect(train.imageShape == [1, 28, 28])
        #expect(train.classNames == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"])
        // Fashion-MNIST is balanced: 6,000 of each class in train, 1,000 in test.
        #expect(train.summary().classCounts == [Int](repeating: 6_000, count: 10))
        #expect(train.labels[0] == 9)   // the first training image is an ankle boot
        let test = try Dataset.load(DataSpec(path: fashionMNIST, split: .test))
        #expect(test.count == 10_000)
        #expect(test.summary().classCounts == [Int](repeating: 1_000, count: 10))
    }
}
