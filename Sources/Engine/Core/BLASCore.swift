import CBLAS
import Foundation

/// Which OpenBLAS kernels run sgemm, and when to ask for better ones.
///
/// Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH: at load time (a library constructor, before
/// `main`) it reads the CPU's identity and picks one of its kernel sets, unless the environment
/// variable `OPENBLAS_CORETYPE` names one. The AVX-512 sets ("SkylakeX", "Cooperlake") run sgemm at
/// about twice the AVX2 "Haswell" rate on an AVX-512 AMD EPYC (measured 245 against 125 GFLOP/s per
/// core). On the development machine OpenBLAS recognises the CPU by itself (it picks Cooperlake);
/// Haswell there came from `OPENBLAS_CORETYPE=Haswell` in the session's environment, which we respect.
/// For a CPU that a build does not recognise (an older OpenBLAS, or a VM that hides the CPU model but
/// not its AVX-512 flags) the CLI asks for SkylakeX: the variable is read only by that constructor, so
/// it sets it and re-executes itself once (`relaunchWithFasterBLASIfBeneficial` in the advdistill
/// target); `ADVDISTILL_BLAS_AUTO=0` turns that off.
public enum BLASCore {
    /// OpenBLAS kernel sets that use AVX-512 for sgemm (names as `openblas_get_corename` spells them).
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]
    /// The CPU features the SkylakeX kernels need.
    static let skylakeXFlags: Set<String> = ["avx512f", "avx512bw", "avx512vl", "avx512dq"]

    /// The core set to force, or nil to keep OpenBLAS's own choice. Pure, for tests:
    /// force "SkylakeX" when the CPU has the AVX-512 subsets its kernels use, OpenBLAS picked a
    /// non-AVX-512 set, the user has not chosen (`OPENBLAS_CORETYPE` unset) nor opted out
    /// (`ADVDISTILL_BLAS_AUTO=0`), and this process is not already the relaunched one.
    public static func coreToForce(environment: [String: String], cpuFlags: Set<String>, currentCore: String) -> String? {
        if environment["ADVDISTILL_BLAS_AUTO"] == "0" { return nil }
        if environment["OPENBLAS_CORETYPE"] != nil || environment[relaunchMarker] != nil { return nil }
        if avx512Cores.contains(currentCore.lowercased()) { return nil }
        return skylakeXFlags.isSubset(of: cpuFlags) ? "SkylakeX" : nil
    }

    /// Set in the relaunched process to the core OpenBLAS had picked by itself (provenance, loop guard).
    public static let relaunchMarker = "ADVDISTILL_BLAS_RELAUNCHED_FROM"

    /// The flags of the first CPU in /proc/cpuinfo (empty if unreadable, e.g. not Linux).
    public static func cpuFlags(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> Set<String> {
        guard let line = cpuinfo?.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let list = line.split(separator: ":", maxSplits: 1).last else { return [] }
        return Set(list.split(separator: " ").map(String.init))
    }

    /// The kernel set OpenBLAS is using in this process (e.g. "Haswell", "SkylakeX").
    public static var current: String { String(cString: openblas_get_corename()) }

    /// One line for `bench` and provenance: the core and how it was chosen, with a hint when the
    /// environment holds an AVX-512 CPU to AVX2 kernels.
    public static var provenance: String {
        let env = ProcessInfo.processInfo.environment
        if let from = env[relaunchMarker] {
            return "\(current) (auto-selected for this AVX-512 CPU; OpenBLAS alone picks \(from); ADVDISTILL_BLAS_AUTO=0 keeps it)"
        }
        if let forced = env["OPENBLAS_CORETYPE"] {
            let slower = !avx512Cores.contains(current.lowercased()) && skylakeXFlags.isSubset(of: cpuFlags())
            return "\(current) (set by OPENBLAS_CORETYPE=\(forced) in the environment"
                + (slower ? "; this CPU has AVX-512: unset it for about twice the sgemm rate)" : ")")
        }
        return "\(current) (OpenBLAS's own choice)"
    }
}
