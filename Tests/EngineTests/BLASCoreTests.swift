@testable import Engine
import Testing

/// When the CLI asks OpenBLAS for its AVX-512 kernels (see `BLASCore`).

private let avx512: Set<String> = ["sse2", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]

@Test func avx512CPUOnAVX2KernelsGetsSkylakeX() {
    #expect(BLASCore.coreToForce(environment: [:], cpuFlags: avx512, currentCore: "Haswell") == "SkylakeX")
    #expect(BLASCore.coreToForce(environment: [:], cpuFlags: avx512, currentCore: "Zen") == "SkylakeX")
}

@Test func noRelaunchWhenTheKernelsAlreadyUseAVX512OrTheCPULacksIt() {
    for core in ["SkylakeX", "Cooperlake", "SAPPHIRERAPIDS"] {
        #expect(BLASCore.coreToForce(environment: [:], cpuFlags: avx512, currentCore: core) == nil, "\(core)")
    }
    #expect(BLASCore.coreToForce(environment: [:], cpuFlags: avx512.subtracting(["avx512bw"]), currentCore: "Haswell") == nil)
}

@Test func userChoiceOptOutAndTheRelaunchedProcessAreRespected() {
    for env in [["OPENBLAS_CORETYPE": "Haswell"], ["ADVDISTILL_BLAS_AUTO": "0"], [BLASCore.relaunchMarker: "Haswell"]] {
        #expect(BLASCore.coreToForce(environment: env, cpuFlags: avx512, currentCore: "Haswell") == nil, "\(env)")
    }
    #expect(BLASCore.coreToForce(environment: ["ADVDISTILL_BLAS_AUTO": "1"], cpuFlags: avx512, currentCore: "Haswell") == "SkylakeX")
}

@Test func cpuFlagsComeFromTheFirstFlagsLineOfCpuinfo() {
    let cpuinfo = """
    processor\t: 0
    model name\t: AMD EPYC
    flags\t\t: fpu sse2 avx512f avx512bw
    processor\t: 1
    flags\t\t: fpu
    """
    #expect(BLASCore.cpuFlags(cpuinfo: cpuinfo) == ["fpu", "sse2", "avx512f", "avx512bw"])
    #expect(BLASCore.cpuFlags(cpuinfo: nil) == [])
}
