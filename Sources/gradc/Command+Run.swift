import Foundation
import Grad

enum RunCommand {
    static let help = """
    usage: gradc run MODEL.ir [--func NAME] [--input NAME=SPEC]… [--seed N] [--output-dir DIR] [--trace] [-O0|-O1|-O2]

    Evaluates a function (default: the last one in the file) and prints each output:
    its name, type and values. Derivative requests are expanded first.

      --func NAME         the function to run
      --input NAME=SPEC   SPEC is a .npy file, a number (fills the tensor), [v,v,…] (row-major)
                          or random (uniform in [-1, 1)); inputs not given are random
      --seed N            seed for random inputs (default 1)
      --output-dir DIR    write each output to DIR/NAME.npy instead of printing it
      --max-memory BYTES  refuse models whose values need more (default 4 GiB; K, M, G suffixes)
      --trace             also print backpropagation step by step: every node's inputs,
                          output and local derivatives (forward pass), then every node's
                          incoming gradient and the gradients it sends back (backward pass)
      -O0 -O1 -O2         optimization level (default -O2)
    """

    static func run(_ args: [String]) throws -> ExitStatus {
        let o = try Options(args, valued: ["--max-memory", "--func", "--input", "--seed", "--output-dir"], flags: ["--help", "-h", "-O0", "-O1", "-O2", "--trace"])
        if o.has("--help") || o.has("-h") {
            print(help)
            return .ok
        }
        let path = try o.modelPath()
        let module = try Pipeline.load(path: path)
        let parsed = try Pipeline.function(module, named: o.value("--func"))
        let seed = try parseSeed(o.value("--seed"))
        let lowered = try Pipeline.lower(Module(functions: [parsed]), to: .optimized, options: optimizerOptions(o))
        guard let function = lowered.functions.first else { throw Diagnostic(.emptyFile) }
        let limit = try memoryLimit(o)
        try located(path) { try Pipeline.checkMemory(function, limit: limit) }
        let inputs = try makeInputs(for: parsed, specs: o.values["--input"] ?? [], seed: seed)
        if o.has("--trace") {
            print(try BackpropTrace(parsed, inputs: inputs))
            print("")
        }
        let outputs = try ReferenceEvaluator.run(function, inputs: inputs)
        if let dir = o.value("--output-dir") {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (out, value) in zip(function.outputs, outputs) {
                let file = (dir as NSString).appendingPathComponent(out.name + ".npy")
                try writeNPY(value, path: file)
                print("wrote \(file) (\(value.type))")
            }
        } else {
            for (out, value) in zip(function.outputs, outputs) {
                let text = formatTensor(value)
                if value.shape.isEmpty {
                    print("\(out.name): \(value.type) = \(text)")
                } else {
                    print("\(out.name): \(value.type) =\n\(text)")
                }
            }
        }
        return .ok
    }
}

func parseSeed(_ text: String?) throws -> UInt64 {
    guard let text else { return 1 }
    guard let v = UInt64(text) else { throw UsageError(message: "--seed expects a non-negative integer, got '\(text)'") }
    return v
}

/// Runs `body`, adding the model's file name and source line to a diagnostic that lacks them.
func located<T>(_ path: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let d as Diagnostic {
        throw d.attaching(file: path, source: try? String(contentsOfFile: path, encoding: .utf8))
    }
}

func memoryLimit(_ o: Options) throws -> Int {
    guard let text = o.value("--max-memory") else { return defaultMemoryLimit }
    let multipliers: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
    var digits = text.uppercased()
    var scale = 1
    if let last = digits.last, let m = multipliers[last] {
        scale = m
        digits.removeLast()
    }
    guard let v = Int(digits), v > 0, case let (bytes, overflow) = v.multipliedReportingOverflow(by: scale), !overflow else {
        throw UsageError(message: "--max-memory expects a positive size like 512M or 8G, got '\(text)'")
    }
    return bytes
}

func optimizerOptions(_ o: Options) -> OptimizerOptions {
    if o.has("-O0") { return OptimizerOptions(level: 0) }
    if o.has("-O1") { return OptimizerOptions(level: 1) }
    return OptimizerOptions(level: 2)
}
