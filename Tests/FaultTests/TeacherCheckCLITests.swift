import Foundation
import Testing

/// `train` measures its teachers when it loads them, through the CLI: teachers.json, warnings on stderr, no
/// second measurement on `--resume`, and `expect_clean` validated like every key.
@Suite struct TeacherChecksOnLoad {
    /// teachers.json's entries by role.
    func checks(_ run: String) throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: run + "/teachers.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let list = try #require(object["teachers"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: list.map { ($0["role"] as? String ?? "?", $0) })
    }

    @Test func aTeacherFedInvertedImagesIsWarnedAboutAndRecorded() throws {
        let workspace = try Workspace(side: 8, train: 160, test: 40)
        let teacherConfig = try workspace.config("teacher", epochs: 4, arch: "tinycnn", changes: ["name": "teacher", "eval.limit": 40])
        let trained = try workspace.run(["train", "--config", teacherConfig, "--threads", "1"])
        try #require(trained.exitStatus == 0, "\(trained.log)")
        let teacher = workspace.sub("runs/teacher/best.safetensors")
        let teachers: [String: Any] = ["natural": ["checkpoint": teacher, "expect_clean": 0.9], "robust": ["checkpoint": teacher]]

        // The same images inverted (x ↦ 1 − x): data fed at a scale the teacher was not trained on.
        let inverted = workspace.sub("inverted")
        try FileManager.default.createDirectory(atPath: inverted, withIntermediateDirectories: true)
        for name in ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"] {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: workspace.data + "/" + name))
            if name.contains("images") { for i in 16..<bytes.count { bytes[i] = 255 - bytes[i] } }
            try bytes.write(to: URL(fileURLWithPath: inverted + "/" + name))
        }
        for (label, data) in [("good", workspace.data), ("inverted", inverted)] {
            let config = try workspace.config(label, epochs: 1, arch: "tinycnn", changes: [
                "name": label, "method": ["name": "bmtard"], "teachers": teachers,
                "data.train.path": data, "data.test.path": data])
            let run = workspace.sub("runs/" + label)
            let child = try workspace.run(["train", "--config", config, "--threads", "1"])
            try #require(child.exitStatus == 0, "\(child.log)")
            let natural = try #require(try checks(run)["natural"]), robust = try #require(try checks(run)["robust"])
            let clean = try #require(natural["clean_accuracy"] as? Double)
            let warnings = natural["warnings"] as? [String] ?? []
            #expect(natural["clean_images"] as? Int == 40 && natural["expect_clean"] as? Double == 0.9)
            #expect(robust["robust_attack"] as? String == "PGD-10" && robust["robust_images"] as? Int == 40 && robust["eps_text"] as? String == "0.1")
            #expect(natural["sha256"] as? String == robust["sha256"] as? String)
            if label == "good" {
                #expect(clean >= 0.85, "the teacher learned the data: \(clean)")
                #expect(warnings.isEmpty && !child.log.contains("warning: teacher"), "\(child.log)")
            } else {
                #expect(clean < 0.85, "inverted images fool the teacher: \(clean)")
                let below = "is more than 5 points below the 90.0% its config expects (teachers.natural.expect_clean)"
                #expect(warnings.contains { $0.contains(below) && $0.contains("input normalisation") && $0.contains("channel order") && $0.contains("input scale") })
                #expect(child.log.contains("warning: teacher natural (\(teacher)): clean accuracy "), "\(child.log)")
                #expect(child.log.contains(below), "\(child.log)")
                // Near chance (1/10) is named exactly when it is below twice chance.
                #expect(warnings.contains { $0.contains("is near chance (10.0% for 10 classes)") } == (clean < 0.2), "\(warnings)")
            }
        }

        // --resume with the same teacher file does not measure again; the file stays as it was.
        let run = workspace.sub("runs/inverted")
        let before = try Data(contentsOf: URL(fileURLWithPath: run + "/teachers.json"))
        let config = workspace.sub("inverted.json")
        let resumed = try workspace.run(["train", "--config", config, "--threads", "1", "--resume", "--epochs", "2"])
        #expect(resumed.exitStatus == 0, "\(resumed.log)")
        #expect(resumed.log.contains("teacher natural: measured when the run began (teachers.json), same file, not measured again"), "\(resumed.log)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/teachers.json")) == before)
    }

    @Test func expectCleanOutOfRangeOrMisspeltIsRefusedNamingTheKey() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let teacher = workspace.sub("t.safetensors")
        try Data().write(to: URL(fileURLWithPath: teacher))
        let out = try workspace.config("range", epochs: 1, changes: ["method": ["name": "ard"], "teachers": ["robust": ["checkpoint": teacher, "expect_clean": 90]]])
        let refused = try workspace.run(["train", "--config", out])
        #expect(refused.exitStatus == 1, "\(refused.log)")
        #expect(refused.log.contains("config field 'teachers.robust.expect_clean': must be a clean accuracy in [0, 1] (0.9 for 90 %), got 90.0"), "\(refused.log)")
        let typo = try workspace.config("typo", epochs: 1, changes: ["method": ["name": "ard"], "teachers": ["robust": ["checkpoint": teacher, "expect_clen": 0.9]]])
        let unknown = try workspace.run(["train", "--config", typo])
        #expect(unknown.exitStatus == 1 && unknown.log.contains("unknown config key 'teachers.robust.expect_clen' — did you mean 'teachers.robust.expect_clean'?"),
                "\(unknown.log)")
    }
}
