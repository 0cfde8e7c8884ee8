import ArgumentParser
import Engine

@main
struct AdvDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advdistill",
        abstract: "Train, attack-evaluate and report robust image classifiers distilled from two teachers (B-MTARD).",
        subcommands: [])
}
