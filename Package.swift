// swift-tools-version:6.0
import PackageDescription

// Compute targets are built with -O even in debug: unoptimised numeric Swift is 15–90× slower,
// which would make `swift test` (gradient checks, tiny training runs) crawl.
let optimisedEvenInDebug: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

// Modules without numeric kernels (the report, the command line, ONNX export, TensorBoard event files, MPI
// set-up) are compiled without optimisation in release builds too: the whole-module optimiser is most of a fresh
// build's critical path (Engine → NN → Attacks → Distillation → Reports → advdistill), and these modules spend
// their time in the optimised ones (bench/README.md, "The build").
let quickToCompile: [SwiftSetting] = [
    .unsafeFlags(["-Onone"], .when(configuration: .release)),
]

let package = Package(
    name: "AdvDistill",
    products: [
        .executable(name: "advdistill", targets: ["advdistill"]),
        .executable(name: "advdistill-fuzz", targets: ["advdistill-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // The data flow, left to right: Engine → Datasets → NN → (Export, TensorBoard) → Attacks → Distillation → Reports → advdistill.
        // Engine/Core holds what the modules after it share: tensors, the seeded generator, strict JSON keys.
        .target(name: "Engine", dependencies: ["CBLAS"], swiftSettings: optimisedEvenInDebug),
        // Open MPI (mpi.h through a shim whose inline functions return the handles Swift cannot import as
        // macros), and the `Communicator` over it. Engine declares the protocol and the one-process
        // implementation; only the CLI (which decides whether mpirun started it) builds an MPICommunicator.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "Cluster", dependencies: ["CMPI", "Engine"], swiftSettings: quickToCompile),
        .target(
            name: "CImageCodecs",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg"), .linkedLibrary("z")]),
        .target(name: "Datasets", dependencies: ["CImageCodecs", "Engine"], swiftSettings: optimisedEvenInDebug),
        .target(name: "NN", dependencies: ["Engine"], swiftSettings: optimisedEvenInDebug),
        // ONNX export: a model's eval-mode graph as an ONNX file. Sources/Export/onnx.pb.swift is generated
        // once from onnx.proto (`make onnx-schema`), so no protobuf plugin runs at build time.
        .target(name: "Export", dependencies: ["NN", "Engine", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: quickToCompile),
        // TensorBoard event files (TFRecord framing, CRC-32C, Event/Summary protos): Sources/TensorBoard/event.pb.swift
        // is generated once from the subset schema event.proto beside it (`make tensorboard-schema`).
        .target(name: "TensorBoard", dependencies: ["NN", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["event.proto"], swiftSettings: quickToCompile),
        .target(name: "Attacks", dependencies: ["Datasets", "Engine", "NN"], swiftSettings: optimisedEvenInDebug),
        .target(name: "Distillation", dependencies: ["Datasets", "Engine", "NN", "Attacks", "TensorBoard"],
                swiftSettings: optimisedEvenInDebug),
        .target(name: "Reports", dependencies: ["Attacks", "Distillation", "Datasets", "NN"],
                swiftSettings: optimisedEvenInDebug + quickToCompile),
        .executableTarget(
            name: "advdistill",
            dependencies: [
                "Engine", "Cluster", "NN", "Export", "Datasets", "Attacks", "Distillation", "Reports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: quickToCompile),
        // libFuzzer harnesses for every parser of outside files, and their driver (`make fuzz`, `make asan`).
        .target(name: "FuzzHarnesses", dependencies: ["Datasets", "Distillation", "Engine", "NN"]),
        .executableTarget(name: "advdistill-fuzz", dependencies: ["FuzzHarnesses"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"], swiftSettings: optimisedEvenInDebug),
        .testTarget(name: "NNTests", dependencies: ["NN", "Engine"], exclude: ["Fixtures"],
                    swiftSettings: optimisedEvenInDebug),
        .testTarget(name: "ExportTests", dependencies: ["Export", "NN", "Engine",
                                                        .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard",
                                                             .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "AttacksTests", dependencies: ["Attacks", "NN", "Engine", "Datasets"],
                    swiftSettings: optimisedEvenInDebug),
        .testTarget(name: "DistillationTests", dependencies: ["Distillation", "Attacks", "NN", "Engine", "Datasets", "TensorBoard"],
                    swiftSettings: optimisedEvenInDebug),
        // Runs the built CLI through Configs/demo/run.sh; needs no module of ours at compile time.
        .testTarget(name: "PipelineTests"),
        // The built CLI under faults: kill -9 mid-checkpoint, a full disk, signals, a second run, NaN.
        // Reads the checkpoints it leaves with NN; runs .build/…/advdistill, which `swift test` builds.
        .testTarget(name: "FaultTests", dependencies: ["NN"]),
        // Replays the committed fuzz corpus (Tests/Fixtures/fuzz) through the harnesses.
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzHarnesses"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Engine"], swiftSettings: optimisedEvenInDebug),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Attacks", "Distillation", "Datasets", "NN"],
                    swiftSettings: optimisedEvenInDebug),
    ]
)
