import Distillation
import Foundation

/// `RunConfig.parse`: JSON decoding with strict keys, then every validation `train` runs before it
/// starts (no file is opened: paths in a config are only checked when the run starts).
enum ConfigHarness {
    static func run(_ bytes: [UInt8]) throws {
        _ = try RunConfig.parse(Data(bytes), source: "fuzz.json")
    }
}
