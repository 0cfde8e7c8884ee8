import Foundation

/// Small file-system helpers with errors that name the file.
enum FileAccess {
    /// Largest decompressed `.gz` accepted: 4 GiB (the 60,000 Fashion-MNIST images are 47 MB).
    static let maxDecompressedBytes = 4 << 30

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// Names in `directory`, hidden ones (".…") left out, sorted.
    static func list(_ directory: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { !$0.hasPrefix(".") }
                .sorted()
        } catch {
            throw DatasetError.unreadable(file: directory, reason: "cannot list the directory")
        }
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The whole file as bytes.
    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError.unreadable(file: path, reason: exists(path) ? "permission denied or not a regular file" : "no such file")
        }
        return [UInt8](data)
    }

    /// `bytes` (the contents of `file`), gunzipped when they are gzip data (by the 1f 8b signature,
    /// or a `.gz` name).
    static func decompressIfGzip(_ bytes: [UInt8], file: String) throws -> [UInt8] {
        let looksGzip = bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
        guard looksGzip || file.lowercased().hasSuffix(".gz") else { return bytes }
        do {
            return try gunzip(bytes, maxOutput: maxDecompressedBytes)
        } catch {
            throw DatasetError.decompressionFailed(file: file, reason: error.message)
        }
    }
}
