import Foundation
import Testing
@testable import Distillation

/// Each bad config fails before any work with a `ConfigError` whose message names the field to fix.
@Suite struct ConfigErrors {
    /// The error of loading `object` (and, when loading passes, of building its trainer).
    func failure(_ object: [String: Any], _ dir: TempDir) throws -> ConfigError {
        try #require(throws: ConfigError.self) { _ = try Trainer(config: try loadConfig(object, in: dir)) }
    }

    func expectInvalid(_ error: ConfigError, field: String, mentioning words: [String] = [],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .invalid(let f, _) = error else {
            Issue.record("expected an invalid '\(field)', got: \(error)", sourceLocation: sourceLocation); return
        }
        #expect(f == field, sourceLocation: sourceLocation)
        #expect(error.description.contains("'\(field)'"), "\(error)", sourceLocation: sourceLocation)
        for w in words { #expect(error.description.contains(w), "\(error) lacks \(w)", sourceLocation: sourceLocation) }
    }

    @Test func misspelledKeySuggestsTheKeyWhereverItLives() throws {
        let dir = TempDir()
        var object = try configObject(dir)
        object["learning_rat"] = 0.1
        #expect(try failure(object, dir) == .unknownKey(path: "learning_rat", suggestion: "optimizer.lr",
                                                        allowed: RunConfig.CodingKeys.allCases.map(\.rawValue)))
        object["learning_rat"] = nil
        set(&object, "optimizer.learning_rate", 0.1)
        let inOptimizer = try failure(object, dir)
        #expect(inOptimizer.description.contains("'optimizer.learning_rate'") && inOptimizer.description.contains("did you mean 'optimizer.lr'"))
        // The example of Configs/README.md.
        set(&object, "optimizer.learning_rate", nil)
        set(&object, "optimizer.learning_rat", 0.1)
        #expect(try failure(object, dir).description == "unknown config key 'optimizer.learning_rat' — did you mean 'optimizer.lr'?")
        set(&object, "optimizer.learning_rat", nil)
        // A key one level too high points at its home.
        object["milestones"] = [1]
        #expect(try failure(object, dir).description.contains("did you mean 'schedule.milestones'"))
    }

    @Test func misspelledNestedKeyIsNamedWithItsPath() throws {
        let dir = TempDir()
        var object = try configObject(dir, method: "trades")
        set(&object, "method.betaa", 6)
        let error = try failure(object, dir)
        guard case let .unknownKey(path, suggestion, _) = error else { Issue.record("\(error)"); return }
        #expect(path == "method.betaa" && suggestion == "method.beta")
        #expect(error.description == "unknown config key 'method.betaa' — did you mean 'method.beta'?")
    }

    /// The data spec and the augmentation are decoded by Datasets, under the same strict rule: another tool's
    /// camelCase ("skipCorrupt", as a data spec once accepted, like "batchSize") is refused with the key meant.
    @Test func camelCaseKeysInTheDataPartsAreRefusedLikeTheRunConfigs() throws {
        let dir = TempDir()
        var object = try configObject(dir)
        object["batchSize"] = 32
        #expect(try failure(object, dir).description == "unknown config key 'batchSize' — did you mean 'batch_size'?")
        object["batchSize"] = nil
        set(&object, "data.train.skipCorrupt", true)
        #expect(try failure(object, dir) == .unknownKey(path: "data.train.skipCorrupt", suggestion: "data.train.skip_corrupt",
                                                        allowed: ["format", "path", "split", "limit", "channels", "resize", "skip_corrupt"]))
        set(&object, "data.train.skipCorrupt", nil)
        set(&object, "data.augmentation", ["horizontalFlip": true])
        #expect(try failure(object, dir).description
                == "unknown config key 'data.augmentation.horizontalFlip' — did you mean 'data.augmentation.horizontal_flip'?")
    }

    @Test func unknownMethodSuggestsTheNearestName() throws {
        let dir = TempDir()
        var object = try configObject(dir)
        set(&object, "method.name", "bmtrad")
        expectInvalid(try failure(object, dir), field: "method.name", mentioning: ["'bmtrad'", "did you mean 'bmtard'"])
    }

    @Test func parameterTheMethodDoesNotUseIsAnError() throws {
        let dir = TempDir()
        var object = try configObject(dir, method: "pgd_at")
        set(&object, "method.beta", 6)
        expectInvalid(try failure(object, dir), field: "method.beta", mentioning: ["'pgd_at' does not use"])
    }

    @Test func missingTeacherFileIsNamed() throws {
        let dir = TempDir()
        var object = try configObject(dir, method: "ard")
        set(&object, "teachers.robust.checkpoint", dir.sub("nope.safetensors"))
        expectInvalid(try failure(object, dir), field: "teachers.robust.checkpoint", mentioning: ["nope.safetensors"])
    }

    @Test func teacherWithAnotherClassCountIsRefused() throws {
        let dir = TempDir()
        var object = try configObject(dir, method: "mtard")
        set(&object, "teachers.natural.checkpoint", try saveTeacher(in: dir, name: "five", classes: 5, seed: 3))
        expectInvalid(try failure(object, dir), field: "teachers.natural.checkpoint", mentioning: ["5 classes", "have 10"])
    }

    @Test func teacherThatIsNotACheckpointIsNamed() throws {
        let dir = TempDir()
        var object = try configObject(dir, method: "rslad")
        try Data("not safetensors".utf8).write(to: URL(fileURLWithPath: dir.sub("junk.safetensors")))
        set(&object, "teachers.robust.checkpoint", dir.sub("junk.safetensors"))
        expectInvalid(try failure(object, dir), field: "teachers.robust.checkpoint", mentioning: ["junk.safetensors"])
    }

    @Test func outOfRangeValuesNameTheirField() throws {
        let dir = TempDir()
        let base = try configObject(dir)
        let cases: [(path: String, value: Any, field: String)] = [
            ("attack.eps", -0.1, "attack.eps"),
            ("epochs", 0, "epochs"),
            ("schedule", ["name": "multistep", "milestones": [Int]()], "schedule.milestones"),
            ("schedule", ["name": "multistep", "milestones": [5]], "schedule.milestones"),
            ("schedule", ["name": "hold_cosine_exp", "hold_epochs": 50], "schedule.hold_epochs"),
            ("schedule", ["name": "hold_cosine_exp", "exp_decay": -0.5], "schedule.exp_decay"),
            ("optimizer.lr", 0, "optimizer.lr"),
            ("batch_size", 0, "batch_size"),
            ("nan_policy", "ignore", "nan_policy"),
            ("eval.attacks", "pgd-fast", "eval.attacks"),
            ("data.val_fraction", 0.001, "data.val_fraction"),
        ]
        for c in cases {
            var object = base
            set(&object, c.path, c.value)
            expectInvalid(try failure(object, dir), field: c.field)
        }
    }

    @Test func invalidJSONSaysSo() throws {
        let dir = TempDir()
        let path = dir.sub("broken.json")
        try #"{"name": "run" "epochs": 2}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(throws: ConfigError.self) { try RunConfig.load(path: path) }
        guard case .unreadable(let file, let reason) = error else { Issue.record("\(error)"); return }
        #expect(file == path && reason.contains("not valid JSON"), "\(reason)")
    }

    @Test func missingRequiredKeyIsNamed() throws {
        let dir = TempDir()
        var object = try configObject(dir)
        set(&object, "model.arch", nil)
        #expect(try failure(object, dir).description.contains("missing required key 'model.arch'"))
    }
}

