import Foundation
import Grad

enum RunCommand {
    static let help = """
    usage: gradc run MODEL.ir [--func NAME] [--input NAME=SPEC]… [--seed N] [--output-dir DIR] [--trace]
                     [-O0|-O1|-O2] [--passes=P,…] [--fast-math] [--stats]

    Evaluates a function (default: the last one in the file) and prints each output:
    its name, type and values. Derivative requests are expanded first.

      --func NAME         the function to run
      --input NAME=SPEC   SPEC is a .npy file, a number (fills the tensor), [v,v,…] (row-major)
                          or random (uniform in [-1, 1)); inputs not given are random
      --seed N            seed for random inputs (default 1)
      --output-dir DIR    write each output to DIR/NAME.npy instead of printing it
      --trace             also print backpropagation step by step: every node's inputs,
                          output and local derivatives (forward pass), then every node's
                          incoming gradient and the gradients it sends back (backward pass)
      -O0 -O1 -O2         optimization level (default -O2; -O1 is bit-exact, -O2 adds
                          the stabilizing rewrites, which change bits to gain accuracy)
      --passes=P,…        run exactly these passes, in order, to a fixpoint
                          (cse, fold, simplify, shapes, stabilize, dce)
      --fast-math         allow rewrites that are not IEEE-exact (x*0 → 0, x-x → 0, …)
      --stats             print each pass run: nodes before → after and time (stderr)
    """

    static func run(_ args: [String]) throws -> ExitStatus {
        let o = try Options(args, valued: Set(["--func", "--input", "--seed", "--output-dir"]).union(optimizerValuedOptions),
                            flags: Set(["--help", "-h", "--trace"]).union(optimizerFlags))
        if o.has("--help") || o.has("-h") {
            print(help)
            return .ok
        }
        let path = try o.modelPath()
        let module = try Pipeline.load(path: path)
        let parsed = try Pipeline.function(module, named: o.value("--func"))
        let seed = try parseSeed(o.value("--seed"))
        let inputs = try makeInputs(for: parsed, specs: o.values["--input"] ?? [], seed: seed)
        if o.has("--trace") {
            print(try BackpropTrace(parsed, inputs: inputs))
            print("")
        }
        let lowered = try Pipeline.lower(Module(functions: [parsed]), to: .optimized, options: try optimizerOptions(o))
        guard let function = lowered.functions.first else { throw Diagnostic(.emptyFile) }
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

/// Options shared by the verbs that optimize.
let optimizerFlags: Set<String> = ["-O0", "-O1", "-O2", "--fast-math", "--stats"]
let optimizerValuedOptions: Set<String> = ["--passes"]

func optimizerOptions(_ o: Options) throws -> OptimizerOptions {
    var options = OptimizerOptions(level: 2)
    if o.has("-O0") { options.level = 0 }
    if o.has("-O1") { options.level = 1 }
    if let list = o.value("--passes") {
        switch OptimizerPass.parseList(list) {
        case .success(let passes): options.passes = passes
        case .failure(let e): throw UsageError(message: e.description)
        }
    }
    options.fastMath = o.has("--fast-math")
    if o.has("--stats") {
        options.statistics = { stat in printError(stat.description) }
    }
    return options
}
