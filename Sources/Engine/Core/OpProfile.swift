import Dispatch
import Synchronization

/// Where the time of a step goes, op by op (`advdistill bench --profile`).
///
/// When enabled, the main kernels (convolutions by algorithm and shape, batch norm, pooling,
/// linear, elementwise functions, softmax and losses) and every backward closure (by node name)
/// add their wall time to a per-name total. Disabled (the default), `measure` costs one relaxed
/// atomic load. Measured regions do not nest: each is a leaf kernel, or a backward closure, whose
/// own kernels are not measured separately. Meant for the thread that runs the model; concurrent
/// callers are summed together.
public enum OpProfile {
    static let enabled = Atomic<Bool>(false)
    /// Measured regions currently running: only the outermost one records (a backward closure's
    /// elementwise kernels belong to it).
    private static let depth = Atomic<Int>(0)
    private static let totals = Mutex<[String: (seconds: Double, calls: Int)]>([:])

    /// Clears the totals and starts recording.
    public static func start() {
        totals.withLock { $0 = [:] }
        enabled.store(true, ordering: .relaxed)
    }

    /// Stops recording and returns (name, seconds, calls), most expensive first.
    public static func stop() -> [(name: String, seconds: Double, calls: Int)] {
        enabled.store(false, ordering: .relaxed)
        return totals.withLock { t in t.map { ($0.key, $0.value.seconds, $0.value.calls) } }
            .sorted { $0.seconds > $1.seconds }
    }

    /// Whether ops are being measured (for names that cost something to build).
    static var isRecording: Bool { enabled.load(ordering: .relaxed) }

    /// The start of a measured region that ends with `end(_:)` (a `defer` at the top of an op):
    /// nil when not recording or inside another region.
    struct Region { let name: String, start: UInt64 }

    @inline(__always)
    static func begin(_ name: @autoclosure () -> String) -> Region? {
        guard enabled.load(ordering: .relaxed) else { return nil }
        guard depth.add(1, ordering: .relaxed).oldValue == 0 else { return Region(name: "", start: 0) }
        return Region(name: name(), start: DispatchTime.now().uptimeNanoseconds)
    }

    @inline(__always)
    static func end(_ region: Region?) {
        guard let region else { return }
        depth.subtract(1, ordering: .relaxed)
        guard region.start != 0 else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - region.start) / 1e9
        totals.withLock { t in
            let old = t[region.name] ?? (0, 0)
            t[region.name] = (old.seconds + seconds, old.calls + 1)
        }
    }

    /// Runs `body`, adding its wall time to `name` when recording and not inside another region.
    @inline(__always)
    static func measure<R>(_ name: @autoclosure () -> String, _ body: () throws -> R) rethrows -> R {
        guard enabled.load(ordering: .relaxed) else { return try body() }
        let outer = depth.add(1, ordering: .relaxed).oldValue == 0
        defer { depth.subtract(1, ordering: .relaxed) }
        guard outer else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let key = name()
        totals.withLock { t in
            let old = t[key] ?? (0, 0)
            t[key] = (old.seconds + seconds, old.calls + 1)
        }
        return result
    }
}
