import Engine
import Foundation
import Testing
@testable import Datasets

@Suite struct DataSpecTests {
    let full = """
        { "format": "folder", "path": "Data/x", "split": "test", "limit": 50, "channels": 3,
          "resize": { "filter": "bilinear", "height": 32, "width": 32 }, "skip_corrupt": true }
        """

    @Test func snakeCaseJSONDecodesEveryField() throws {
        let expected = DataSpec(format: .folder, path: "Data/x", split: .test, limit: 50, channels: 3,
                                resize: ResizeRule(filter: .bilinear, height: 32, width: 32), skipCorrupt: true)
        #expect(try JSONDecoder().decode(DataSpec.self, from: Data(full.utf8)) == expected)
    }

    /// Keys are spelt as documented, as in a run config: another tool's camelCase is refused with the
    /// key it means, not taken (nor silently ignored).
    @Test func camelCaseKeysAreRefusedWithTheSnakeCaseOne() {
        #expect(throws: UnknownKeyError(path: "skipCorrupt", suggestion: "skip_corrupt",
                                        allowed: ["format", "path", "split", "limit", "channels", "resize", "skip_corrupt"])) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p", "skipCorrupt": true}"#.utf8))
        }
        #expect(throws: UnknownKeyError(path: "randomCropPadding", suggestion: "random_crop_padding",
                                        allowed: ["random_crop_padding", "horizontal_flip"])) {
            try JSONDecoder().decode(Augmentation.self, from: Data(#"{"randomCropPadding": 4}"#.utf8))
        }
        let error = UnknownKeyError(path: "skipCorrupt", suggestion: "skip_corrupt", allowed: [])
        #expect(error.description == "unknown key 'skipCorrupt' — did you mean 'skip_corrupt'?")
    }

    @Test func onlyPathIsRequiredAndSplitDefaultsToTrain() throws {
        let spec = try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p"}"#.utf8))
        #expect(spec == DataSpec(path: "p"))
        #expect(spec.split == .train && spec.format == nil && spec.skipCorrupt == nil)
        #expect(throws: DatasetError.invalidValue(key: "path", value: "nothing", expected: "the dataset directory")) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"split": "train"}"#.utf8))
        }
    }

    @Test func unknownKeyIsAnErrorNamingItsPath() {
        let specKeys = ["format", "path", "split", "limit", "channels", "resize", "skip_corrupt"]
        #expect(throws: UnknownKeyError(path: "skip_corupt", suggestion: "skip_corrupt", allowed: specKeys)) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p", "skip_corupt": true}"#.utf8))
        }
        // Nothing close: the keys allowed there.
        #expect(throws: UnknownKeyError(path: "resize.dimensions", suggestion: nil, allowed: ["filter", "height", "width"])) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p", "resize": {"filter": "nearest", "dimensions": 3}}"#.utf8))
        }
        #expect(throws: UnknownKeyError(path: "flip", suggestion: nil, allowed: ["random_crop_padding", "horizontal_flip"])) {
            try JSONDecoder().decode(Augmentation.self, from: Data(#"{"flip": true}"#.utf8))
        }
    }

    @Test func invalidValuesListTheChoices() {
        #expect(throws: DatasetError.invalidValue(key: "split", value: "\"val\"", expected: "\"train\", \"test\"")) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p", "split": "val"}"#.utf8))
        }
        #expect(throws: DatasetError.invalidValue(key: "format", value: "\"mnist\"", expected: "\"idx\", \"cifar10\", \"cifar100\", \"folder\"")) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p", "format": "mnist"}"#.utf8))
        }
        #expect(throws: DatasetError.invalidValue(key: "channels", value: "2", expected: "1 (grey) or 3 (RGB)")) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p", "channels": 2}"#.utf8))
        }
        #expect(throws: DatasetError.self) { try Dataset.load(DataSpec(path: "/", limit: 0)) }
    }

    @Test func encodingUsesSnakeCaseAndRoundTrips() throws {
        let spec = DataSpec(format: .idx, path: "Data/fashion-mnist", split: .test, skipCorrupt: false)
        let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        #expect(json.contains(#""skip_corrupt":false"#))
        #expect(!json.contains("limit"))
        #expect(try JSONDecoder().decode(DataSpec.self, from: Data(json.utf8)) == spec)

        let aug = Augmentation(randomCropPadding: 4, horizontalFlip: true)
        let augJSON = String(decoding: try JSONEncoder().encode(aug), as: UTF8.self)
        #expect(augJSON.contains(#""random_crop_padding":4"#) && augJSON.contains(#""horizontal_flip":true"#))
        #expect(try JSONDecoder().decode(Augmentation.self, from: Data(augJSON.utf8)) == aug)
        #expect(try JSONDecoder().decode(Augmentation.self, from: Data("{}".utf8)) == Augmentation())
    }
}
