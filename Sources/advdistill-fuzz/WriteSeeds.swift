import Foundation
import FuzzHarnesses

/// `advdistill-fuzz seeds <folder>`: writes `SeedCorpus.generated()` to `<folder>/<target>/<name>`.
func writeSeeds(to folder: String) -> Int32 {
    do {
        for seed in try SeedCorpus.generated() {
            let directory = folder + "/" + seed.target.rawValue
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(seed.bytes).write(to: URL(fileURLWithPath: directory + "/" + seed.name))
            print("wrote \(directory)/\(seed.name) (\(seed.bytes.count) bytes)")
        }
        return 0
    } catch {
        printError("advdistill-fuzz seeds: \(error)")
        return 1
    }
}
