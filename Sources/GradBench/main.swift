import Foundation

/// Benchmarks are programs, not tests: `swift run -c release GradBench <name> [options]`.
let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "scale":
    do {
        try ScaleBenchmark.run(Array(arguments.dropFirst()))
    } catch {
        FileHandle.standardError.write("GradBench: \(error)\n".data(using: .utf8) ?? Data())
        exit(2)
    }
default:
    print("usage: GradBench scale [--n N]… [--repeat R] [--stats] [--unfused]")
}
