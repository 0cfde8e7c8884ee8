import Foundation
import Testing

/// ε as the user wrote it, through the CLI: kept as text in eval.json and config.json, and a bad one refused
/// naming the option or the config field.
@Suite struct EpsilonAsText {
    @Test func evalKeepsTheTextOfEpsAndOfTheSweep() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        let config = try workspace.config(epochs: 1, arch: "tinycnn", changes: ["attack.eps": "1/10"])
        let trained = try workspace.run(["train", "--config", config, "--threads", "1"])
        try #require(trained.exitStatus == 0, "\(trained.log)")
        let run = try workspace.runDirectory()
        let resolved = try String(contentsOfFile: run + "/config.json", encoding: .utf8)
        #expect(resolved.contains(#""eps" : "1/10""#), "config.json keeps the fraction: \(resolved)")

        let out = workspace.sub("eval-8-255.json")
        let evaluated = try workspace.run(["eval", "--checkpoint", run + "/best.safetensors", "--data", workspace.data,
                                           "--attacks", "fgsm", "--eps", "8/255", "--eps-sweep", "0,4/255, 0.05",
                                           "--limit", "8", "--threads", "1", "--json", out])
        try #require(evaluated.exitStatus == 0, "\(evaluated.log)")
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        #expect(file["eps_text"] as? String == "8/255")
        #expect(abs((file["eps"] as? Double ?? 0) - 8.0 / 255.0) < 1e-7)
        let sweep = try #require(file["eps_sweep"] as? [[String: Any]])
        #expect(sweep.map { $0["eps_text"] as? String } == ["0", "4/255", "0.05"])
    }

    @Test func aBadEpsIsRefusedNamingTheOptionOrTheField() throws {
        let workspace = try Workspace(side: 8, train: 32, test: 16)
        for (option, value) in [("--eps", "eight"), ("--eps", "8/0"), ("--eps", "-0.1"), ("--eps-sweep", "0,4/255,x")] {
            var arguments = ["eval", "--checkpoint", workspace.sub("none.safetensors"), "--data", workspace.data, "--eps", "0.1"]
            arguments.append(option + "=" + value)   // "=": a value may start with "-"
            let child = try workspace.run(arguments)
            #expect(child.exitStatus == 64, "a usage error: \(child.log)")
            #expect(child.log.contains("\(option): expected a number ≥ 0 such as 0.1, or a fraction such as \"8/255\", got '"), "\(child.log)")
        }
        let config = try workspace.config(epochs: 1, changes: ["attack.eps": "8/255ths"])
        let train = try workspace.run(["train", "--config", config])
        #expect(train.exitStatus == 1, "\(train.log)")
        #expect(train.log.contains("Error: cannot read config \(config): 'attack.eps': expected a number ≥ 0 such as 0.1, or a fraction such as \"8/255\", found \"8/255ths\""),
                "\(train.log)")
        let negative = try workspace.config(epochs: 1, changes: ["attack.eps": "-8/255"])
        let refused = try workspace.run(["train", "--config", negative])
        #expect(refused.exitStatus == 1 && refused.log.contains("config field 'attack.eps': must be ≥ 0"), "\(refused.log)")
    }
}
