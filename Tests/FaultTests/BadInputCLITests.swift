import Foundation
import NN
import Testing

/// The README's table of bad inputs, proven through the command line a user runs: each hostile or
/// broken file makes `advdistill` exit 1 (not a signal, not a hang) with one message that names the
/// file and says what is wrong with it.
@Suite struct BadInputsThroughTheCLI {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Runs `arguments` and checks the exit and that the log holds every one of `expected`.
    func expectRefusal(_ workspace: Workspace, _ arguments: [String], _ expected: [String],
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let child = try workspace.run(arguments)
        #expect(child.killedBy == nil && child.exitStatus == 1, "\(arguments): \(child.log)", sourceLocation: sourceLocation)
        for fragment in expected {
            #expect(child.log.contains(fragment), "\(arguments) should say '\(fragment)': \(child.log)", sourceLocation: sourceLocation)
        }
        #expect(child.log.hasPrefix("Error: "), "one error line: \(child.log)", sourceLocation: sourceLocation)
    }

    @Test func badCheckpointsAreRefusedNamingTheFile() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let config = try workspace.config(epochs: 1, arch: "tinycnn")
        let trained = try workspace.run(["train", "--config", config, "--threads", "1"])
        try #require(trained.exitStatus == 0, "\(trained.log)")
        let checkpoint = try workspace.runDirectory() + "/checkpoint.safetensors"
        let good = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        // The same checkpoint with conv1.weight's values under another shape of the same size.
        var file = try SafeTensorsFile.read(path: checkpoint)
        let index = try #require(file.entries.firstIndex { $0.name == "conv1.weight" })
        let (conv, shape) = (file.entries[index], file.entries[index].shape)
        file.entries[index] = SafeTensorsEntry(name: conv.name, dtype: conv.dtype,
                                               shape: [shape[0] / 2, shape[1] * 2] + shape.dropFirst(2), values: conv.values)

