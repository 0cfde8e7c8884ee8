import Foundation
import NN
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The built `advdistill`: beside this test binary (so any `--build-path` works), else `.build/debug`.
enum CLI {
    static let path: String? = {
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append((exe as NSString).deletingLastPathComponent + "/advdistill")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/advdistill").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// The path, or a test failure saying how to get it (`swift test` builds it with everything else).
    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(path, "the advdistill executable is not built (swift build)", sourceLocation: sourceLocation)
    }
}

/// `v` as 4 big-endian bytes (IDX headers, PNG chunk lengths and CRCs).
func be32(_ v: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }

/// A temporary directory with a synthetic IDX dataset (`data/`) and the runs of one test; removed at the end.
/// Class k is a bright 2×2 block in cell k of a 4×4 grid on dim noise, labels cycle 0…9: learnable in an
/// epoch, so evaluations attack most images.
final class Workspace {
    let path: String
    var data: String { path + "/data" }

    init(side: Int, train: Int, test: Int) throws {
        path = NSTemporaryDirectory() + "fault-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path + "/data", withIntermediateDirectories: true)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func noise() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8((state >> 33) % 60)
        }
        let cell = side / 4
        for (prefix, count) in [("train", train), ("t10k", test)] {
            let labels = (0..<count).map { $0 % 10 }
            var pixels: [UInt8] = []
            pixels.reserveCapacity(count * side * side)
            for label in labels {
                var image = (0..<side * side).map { _ in noise() }
                let (y, x) = (label / 4 * cell, label % 4 * cell)
                for dy in 0..<2 { for dx in 0..<2 { image[(y + dy) * side + x + dx] = 230 } }
                pixels += image
            }
            try Data(be32(0x0803) + be32(count) + be32(side) + be32(side) + pixels)
                .write(to: URL(fileURLWithPath: "\(data)/\(prefix)-images-idx3-ubyte"))
            try Data(be32(0x0801) + be32(count) + labels.map(UInt8.init))
                .write(to: URL(fileURLWithPath: "\(data)/\(prefix)-labels-idx1-ubyte"))
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ relative: String) -> String { path + "/" + relative }

    /// Writes a config (run name "run", output `runs/`, natural training, constant learning rate) with
    /// `changes` applied at dotted paths, and returns its path.
    func config(_ name: String = "config", epochs: Int, batchSize: Int = 16, arch: String = "smallcnn",
                changes: [String: Any] = [:]) throws -> String {
        var object: [String: Any] = [
            "name": "run", "seed": 7, "output": sub("runs"),
            "data": ["train": ["path": data], "test": ["path": data, "split": "test"]],
            "model": ["arch": arch], "method": ["name": "natural"], "attack": ["eps": 0.1],
            "optimizer": ["lr": 0.05, "momentum": 0.9], "schedule": ["name": "constant"],
            "epochs": epochs, "batch_size": batchSize,
            "eval": ["attacks": "fgsm", "limit": 16, "batch_size": 16],
        ]
        for (key, value) in changes { set(&object, key, value) }
        let file = sub("\(name).json")
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// `runs/run`, the run directory of `config` (created, so that it can be watched before a run starts).
    func runDirectory(output: String? = nil) throws -> String {
        let dir = (output ?? sub("runs")) + "/run"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Starts `advdistill` (or `executable`) with these arguments, as a shell would: default signal
    /// handling and no blocked signals unless `blocking` lists some. Output and errors go to a log file.
    func launch(_ arguments: [String], executable: String? = nil, blocking blocked: [Int32] = []) throws -> Child {
        let program = try executable ?? CLI.require()
        let log = sub("log-\(UUID().uuidString).txt")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t(), all = sigset_t()
        sigemptyset(&mask)
        for sig in blocked { sigaddset(&mask, sig) }
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, program, &actions, &attributes, argv, environ)
        guard code == 0 else { throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO) }
        return Child(pid: pid, logPath: log)
    }

    /// Runs `advdistill` to the end.
    func run(_ arguments: [String]) throws -> Child { try launch(arguments).waitForExit() }
}

