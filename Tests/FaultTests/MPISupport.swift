import Foundation
import Testing

/// `mpirun -np N advdistill …` on this machine over loopback: shared memory between the ranks (`btl self,vader`),
/// more ranks than cores allowed (`--oversubscribe`), and as root when the tests run as root.
enum MPI {
    static let mpirun: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(mpirun, "mpirun is not installed (make deps installs openmpi-bin)", sourceLocation: sourceLocation)
    }

    /// mpirun's arguments for `ranks` processes of the built CLI with `arguments`; `env` names variables to export.
    static func arguments(ranks: Int, _ arguments: [String], export env: [String] = []) throws -> [String] {
        var words = ["-np", "\(ranks)", "--oversubscribe", "--mca", "btl", "self,vader", "--bind-to", "none"]
        if getuid() == 0 { words.append("--allow-run-as-root") }
        for name in env { words += ["-x", name] }
        return words + [try CLI.require()] + arguments
    }
}

extension Workspace {
    /// Runs `mpirun -np ranks advdistill arguments…` to the end.
    func mpirun(ranks: Int, _ arguments: [String], export env: [String] = []) throws -> Child {
        try launch(MPI.arguments(ranks: ranks, arguments, export: env), executable: MPI.require()).waitForExit()
    }

    func launchMPI(ranks: Int, _ arguments: [String], export env: [String] = []) throws -> Child {
        try launch(MPI.arguments(ranks: ranks, arguments, export: env), executable: MPI.require())
    }
}

/// The last line of `log` that parses as a JSON object.
func lastJSONObject(_ log: String) -> [String: Any]? {
    for line in log.split(separator: "\n").reversed() where line.hasPrefix("{") {
        if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { return o }
    }
    return nil
}
