import Attacks
import Datasets
import Engine
import Foundation
import NN

/// What `train` measured of a teacher when it loaded it (`<run>/teachers.json`): its clean accuracy on a sample
/// of the test split and, for the robust teacher, its PGD-10 accuracy on a smaller one at the run's ε. It
/// measures and selects nothing (so the test split is the right yardstick): a teacher near chance, or well
/// below what its config entry expects, is almost always fed inputs unlike those it was trained on.
public struct TeacherCheck: Codable, Sendable, Equatable {
    /// "natural" or "robust".
    public var role: String
    public var checkpoint: String
    /// The bytes measured: `--resume` measures again only when they changed.
    public var sha256: String
    public var classes: Int
    public var cleanAccuracy: Double
    public var cleanImages: Int
    /// The robust teacher's accuracy under `robustAttack` on the first `robustImages` of the sample; nil for the natural one.
    public var robustAccuracy: Double?
    public var robustAttack: String?
    public var robustImages: Int?
    public var eps: Double?
    public var epsText: String?
    /// `teachers.<role>.expect_clean` of the config, when given.
    public var expectClean: Double?
    /// Why the numbers look wrong, and what to check; empty when they look right.
    public var warnings: [String]
    public var seconds: Double

    /// Images of the test split for the clean accuracy, and of those the first few for the robust teacher's attack:
    /// a second or two for the demo's teachers on 2 cores.
    public static let cleanImages = 500
    public static let robustImages = 200
    public static let robustAttack = "pgd10"
    /// How far below `expect_clean` a teacher may measure before the check warns (5 points).
    public static let tolerance = 0.05

    /// The warnings for a teacher measured at `clean` on `images` images of `classes` classes.
    static func warnings(role: String, checkpoint: String, clean: Double, images: Int, classes: Int, expect: Double?) -> [String] {
        let causes = "the teacher probably does not see its inputs as it was trained to: check its input normalisation "
            + "(a mean/std it was trained with: model.mean/model.std, or the checkpoint's), the channel order (RGB against BGR) "
            + "and the input scale ([0, 1] against [0, 255] or [-1, 1])"
        let chance = 1 / Double(max(classes, 1))
        let measured = String(format: "teacher %@ (%@): clean accuracy %.1f%% on %d test images", role, checkpoint, 100 * clean, images)
        var out: [String] = []
        if clean < 2 * chance {
            out.append(measured + String(format: " is near chance (%.1f%% for %d classes); ", 100 * chance, classes) + causes)
        }
        if let expect, clean < expect - tolerance {
            out.append(measured + String(format: " is more than %.0f points below the %.1f%% its config expects (teachers.%@.expect_clean); ",
                                         100 * tolerance, 100 * expect, role) + causes)
        }
        return out
    }
}

/// `<run>/teachers.json`.
public struct TeacherChecks: Codable, Sendable, Equatable {
    public var teachers: [TeacherCheck]

    public static let fileName = "teachers.json"

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// The file of a run directory; nil when absent or unreadable (a run without teachers has none).
    public static func read(directory: String) -> TeacherChecks? {
        guard let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(fileName)) else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(TeacherChecks.self, from: data)
    }
}

extension Trainer {
    /// Measures each teacher (or, on `--resume`, keeps what teachers.json says of a teacher whose file has the same
    /// SHA-256), warns on stderr about one that looks wrong, and writes teachers.json.
    func checkTeachers(resume: Bool) throws {
        let roles: [(String, TeacherConfig?, Model?)] = [("natural", config.teachers?.natural, teachers.natural),
                                                         ("robust", config.teachers?.robust, teachers.robust)]
        guard roles.contains(where: { $0.2 != nil }) else { return }
        let earlier = resume ? TeacherChecks.read(directory: runDirectory)?.teachers ?? [] : []
        var checks: [TeacherCheck] = []
        for case let (role, entry?, model?) in roles {
            let digest = SHA256.hex(ofFile: entry.checkpoint) ?? "unreadable"
            if let kept = earlier.first(where: { $0.role == role && $0.sha256 == digest }) {
                progress.note("teacher \(role): measured when the run began (\(TeacherChecks.fileName)), same file, not measured again")
                checks.append(kept)
                continue
            }
            let check = try measure(model, role: role, entry: entry, sha256: digest)
            progress.note(String(format: "teacher %@: clean %.1f%% on %d test images", role, 100 * check.cleanAccuracy, check.cleanImages)
                + (check.robustAccuracy.map { String(format: ", %@ %.1f%% on %d", "PGD-10", 100 * $0, check.robustImages ?? 0) } ?? "")
                + String(format: " (%.1f s)", check.seconds))
            for w in check.warnings { progress.note("warning: " + w) }
            checks.append(check)
        }
        try writeAtomically(runDirectory + "/" + TeacherChecks.fileName, try TeacherChecks.encoder.encode(TeacherChecks(teachers: checks)))
    }

    /// Clean accuracy on `TeacherCheck.cleanImages` test images spread over the split; for the robust teacher,
    /// PGD-10 at the run's ε on the first `TeacherCheck.robustImages` of them.
    func measure(_ model: Model, role: String, entry: TeacherConfig, sha256: String) throws -> TeacherCheck {
        let started = Date()
        let count = test.count, n = min(TeacherCheck.cleanImages, count)
        let sample = n == count ? test : test.subset((0..<n).map { $0 * count / n })
        var options = EvaluationOptions(eps: trainEps)
        options.epsText = config.attack.epsilon?.text
        options.batchSize = 250
        options.seed = config.seed
        options.exampleCount = 0
        var check = TeacherCheck(role: role, checkpoint: entry.checkpoint, sha256: sha256, classes: model.spec.numClasses,
                                 cleanAccuracy: 0, cleanImages: n, expectClean: entry.expectClean, warnings: [], seconds: 0)
        if role == "robust" {
            options.attacks = TeacherCheck.robustAttack
            options.attackLimit = min(TeacherCheck.robustImages, n)
            let r = try Evaluator(model: model, options: options).evaluate(sample, checkpoint: entry.checkpoint)
            check.cleanAccuracy = r.clean.accuracy
            check.robustAccuracy = r.attacks.first?.accuracy
            check.robustAttack = r.attacks.first?.name
            check.robustImages = r.attackCount
            check.eps = r.eps
            check.epsText = r.epsText
        } else {
            check.cleanAccuracy = try Evaluator(model: model, options: options).cleanAccuracy(sample)
        }
        check.warnings = TeacherCheck.warnings(role: role, checkpoint: entry.checkpoint, clean: check.cleanAccuracy, images: n,
                                               classes: check.classes, expect: entry.expectClean)
        check.seconds = Date().timeIntervalSince(started)
        return check
    }
}