        // A header no writer would produce: hand-made JSON behind its little-endian length.
        func safetensors(_ header: [String: Any], _ body: Data) throws -> Data {
            let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
            return Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * $0)) }) + json + body
        }
        let cases: [(name: String, bytes: Data, expected: [String])] = [
            ("header-200mb", Data([0x00, 0xC2, 0xEB, 0x0B, 0, 0, 0, 0]) + Data("{}".utf8),
             ["declares a 200000000-byte header", "above the 100000000-byte limit"]),
            ("tensor-beyond-file", try safetensors(["fc.weight": ["dtype": "F32", "shape": [1 << 20, 1 << 20],
                                                                  "data_offsets": [0, 1 << 42]]], Data(count: 16)),
             ["Tensor 'fc.weight'", "lie outside the 16-byte data buffer"]),
            ("header-not-json", Data([5, 0, 0, 0, 0, 0, 0, 0]) + Data("{oops".utf8), ["is not valid JSON at file byte 9"]),
            ("wrong-shape", Data(try file.serialized()),
             ["tensor 'conv1.weight' has shape [\(shape[0] / 2), \(shape[1] * 2), 3, 3], the model expects [\(shape[0]), \(shape[1]), 3, 3]"]),
            ("truncated", good.prefix(good.count / 2), ["lie outside the", "data buffer"]),
        ]
        for c in cases {
            let file = workspace.sub(c.name + ".safetensors")
            try c.bytes.write(to: URL(fileURLWithPath: file))
            try expectRefusal(workspace, ["eval", "--checkpoint", file, "--data", workspace.data, "--attacks", "fgsm"],
                              [c.name + ".safetensors"] + c.expected)
        }
        // A tiny file whose metadata claims a model of 66 billion values (found by fuzzing).
        let hostile = Self.repository + "/Tests/Fixtures/fuzz/safetensors/regressions/oom-metadata-dm-wrn-1000-64-in-a-tiny-file.safetensors"
        try expectRefusal(workspace, ["eval", "--checkpoint", hostile, "--data", workspace.data],
                          ["oom-metadata-dm-wrn-1000-64-in-a-tiny-file.safetensors", "needs 65712448991 values; the file holds 3"])
    }

    @Test func badDataIsRefusedNamingTheFile() throws {
        let workspace = try Workspace(side: 8, train: 16, test: 16)
        let fm = FileManager.default
        func write(_ bytes: Data, _ relative: String) throws {
            let path = workspace.sub(relative)
            try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        func folder(_ name: String) throws -> String {
            let copy = workspace.sub(name)
            try fm.copyItem(atPath: Self.repository + "/Data/sample-folder", toPath: copy)
            return copy
        }
        func crc32(_ bytes: [UInt8]) -> UInt32 {  // PNG's CRC (ISO 3309), bit by bit
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return ~crc
        }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return be32(data.count) + body + be32(Int(crc32(body)))
        }

        try write(Data(be32(0x0803) + be32(1 << 31) + be32(28) + be32(28) + [UInt8](repeating: 0, count: 784)), "idx-huge/train-images-idx3-ubyte")
        try write(Data(be32(0x0801) + be32(1 << 31) + [0]), "idx-huge/train-labels-idx1-ubyte")
        try write(Data(be32(0x0803) + be32(100) + be32(28) + be32(28) + [UInt8](repeating: 0, count: 7840)), "idx-truncated/train-images-idx3-ubyte")
        try write(Data(be32(0x0801) + be32(100) + [UInt8](repeating: 0, count: 100)), "idx-truncated/train-labels-idx1-ubyte")
        try write(Data(count: 3073 * 2 + 100), "cifar-truncated/data_batch_1.bin")
        try write(Data(count: 3073 * 2), "cifar-truncated/test_batch.bin")
        let huge = try folder("png-huge")
        let ihdr = be32(100_000) + be32(100_000) + [8, 0, 0, 0, 0]
        try write(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
                       + chunk("IDAT", [0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])), "png-huge/circle/circle-9.png")
        let jpeg = try folder("jpeg-truncated")
        let whole = try Data(contentsOf: URL(fileURLWithPath: jpeg + "/square/square-4.jpg"))
        try write(whole.prefix(whole.count / 2), "jpeg-truncated/square/square-4.jpg")

        let cases: [(path: String, expected: [String])] = [
            (workspace.sub("idx-huge"), ["idx-huge/train-images-idx3-ubyte claims image count = 2147483648"]),
            (workspace.sub("idx-truncated"), ["idx-truncated/train-images-idx3-ubyte is truncated: its header needs 78416 bytes but the file has 7856"]),
            (workspace.sub("cifar-truncated"), ["cifar-truncated/data_batch_1.bin has 6246 bytes, not a whole number of 3073-byte records"]),
            (huge, ["png-huge/circle/circle-9.png is not a readable image", "100000x100000 are too large", "skip_corrupt"]),
            (jpeg, ["jpeg-truncated/square/square-4.jpg is not a readable image", "Premature end of JPEG file"]),
        ]
        for (i, c) in cases.enumerated() {
            let config = try workspace.config("data-\(i)", epochs: 1, arch: "tinycnn", changes: ["data.train.path": c.path])
            try expectRefusal(workspace, ["train", "--config", config, "--threads", "1"], c.expected)
        }
    }

    @Test func badConfigsAreRefusedNamingTheFileAndTheKey() throws {
        let workspace = try Workspace(side: 8, train: 16, test: 16)
        let unknown = try workspace.config("unknown-key", epochs: 1, changes: ["epoch": 3])
        try expectRefusal(workspace, ["train", "--config", unknown], ["\(unknown): unknown config key 'epoch' — did you mean 'epochs'?"])
        let wrongType = try workspace.config("wrong-type", epochs: 1, changes: ["optimizer.lr": "fast"])
        try expectRefusal(workspace, ["train", "--config", wrongType],
                          ["cannot read config \(wrongType): 'optimizer.lr' should be a number (found a string)"])
        let invalid = try workspace.config("invalid", epochs: 1, changes: ["batch_size": 0])
        try expectRefusal(workspace, ["train", "--config", invalid], ["\(invalid): config field 'batch_size': must be ≥ 1, got 0"])
        let hold = try workspace.config("hold", epochs: 2, changes: ["schedule.name": "hold_cosine_exp", "schedule.hold_epochs": 2])
        try expectRefusal(workspace, ["train", "--config", hold],
                          ["\(hold): config field 'schedule.hold_epochs': hold_cosine_exp holds the rate for 2 epochs, which must be ≥ 0 and fewer than the 2 epochs of training"])
        let syntax = workspace.sub("missing-comma.json")
        try "{\n  \"name\": \"run\"\n  \"epochs\": 2\n}\n".write(toFile: syntax, atomically: true, encoding: .utf8)
        try expectRefusal(workspace, ["train", "--config", syntax], ["cannot read config \(syntax): not valid JSON", "at line 3, column 3"])
        let cut = workspace.sub("cut.json")
        try #"{"name": "run", "epochs":"#.write(toFile: cut, atomically: true, encoding: .utf8)
        try expectRefusal(workspace, ["train", "--config", cut], ["cannot read config \(cut): not valid JSON", "end of file"])
        try expectRefusal(workspace, ["train", "--config", workspace.sub("absent.json")],
                          ["cannot read config \(workspace.sub("absent.json")): no such file"])
    }

    @Test func exportRefusesAnExistingFileAnUnknownArchitectureAndAMissingCheckpointNamingTheFile() throws {
        let workspace = try Workspace(side: 8, train: 16, test: 16)
        let checkpoint = workspace.sub("fresh.safetensors"), onnx = workspace.sub("model.onnx")
        let made = try workspace.run(["init", "--model", "tinycnn", "--out", checkpoint])
        try #require(made.exitStatus == 0, "\(made.log)")
        try Data("an earlier export".utf8).write(to: URL(fileURLWithPath: onnx))
        try expectRefusal(workspace, ["export", "--checkpoint", checkpoint, "--onnx", onnx],
                          ["model.onnx already exists; nothing was written", "--overwrite"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: onnx)) == Data("an earlier export".utf8))
        let other = workspace.sub("other.onnx")
        try expectRefusal(workspace, ["export", "--checkpoint", workspace.sub("missing.safetensors"), "--onnx", other],
                          ["missing.safetensors", "does not exist"])
        try expectRefusal(workspace, ["export", "--checkpoint", checkpoint, "--model", "resnet17", "--onnx", other],
                          ["fresh.safetensors", "unknown architecture 'resnet17'"])
        #expect(!FileManager.default.fileExists(atPath: other))
        let replaced = try workspace.run(["export", "--checkpoint", checkpoint, "--onnx", onnx, "--overwrite"])
        #expect(replaced.exitStatus == 0, "\(replaced.log)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: onnx)).count > 10_000)
    }
}
