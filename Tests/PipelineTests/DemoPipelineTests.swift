import Foundation
import Testing

/// The demo's pipeline, end to end through the real CLI and Configs/demo/run.sh, on a tiny subset of the
/// real Fashion-MNIST: two teachers trained (not the shipped ones), three students, the demo's attack suite
/// on a few images, and the report. It keeps `make demo` from rotting without taking its 15 minutes.
struct DemoPipeline {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/debug/advdistill").path
    static let data = root.appendingPathComponent("Data/fashion-mnist/train-images-idx3-ubyte.gz").path
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.fileExists(atPath: data)
    }
}

@Test(.enabled(if: DemoPipeline.available, "needs the built CLI and Data/fashion-mnist (make data)"))
func demoPipelineRunsEndToEndOnATinySubset() throws {
    let fm = FileManager.default
    let work = fm.temporaryDirectory.appendingPathComponent("advdistill-demo-\(UUID().uuidString)")
    let conf = work.appendingPathComponent("conf"), out = work.appendingPathComponent("runs")
    try fm.createDirectory(at: conf, withIntermediateDirectories: true)
    defer { try? fm.removeItem(at: work) }

    // The demo's own student configs, shrunk; teachers from the demo-full configs, shrunk.
    func shrink(_ source: String, name: String) throws {
        let url = DemoPipeline.root.appendingPathComponent(source)
        var c = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var data = c["data"] as! [String: Any]
        var train = data["train"] as! [String: Any]
        train["limit"] = 256
        data["train"] = train
        data["test"] = (data["test"] as! [String: Any]).merging(["limit": 200]) { $1 }
        c["data"] = data
        c["epochs"] = 1
        c["output"] = out.path
        c["eval"] = ["attacks": "pgd20", "limit": 64]
        if var teachers = c["teachers"] as? [String: Any] {
            for role in ["natural", "robust"] {
                let t = role == "natural" ? "teacher-natural" : "teacher-pgdat"
                teachers[role] = ["checkpoint": out.appendingPathComponent("\(t)/best.safetensors").path]
            }
            c["teachers"] = teachers
        }
        try JSONSerialization.data(withJSONObject: c, options: [.prettyPrinted, .sortedKeys])
            .write(to: conf.appendingPathComponent("\(name).json"))
    }
    for t in ["teacher-natural", "teacher-pgdat"] { try shrink("Configs/demo-full/\(t).json", name: t) }
    for s in ["natural", "pgdat", "bmtard"] { try shrink("Configs/demo/\(s).json", name: s) }

    /// Runs the demo script once; its exit status and output.
    func demo(attacks: String? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [DemoPipeline.root.appendingPathComponent("Configs/demo/run.sh").path, conf.path, out.path]
        p.currentDirectoryURL = DemoPipeline.root
        var env = ProcessInfo.processInfo.environment
        env["BIN"] = DemoPipeline.binary
        env["DEMO_EVAL_LIMIT"] = "16"
        if let attacks { env["DEMO_ATTACKS"] = attacks }
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, output)
    }
    let (status, output) = try demo()
    #expect(status == 0, "run.sh failed:\n\(output.suffix(3000))")

    for model in ["teacher-natural", "teacher-pgdat", "natural", "pgdat", "bmtard"] {
        let dir = out.appendingPathComponent(model)
        for file in ["config.json", "metrics.jsonl", "best.safetensors", "eval.json"] {
            #expect(fm.fileExists(atPath: dir.appendingPathComponent(file).path), "\(model)/\(file)")
        }
        // Every accuracy the pipeline printed for this model is the one in its eval.json.
        let eval = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("eval.json"))) as! [String: Any]
        let clean = (eval["clean"] as! [String: Any])["accuracy"] as! Double
        #expect(output.contains(String(format: "%.2f", 100 * clean)), "\(model): clean \(clean) not in the printed output")
        let keys = (eval["attacks"] as! [[String: Any]]).map { $0["key"] as! String }
        #expect(keys == ["fgsm", "pgd20", "cw30", "apgd-ce", "apgd-t", "square"], "\(model): \(keys)")
    }
    for file in ["report.html", "report.md", "report.json"] {
        #expect(fm.fileExists(atPath: out.appendingPathComponent(file).path), "\(file)")
    }
    #expect(output.contains("=== stage times"))
    // B-MTARD logged its balancer every epoch.
    let metrics = try String(contentsOf: out.appendingPathComponent("bmtard/metrics.jsonl"), encoding: .utf8)
    #expect(metrics.contains("\"tau_nat\"") && metrics.contains("\"w_adv\""))

    // A second and a third demo work too: the students are retrained on purpose, each time keeping the run
    // before in previous/ (one, not a pile); the teachers and their evaluations are reused as they are.
    let students = ["natural", "pgdat", "bmtard"]
    func best(_ model: String, _ sub: String = "") throws -> Data {
        try Data(contentsOf: out.appendingPathComponent("\(model)/\(sub)best.safetensors"))
    }
    let teacherEval = try Data(contentsOf: out.appendingPathComponent("teacher-pgdat/eval.json"))
    var lastRun = try students.map { try best($0) }
    for round in 2...3 {
        let (status, output) = try demo(attacks: "fgsm")
        #expect(status == 0, "run.sh round \(round) failed:\n\(output.suffix(3000))")
        for (i, s) in students.enumerated() {
            let dir = out.appendingPathComponent(s)
            #expect(try best(s, "previous/") == lastRun[i], "round \(round): \(s)/previous/ holds the run before")
            #expect(!fm.fileExists(atPath: dir.appendingPathComponent("previous/previous").path))
            #expect(fm.fileExists(atPath: dir.appendingPathComponent("eval.json").path), "round \(round): \(s) evaluated anew")
        }
        lastRun = try students.map { try best($0) }
        #expect(try Data(contentsOf: out.appendingPathComponent("teacher-pgdat/eval.json")) == teacherEval)
        #expect(!fm.fileExists(atPath: out.appendingPathComponent("teacher-pgdat/previous").path))
    }
}
