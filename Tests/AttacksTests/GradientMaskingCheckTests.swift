import Foundation
import Testing
@testable import Attacks

/// The four gradient-masking rules, each against a hand-built evaluation: it warns when its rule is broken
/// and stays silent when it holds (or is broken by less than the tolerance: one example or 0.5 %, whichever
/// is larger; 1 % for the 100 examples attacked here).
@Suite struct GradientMaskingCheckTests {
    /// One attack row of eval.json.
    struct Row {
        let key: String, name: String, accuracy: Double
        var mode = "independent"
    }

    /// A real evaluation with its attack rows and ε sweep replaced: the rules read nothing else.
    static func result(_ rows: [Row], sweep: [(eps: Double, accuracy: Double)] = []) throws -> EvaluationResult {
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(base)) as! [String: Any]
        object["attacks"] = rows.map { row -> [String: Any] in
            ["key": row.key, "name": row.name, "mode": row.mode, "accuracy": row.accuracy, "perClass": [Double](),
             "seconds": 0, "imagesPerSecond": 0, "steps": 1]
        }
        object["epsSweep"] = sweep.map { ["eps": $0.eps, "accuracy": $0.accuracy] }
        return try JSONDecoder().decode(EvaluationResult.self, from: JSONSerialization.data(withJSONObject: object))
    }

    static let base: EvaluationResult = try! evaluate("fgsm", eps: 0.1, count: 16)

    static func warnings(_ rows: [Row], sweep: [(eps: Double, accuracy: Double)] = []) throws -> [String] {
        GradientMaskingChecks.warnings(for: try result(rows, sweep: sweep), attackCount: 100)
    }

    @Test func accuracyRisingWithEpsIsFlagged() throws {
        // Sorted by ε first: 90 % → 50 % → 70 % rises between 0.1 and 0.2.
        let w = try Self.warnings([], sweep: [(0.2, 0.7), (0, 0.9), (0.1, 0.5)])
        #expect(w == ["accuracy rises with ε (50.0% at ε=0.1, 70.0% at ε=0.2): gradient masking?"])
        // Falling, flat, or up by half an example of 100 (within the tolerance): nothing.
        #expect(try Self.warnings([], sweep: [(0, 0.9), (0.1, 0.5), (0.2, 0.5), (0.3, 0.505)]).isEmpty)
    }

    @Test func morePGDStepsRaisingAccuracyIsFlagged() throws {
        // PGD-100 must be at least as strong as PGD-20 (steps compared as numbers: "pgd100" > "pgd20").
        let w = try Self.warnings([Row(key: "pgd100", name: "PGD-100", accuracy: 0.45),
                                   Row(key: "pgd20", name: "PGD-20", accuracy: 0.40)])
        #expect(w == ["PGD-100 is weaker than PGD-20 (45.0% vs 40.0%): more steps should not help the model"])
        #expect(try Self.warnings([Row(key: "pgd100", name: "PGD-100", accuracy: 0.38),
                                   Row(key: "pgd20", name: "PGD-20", accuracy: 0.40),
                                   Row(key: "pgd10", name: "PGD-10", accuracy: 0.405)]).isEmpty)
    }

    @Test func fgsmBeatingAnIterativeAttackIsFlagged() throws {
        let w = try Self.warnings([Row(key: "fgsm", name: "FGSM", accuracy: 0.30),
                                   Row(key: "pgd20", name: "PGD-20", accuracy: 0.45)])
        #expect(w == ["FGSM (30.0%) is stronger than PGD-20 (45.0%): gradient masking?"])
        #expect(try Self.warnings([Row(key: "fgsm", name: "FGSM", accuracy: 0.50),
                                   Row(key: "pgd20", name: "PGD-20", accuracy: 0.45)]).isEmpty)
        #expect(try Self.warnings([Row(key: "fgsm", name: "FGSM", accuracy: 0.445),
                                   Row(key: "pgd20", name: "PGD-20", accuracy: 0.45)]).isEmpty, "within one example")
    }

    @Test func squareFindingWhatTheWhiteBoxAttacksMissedIsFlagged() throws {
        let apgd = Row(key: "apgd-ce", name: "APGD-CE", accuracy: 0.40, mode: "cumulative")
        let w = try Self.warnings([apgd, Row(key: "square", name: "Square", accuracy: 0.30, mode: "cumulative")])
        #expect(w == ["the black-box Square attack lowered accuracy from 40.0% to 30.0% after the white-box attacks: gradients may be masked"])
        #expect(try Self.warnings([apgd, Row(key: "square", name: "Square", accuracy: 0.40, mode: "cumulative")]).isEmpty)
        // Square alone, or after an independent attack, has no white-box result to be compared with.
        #expect(try Self.warnings([Row(key: "square", name: "Square", accuracy: 0.10, mode: "cumulative")]).isEmpty)
        #expect(try Self.warnings([Row(key: "fgsm", name: "FGSM", accuracy: 0.40),
                                   Row(key: "square", name: "Square", accuracy: 0.30, mode: "cumulative")]).isEmpty)
    }
}