/// The configs the repository ships (and the resolved configs of its shipped teachers) pass today's checks.
@Test func everyShippedConfigLoads() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let configs = root.appendingPathComponent("Configs").path
    // Every .json under Configs/ is a run config, except the shipped teachers' evaluation results, the
    // study configs (study-*.json) and the committed study results (studies/<name>/study.json).
    let all = (FileManager.default.enumerator(atPath: configs)?.allObjects as? [String] ?? [])
        .filter { $0.hasSuffix(".json") && !$0.hasSuffix("eval.json") }
    let results = all.filter { $0.hasPrefix("studies/") && $0.hasSuffix("/" + StudyFile.fileName) }
    let files = all.filter { !results.contains($0) }
    #expect(!files.isEmpty)
    for file in results {
        #expect(throws: Never.self, "\(file)") { _ = try StudyFile.read(configs + "/" + file) }
    }
    for file in files where !file.hasPrefix("study-") {
        #expect(throws: Never.self, "\(file)") { _ = try RunConfig.load(path: configs + "/" + file) }
    }
    // A study's teacher paths are relative to the working directory, the repository root under `swift test`.
    let studies = files.filter { $0.hasPrefix("study-") }
    #expect(!studies.isEmpty)
    for file in studies where FileManager.default.currentDirectoryPath == root.path {
        #expect(throws: Never.self, "\(file)") { _ = try StudyConfig.load(path: configs + "/" + file) }
    }
}
