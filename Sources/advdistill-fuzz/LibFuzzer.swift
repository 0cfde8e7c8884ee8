#if FUZZING
import FuzzHarnesses

/// libFuzzer's entry for programs that have their own `main` (SwiftPM gives executables one).
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The target of this process; a C callback cannot capture it.
nonisolated(unsafe) private var selected = FuzzTarget.safetensors

/// Hands the process to libFuzzer with `target` as the test function. argv[1] (the target's name)
/// is removed so that libFuzzer sees only its own options and corpus folders.
func run(_ target: FuzzTarget) -> Int32 {
    selected = target
    let argv = CommandLine.unsafeArgv
    argv[1] = argv[0]   // the program's name where the target's was
    var shifted = argv + 1
    var argc = CommandLine.argc - 1
    return LLVMFuzzerRunDriver(&argc, &shifted) { data, size in
        _ = selected.run(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
}
#endif
