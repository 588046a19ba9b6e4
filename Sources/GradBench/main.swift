import Foundation

// GradBench: benchmark workloads, one function per workload set.
//   swift run -c release GradBench vm      the bytecode VM vs the reference evaluator

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "vm":
    runVMBenchmarks(Array(arguments.dropFirst()))
default:
    print("usage: GradBench vm")
}
