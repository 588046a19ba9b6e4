import Foundation

// GradBench: benchmark workloads, one function per workload set.
//   swift run -c release GradBench vm      the bytecode VM vs the reference evaluator
//   swift run -c release GradBench c       the C backend: call time, compile cold/warm
//   swift run -c release GradBench linalg  logdet and solve with their gradients (Scripts/bench/linalg.py)
//   swift run -c release GradBench sparse-hessian  a 2-D Laplacian's sparse Hessian (Scripts/bench/sparse_hessian.py)
//   swift run -c release GradBench conv    conv2d forward + backward, f32 (Scripts/bench/conv.py adds PyTorch)
//   swift run -c release GradBench matmul  one matrix product: each VM matmul kernel, 1 and 2 threads, and C
//   swift run -c release GradBench scale   optimizer scale: Rosenbrock parse/differentiate/optimize
//   swift run -c release GradBench harness gradc's side of the peer comparison (Scripts/bench.sh)

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "vm":
    runVMBenchmarks(Array(arguments.dropFirst()))
case "c":
    runCBenchmarks(Array(arguments.dropFirst()))
case "scale":
    do {
        try ScaleBenchmark.run(Array(arguments.dropFirst()))
    } catch {
        FileHandle.standardError.write("GradBench: \(error)\n".data(using: .utf8) ?? Data())
        exit(2)
    }
case "conv":
    runConvBenchmark(Array(arguments.dropFirst()))
case "matmul":
    runMatmulBenchmark(Array(arguments.dropFirst()))
case "linalg":
    runLinalgBenchmark(Array(arguments.dropFirst()))
case "sparse-hessian":
    runSparseHessianBenchmark(Array(arguments.dropFirst()))
case "harness":
    do {
        try Harness.run(Array(arguments.dropFirst()))
    } catch {
        FileHandle.standardError.write(Data("GradBench harness: \(error)\n".utf8))
        exit(2)
    }
default:
    print("usage: GradBench vm | c [--quick] [--portable]")
    print("       GradBench vm [--profile] [--matmul-threads N] [--matmul-kernel baseline|avx2|avx2FMA]")
    print("       GradBench matmul [M K N] [f32]")
    print("       GradBench linalg [N] [K]")
    print("       GradBench sparse-hessian [N] [--c] [--repeat R]")
    print("       GradBench conv [--quick]")
    print("       GradBench scale [--n N]… [--repeat R] [--stats] [--unfused]")
    print("       GradBench harness --help")
}
