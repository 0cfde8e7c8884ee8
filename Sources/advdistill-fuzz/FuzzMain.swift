import Foundation
import FuzzHarnesses

/// `advdistill-fuzz <target> [arguments]`, target one of `FuzzTarget` (safetensors, idx, cifar, png,
/// jpeg, config).
///
/// Built with `-DFUZZING` and `-sanitize=fuzzer,address` (`make fuzz`), this is libFuzzer with the
/// target as its test function: the arguments after the target are libFuzzer's (corpus folders,
/// `-max_total_time=…`). Built normally, it is a replay driver: it runs each file given (folders are
/// walked) through the harness and prints what the parser made of it, which is what `make asan` runs
/// under AddressSanitizer. A crash in either mode is a bug in the parser.
///
/// `advdistill-fuzz seeds <folder>` (replay build) writes the generated seed files to
/// `<folder>/<target>/` (see `SeedCorpus`).
@main
struct FuzzMain {
    static func main() {
        let arguments = CommandLine.arguments
        if arguments.count == 3, arguments[1] == "seeds" {
            exit(writeSeeds(to: arguments[2]))
        }
        guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            printError("usage: advdistill-fuzz <\(names)> [files, folders or libFuzzer options]\n"
                       + "       advdistill-fuzz seeds <folder>")
            exit(2)
        }
        exit(run(target))
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
