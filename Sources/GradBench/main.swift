import Foundation

// GradBench: benchmark workloads, one function per workload set.
//   swift run -c release GradBench vm      the bytecode VM vs the reference evaluator
//   swift run -c release GradBench c       the C backend: call time, compile cold/warm

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "vm":
    runVMBenchmarks(Array(arguments.dropFirst()))
case "c":
    runCBenchmarks(Array(arguments.dropFirst()))
default:
    print("usage: GradBench vm | c [--quick] [--portable]")
}
