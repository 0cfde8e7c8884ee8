#if !FUZZING
import Foundation
import FuzzHarnesses

/// Runs every file named in the arguments (folders walked, hidden files skipped) through `target`
/// and prints one line per file: `accepted` or `refused: <the error's first line>`.
func run(_ target: FuzzTarget) -> Int32 {
    let paths = CommandLine.arguments.dropFirst(2)
    guard !paths.isEmpty else {
        printError("advdistill-fuzz \(target.rawValue): give the files or folders to replay")
        return 2
    }
    var files: [String] = []
    for path in paths {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            printError("advdistill-fuzz: no such file or folder: \(path)")
            return 2
        }
        files += isDirectory.boolValue ? filesUnder(path) : [path]
    }
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else {
            printError("advdistill-fuzz: cannot read \(file)")
            return 2
        }
        switch target.run([UInt8](data)) {
        case .accepted: print("\(file): accepted")
        case .refused(let message): print("\(file): refused: \(message.split(separator: "\n").first ?? "")")
        }
    }
    print("advdistill-fuzz \(target.rawValue): \(files.count) files replayed, no crash")
    return 0
}

/// Regular files below `folder`, sorted, hidden ones left out.
private func filesUnder(_ folder: String) -> [String] {
    let url = URL(fileURLWithPath: folder)
    guard let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey],
                                                       options: [.skipsHiddenFiles]) else { return [] }
    return walker.compactMap { item in
        guard let file = item as? URL, (try? file.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true
        else { return nil }
        return file.path
    }.sorted()
}
#endif
