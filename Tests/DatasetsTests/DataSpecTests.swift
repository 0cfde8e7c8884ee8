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
        // The same under a decoder that converts snake_case (as an enclosing config may use).
        let converting = JSONDecoder()
        converting.keyDecodingStrategy = .convertFromSnakeCase
        #expect(try converting.decode(DataSpec.self, from: Data(full.utf8)) == expected)
    }

    @Test func onlyPathIsRequiredAndSplitDefaultsToTrain() throws {
        let spec = try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p"}"#.utf8))
        #expect(spec == DataSpec(path: "p"))
        #expect(spec.split == .train && spec.format == nil && spec.skipCorrupt == nil)
        #expect(throws: DatasetError.invalidValue(key: "path", value: "nothing", expected: "the dataset directory")) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"split": "train"}"#.utf8))
        }
    }

    @Test func unknownKeyIsAnErrorNamingIt() {
        #expect(throws: DatasetError.unknownKey(key: "skip_corupt", context: "the data spec", allowed: DataSpec.jsonKeys)) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p", "skip_corupt": true}"#.utf8))
        }
        #expect(throws: DatasetError.unknownKey(key: "size", context: "the resize rule", allowed: ResizeRule.jsonKeys)) {
            try JSONDecoder().decode(DataSpec.self, from: Data(#"{"path": "p", "resize": {"filter": "nearest", "size": 3}}"#.utf8))
        }
        #expect(throws: DatasetError.unknownKey(key: "flip", context: "the augmentation", allowed: Augmentation.jsonKeys)) {
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