/// A started process and its log. (Not Foundation's `Process`: it starts children with nearly every
/// signal blocked, which is not how a shell starts them.)
final class Child {
    let pid: pid_t
    let logPath: String
    /// The raw `waitpid` status once the process has ended and been reaped.
    private var status: Int32?

    init(pid: pid_t, logPath: String) { self.pid = pid; self.logPath = logPath }

    deinit { stop() }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid { status = raw }
        return status == nil
    }

    /// The exit status, or nil if a signal ended it (or it runs).
    var exitStatus: Int32? { status.flatMap { $0 & 0x7F == 0 ? ($0 >> 8) & 0xFF : nil } }
    /// The signal that ended it, or nil if it exited (or runs).
    var killedBy: Int32? { status.flatMap { $0 & 0x7F == 0 ? nil : $0 & 0x7F } }

    @discardableResult
    func waitForExit() -> Child {
        var raw: Int32 = 0
        while status == nil {
            if waitpid(pid, &raw, 0) == pid { status = raw } else if errno != EINTR { break }
        }
        return self
    }

    /// SIGKILLs it if it is still running (the end of a test that let a run go on).
    func stop() {
        if isRunning { kill(pid, SIGKILL) }
        waitForExit()
    }

    /// CPU seconds (user + system) it has used so far, from /proc: progress that does not depend on how
    /// busy the machine is.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// Polls `condition` every millisecond while `child` runs; false if the child ended or `timeout` passed first.
func waitUntil(_ child: Child, timeout: Double = 60, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        guard child.isRunning else { return condition() }
        usleep(1000)
    }
    return false
}

/// Sets (or with nil removes) the value at a dotted path, creating objects on the way.
func set(_ object: inout [String: Any], _ path: String, _ value: Any?) {
    let keys = path.split(separator: ".").map(String.init)
    func go(_ o: inout [String: Any], _ i: Int) {
        if i == keys.count - 1 { o[keys[i]] = value; return }
        var child = o[keys[i]] as? [String: Any] ?? [:]
        go(&child, i + 1)
        o[keys[i]] = child
    }
    go(&object, 0)
}

/// The trainer state a checkpoint records (`epoch` and `batch`: where the run goes on), after loading the
/// file as a model: a checkpoint that passes is complete and usable.
func checkpointPosition(_ path: String) throws -> (epoch: Int, batch: Int) {
    let (_, file) = try Checkpoint.loadModel(path: path)
    let json = try #require(file.metadata["trainer"], "\(path) has no trainer state")
    let state = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    return (try #require(state["epoch"] as? Int), try #require(state["batch"] as? Int))
}

/// The epochs of metrics.jsonl's lines, in order.
func metricsEpochs(_ runDirectory: String) throws -> [Int] {
    try metricsLines(runDirectory).map { try #require($0["epoch"] as? Int) }
}

func metricsLines(_ runDirectory: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
    return try text.split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

/// Names in `directory` that are temporary files of atomic writes.
func temporaryFiles(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.contains(".tmp-") }.sorted()
}

/// File events in one directory (inotify): creations and renames into it, each with when it was seen.
final class DirectoryWatcher {
    struct Event {
        let name: String
        /// True for a new file, false for one renamed into the directory.
        let created: Bool
        let seen: Date
    }

    private let fd: Int32

    init(_ directory: String) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        guard inotify_add_watch(fd, directory, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0 else {
            let code = errno
            Glibc.close(fd)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
    }

    deinit { Glibc.close(fd) }

    /// The events that arrive within `timeout` seconds (at least one unless the time runs out).
    func next(timeout: Double) -> [Event] {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return [] }
        return drain()
    }

    /// The events already queued.
    func drain() -> [Event] {
        var events: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return events }
            let now = Date()
            var offset = 0
            // struct inotify_event: wd, mask, cookie, len (4 bytes each), then `len` bytes of NUL-padded name.
            while offset + 16 <= n {
                func word(_ at: Int) -> UInt32 {
                    buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + at, as: UInt32.self) }
                }
                let mask = word(4), length = Int(word(12))
                let nameBytes = buffer[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }
                events.append(Event(name: String(decoding: nameBytes, as: UTF8.self),
                                    created: mask & UInt32(IN_CREATE) != 0, seen: now))
                offset += 16 + length
            }
        }
    }
}
