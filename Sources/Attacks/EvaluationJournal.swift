import Datasets
import Engine
import Foundation
import NN

/// The attacks an evaluation has finished, kept in a file beside its result while it runs, so that an evaluation
/// cut short (a signal, a crash, a full disk) resumes after its last finished attack instead of starting over: an
/// AutoAttack evaluation of a robust model spends most of its time in APGD-T and Square, and lost both each time.
///
/// The file holds, per finished attack in suite order, its outcome, who stayed robust, the example pairs it kept,
/// and the attacks' random generator as it left it, so that the attacks after it draw the same numbers as in one
/// uninterrupted run: a resumed evaluation writes the evaluation file an uninterrupted one would (timings aside).
/// It is used only when its identity matches — the checkpoint's bytes (sha256), the data, and every option that
/// changes a number — and is removed once the evaluation is complete. One process only: under mpirun it is not
/// kept (the ranks would each need it).
public struct EvaluationJournal: Sendable {
    /// Where the file goes (the evaluation file's path + ".partial" for `advdistill eval` and studies).
    public let path: String
    /// What is measured: the checkpoint's sha256 (or its path where that is unknown).
    public let checkpointIdentity: String

    public init(path: String, checkpointIdentity: String) {
        self.path = path; self.checkpointIdentity = checkpointIdentity
    }

    /// One finished attack.
    struct Entry: Codable {
        var key: String
        var outcome: EvaluationResult.AttackOutcome
        /// Who is robust after it (`ExampleMask`).
        var robust: String
        var examples: [EvaluationResult.Example]
        /// The attacks' generator after it.
        var rng: SeededGenerator
    }

    struct File: Codable {
        var format = 1
        var identity: String
        var attacks: [Entry]
    }

    /// The identity of an evaluation of this checkpoint with `options` on `data`: a file written for another
    /// is ignored (and replaced as this evaluation goes).
    func identity(_ options: EvaluationOptions, data: Dataset) -> String {
        let sweep = options.epsSweep.map { String($0.bitPattern) }.joined(separator: ",")
        return [checkpointIdentity, data.source, String(data.count), String(options.eps.bitPattern), options.attacks,
                options.attackLimit.map(String.init) ?? "all", String(options.batchSize), String(options.seed), sweep,
                String(options.exampleCount)].joined(separator: "|")
    }

    /// The finished attacks of an earlier run of this evaluation (empty when there is none, or it was another's).
    func load(identity: String) -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path),
              let file = try? JSONDecoder().decode(File.self, from: data),
              file.format == 1, file.identity == identity else { return [] }
        return file.attacks
    }

    /// Keeps `entries` (atomically: a cut during the write leaves the previous file).
    func save(_ entries: [Entry], identity: String) throws {
        let data = try JSONEncoder().encode(File(identity: identity, attacks: entries))
        do throws(AtomicFileError) { try AtomicFile.write(data, to: path) }
        catch { throw AttackError.invalidOption("cannot keep the evaluation's progress in \(path): \(error.reason)") }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
