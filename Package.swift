// swift-tools-version:6.0
import PackageDescription

/// The pipeline is visible in the module graph (the dependencies below, and no others):
///   IR ← Autodiff                      the VJP rules
///   IR ← Runtime ← Optimizer           reference semantics; passes that fold with them
///   IR ← Lowering ← Bytecode, C        schedule, fusion, buffer plan; the VM; the C backend
///   (Bytecode and C also use Runtime)  ← Grad (library, pipeline) ← gradc (CLI)
/// IR: types, op table, graph, parser, derivative sparsity patterns (a sparse request's type); Runtime: tensors, scalar semantics, reference kernels.
let package = Package(
    name: "gradc",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Grad", targets: ["Grad"]),
        .executable(name: "gradc", targets: ["gradc"]),
        .executable(name: "gradc-gradbench", targets: ["gradc-gradbench"]),
    ],
    targets: [
        .target(name: "GradIR", linkerSettings: [.linkedLibrary("m")]),
                .target(name: "GradAutodiff", dependencies: ["GradIR"]),
        .target(name: "GradRuntime", dependencies: ["GradIR"]),
        .target(name: "GradOptimizer", dependencies: ["GradIR", "GradRuntime"]),
        // The VM's AVX2+FMA matmul micro-kernels: C whose functions carry
        // `target("avx2,fma")` (no unsafe flags), called after a CPU check (CPUFeatures.swift).
        .target(name: "GradKernelsAVX2"),
        .target(name: "GradLowering", dependencies: ["GradIR"]),
        .target(name: "GradBytecode", dependencies: ["GradIR", "GradRuntime", "GradLowering", "GradKernelsAVX2"]),
        .target(name: "GradC", dependencies: ["GradIR", "GradRuntime", "GradLowering"]),
        .target(name: "Grad", dependencies: ["GradIR", "GradAutodiff", "GradRuntime", "GradOptimizer", "GradLowering", "GradBytecode", "GradC"]),
        .executableTarget(name: "gradc", dependencies: ["Grad"]),
        .executableTarget(name: "GradBench", dependencies: ["Grad"]),
        // gradc as a tool of the GradBench suite (docs/gradbench.md): the protocol and the
        // evals' JSON in a library the tests call; the models are Examples/gradbench/*.ir.
        .target(name: "GradBenchTool", dependencies: ["Grad"]),
        .executableTarget(name: "gradc-gradbench", dependencies: ["GradBenchTool"]),
        .executableTarget(name: "Digits", dependencies: ["Grad"], path: "Examples/Digits"),
        .executableTarget(name: "Newton", dependencies: ["Grad"], path: "Examples/Newton"),
        .executableTarget(name: "Dirichlet", dependencies: ["Grad"], path: "Examples/Dirichlet"),
        .executableTarget(name: "Iris", dependencies: ["Grad"], path: "Examples/Iris"),
        .executableTarget(name: "Tour", dependencies: ["Grad"], path: "Examples/Tour"),
        .executableTarget(name: "CharRNN", dependencies: ["Grad"], path: "Examples/CharRNN"),
        .executableTarget(name: "DocClassifier", dependencies: ["Grad"], path: "Examples/DocClassifier"),
        .executableTarget(name: "GaussianProcess", dependencies: ["Grad"], path: "Examples/GaussianProcess"),
        .executableTarget(name: "SparsityTiming", dependencies: ["GradIR"], path: "Examples/SparsityTiming"),
        // libFuzzer targets (Scripts/fuzz.sh); without -DFUZZING they replay inputs once.
        .target(name: "GradFuzzDriver", path: "Tests/Fuzz/Driver"),
        .executableTarget(name: "GradFuzzIR", dependencies: ["Grad", "GradFuzzDriver"], path: "Tests/Fuzz/IR"),
        .executableTarget(name: "GradFuzzGBC", dependencies: ["Grad", "GradFuzzDriver"], path: "Tests/Fuzz/GBC"),
        .executableTarget(name: "GradFuzzNPY", dependencies: ["Grad", "GradFuzzDriver"], path: "Tests/Fuzz/NPY"),
        .executableTarget(name: "GradFuzzGBCRun", dependencies: ["Grad", "GradFuzzDriver"], path: "Tests/Fuzz/GBCRun"),
        .target(name: "TestSupport", dependencies: ["Grad"], path: "Tests/TestSupport"),
        .testTarget(name: "GradIRTests", dependencies: ["GradIR", "TestSupport"]),
        .testTarget(name: "GradSparsityTests", dependencies: ["GradIR", "Grad", "TestSupport"]),
        .testTarget(name: "GradAutodiffTests", dependencies: ["Grad", "TestSupport"]),
        .testTarget(name: "GradRuntimeTests", dependencies: ["Grad", "TestSupport"]),
        .testTarget(name: "GradOptimizerTests", dependencies: ["Grad", "TestSupport"]),
        .testTarget(name: "GradBytecodeTests", dependencies: ["Grad", "TestSupport"]),
        .testTarget(name: "GradCTests", dependencies: ["Grad", "TestSupport"]),
        .testTarget(name: "GradTests", dependencies: ["Grad", "TestSupport"]),
        .testTarget(name: "GradBenchToolTests", dependencies: ["GradBenchTool", "Grad"]),
    ]
)
