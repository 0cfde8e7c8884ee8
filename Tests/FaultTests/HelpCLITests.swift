import Foundation
import Testing

/// `--help` is among the first things a user reads. ArgumentParser wraps each line of a command's text at the
/// terminal's width (80 columns into a file or pipe, or COLUMNS) and starts every wrapped part at column 0, so a
/// text written with line breaks of its own inside a paragraph comes out ragged, and an indented list item or
/// example longer than a line goes on below its own indentation. Each command's help, as printed, is checked
/// for both.
@Suite struct HelpThroughTheCLI {
    static let commands = [[], ["train"], ["eval"], ["report"], ["study"], ["export"], ["predict"], ["init"], ["inspect"],
                           ["data"], ["bench"]]

    /// Where `text` (the part of a help page above USAGE, printed at `width` columns) breaks a line of prose
    /// that the next line's first word would have fitted onto, within a sentence (a break after ".", ":" or ";"
    /// can be a new line of its own), or continues an indented line (a list item, an example) at column 0 with
    /// anything but the start of a new sentence.
    static func raggedBreaks(_ text: String, width: Int) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var found: [String] = []
        for (a, b) in zip(lines, lines.dropFirst()) where !a.isEmpty && !b.isEmpty && b.first != " " {
            let word = b.prefix { $0 != " " }
            let sentenceEnds = [".", ":", ";"].contains { a.hasSuffix($0) }
            // ArgumentParser breaks at the last space among a line's first `width` characters, so a line
            // followed by more text has at most width − 1 of them.
            if a.first != " " && !sentenceEnds && a.count + 1 + word.count <= width - 1 {
                found.append("a break before '\(word)' after '\(a)'")
            } else if a.first == " " && !(b.first?.isUppercase ?? false) {
                found.append("'\(b)' continues the indented '\(a)' at column 0")
            }
        }
        return found
    }

    @Test(arguments: commands)
    func helpReadsAsWrittenAtTheTerminalWidth(_ command: [String]) throws {
        let workspace = try Workspace(side: 8, train: 8, test: 8)
        let child = try workspace.run(command + ["--help"])
        #expect(child.exitStatus == 0, "\(child.log)")
        let width = ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) } ?? 80
        let page = child.log
        let text = try #require(page.range(of: "\nUSAGE:").map { String(page[..<$0.lowerBound]) }, "no USAGE line: \(page)")
        #expect(text.split(separator: "\n").count > 1, "\(command): the help has a text")
        let ragged = Self.raggedBreaks(text, width: width)
        #expect(ragged.isEmpty, "advdistill \(command.joined(separator: " ")) --help: \(ragged.joined(separator: "; "))")
    }

    /// The check finds what it is for: the bench text as it was before its paragraphs were joined, and the train
    /// text's method list as ArgumentParser laid it out before the list was wrapped with indented continuations.
    @Test func theCheckFindsRaggedBreaksAndUnindentedContinuations() {
        let ragged = """
            The workloads match bench/torch_reference.py, so `make bench-compare` can put
            PyTorch beside us
            (bench/README.md). Each workload runs for --seconds, split into --windows
            """
        #expect(Self.raggedBreaks(ragged, width: 80).count == 1)
        let unindented = """
              ard: ARD (Goldblum et al. 2020): the robust teacher's soft labels on the
            student's PGD examples
              iad: IAD-I (Zhu et al. 2022): ARD, then introspection where the teacher is
            unreliable
            """
        #expect(Self.raggedBreaks(unindented, width: 80).count == 2)
        let fine = """
            Step sizes are given for ε = 8/255 and scale linearly with ε (PGD-20's 2/255
            becomes 0.025 at ε = 0.1).
            Clean accuracy uses every image of the data; attacks use the first --limit
            images.
              ard: ARD (Goldblum et al. 2020): the robust teacher's soft labels on the
                student's PGD examples
            """
        #expect(Self.raggedBreaks(fine, width: 80).isEmpty)
    }
}
