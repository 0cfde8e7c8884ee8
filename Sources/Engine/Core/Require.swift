/// Stops the program with `message` unless `condition` holds: the check for a caller's mistake (wrong
/// shapes, out-of-range indices, invalid hyperparameters) that the code cannot recover from.
///
/// Use it instead of `precondition`, whose message is dropped in -O builds, and every compute target is
/// built with -O, even in debug (Package.swift): there a failed `precondition` says only "Fatal error"
/// where a failed `require` says which shapes or values were wrong. The message is built only on failure.
@inline(__always)
public func require(_ condition: Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}
