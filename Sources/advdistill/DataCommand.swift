import ArgumentParser
import Datasets

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Show what a data path holds: format, splits and counts, classes, image shape, per-channel mean/std.")

    @Argument(help: "A data set directory or file (IDX, CIFAR binary, image folder).")
    var path: String

    func run() throws {
        try ClusterSetup.requireOneProcess("data")
        var found = false
        for split in [Split.train, Split.test] {
            do {
                let d = try Dataset.load(DataSpec(path: path, split: split))
                print(d.summary().description)
                found = true
            } catch let e as DatasetError {
                print("\(split.rawValue): \(e.description)")
            }
        }
        if !found { throw ExitCode.failure }
    }
}
