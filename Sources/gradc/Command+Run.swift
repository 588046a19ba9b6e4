import Foundation
import Grad

enum RunCommand {
    static let help = """
    usage: gradc run MODEL.ir [--func NAME] [--backend reference|bytecode|c] [--portable] [--input NAME=SPEC]… [--seed N] [--output-dir DIR] [--trace]
                     [-O0|-O1|-O2] [--passes=P,…] [--fast-math] [--stats]
           gradc run MODEL.gbc [--portable] [--input NAME=SPEC]… [--seed N] [--output-dir DIR]

    Evaluates a function (default: the last one in the file) and prints each output:
    its name, type and values. Derivative requests are expanded first. A .gbc file (from
    `gradc compile --backend bytecode`) runs on the bytecode VM. MODEL may be - (or
    /dev/stdin) to read the model from standard input.

      --func NAME         the function to run
      --backend B         reference (default), bytecode (the VM) or c (generated C compiled
                          by the system cc, cached; see gradc cache --help)
      --portable          bit-identical to the reference backend (NaN signs aside): no fused
                          multiply-add in matrix products (bytecode and .gbc: the VM's
                          bitwise matmul kernel; c: also compile without -march=native)
      --input NAME=SPEC   SPEC is a .npy file, a number (fills the tensor), [v,v,…] (row-major)
                          or random (uniform in [-1, 1)); inputs not given are random;
                          a number beyond the dtype's range (1e400) is refused
      --seed N            seed for random inputs (default 1)
      --output-dir DIR    write each output to DIR/NAME.npy instead of printing it (DIR is
                          made if missing; files already there are replaced)
      --max-memory BYTES  refuse models whose values need more (default 4 GiB; K, M, G suffixes)
      --trace             also print backpropagation step by step: every node's inputs,
                          output and local derivatives (forward pass), then every node's
                          incoming gradient and the gradients it sends back (backward pass)
      -O0 -O1 -O2         optimization level (default -O2; -O1 is bit-exact, -O2 adds
                          the stabilizing rewrites, which change bits to gain accuracy)
      --passes=P,…        run exactly these passes, in order, to a fixpoint
                          (cse, fold, simplify, shapes, stabilize, dce)
      --fast-math         allow rewrites that are not IEEE-exact (x*0 → 0, x-x → 0, …)
      --stats             print each pass run: nodes before → after and time (stderr)
      --timings           print to stderr, a line per stage, its wall time and the process's
                          peak resident memory after it: read, parse, differentiate,
                          optimize, then for bytecode each lowering phase, the VM's load
                          phases and the run (with its time per VM instruction); for c the
                          C build (the cache lookup, and on a miss C emission and cc, then
                          dlopen) and the run; for a .gbc file deserialize, load and run
    """

    static func run(_ args: [String]) throws -> ExitStatus {
        let o = try Options(args, valued: Set(["--max-memory", "--func", "--input", "--seed", "--output-dir", "--backend"]).union(optimizerValuedOptions),
                            flags: Set(["--help", "-h", "--trace", "--portable", "--timings"]).union(optimizerFlags))
        if o.has("--help") || o.has("-h") {
            print(help)
            return .ok
        }
        let timings = stageTimings(o)
        let model = try o.model()
        timings?.mark("read", note: "\(model.bytes.count) bytes")
        let seed = try parseSeed(o.value("--seed"))
        if model.isBytecode {
            // Validated and linked first, the memory checked next, the inputs made last.
            let limit = try memoryLimit(o)
            var limits = VMLimits(maxArenaBytes: limit)
            limits.portable = o.has("--portable")
            let vm: VirtualMachine
            if let timings {
                // `Pipeline.linkBytecode` in its two steps, each timed.
                let program = try model.located { try BytecodeProgram(serialized: model.bytes) }
                timings.mark("vm load: deserialize")
                vm = try model.located { try VirtualMachine(program, limits: limits, onPhase: timings.phases("vm load: ")) }
            } else {
                vm = try Pipeline.linkBytecode(model.bytes, file: model.name, limits: limits)
            }
            let specs = o.values["--input"] ?? []
            let outputs = try Pipeline.runBytecode(vm, memoryLimit: limit) { signature in
                let made = try makeInputs(for: signature, specs: specs, seed: seed)
                timings?.mark("inputs")
                return made
            }
            timings?.mark("run", note: vmRunNote(vm, timings))
            if let timings {
                let named = try makeInputs(for: Pipeline.signature(of: vm.program), specs: specs, seed: seed)
                try timeExecute(vm, vm.program.inputs.compactMap { named[$0.name] }, timings)
            }
            try printOutputs(vm.program.outputs.map(\.name), outputs, dir: o.value("--output-dir"))
            return .ok
        }
        let parsed = try model.function(model.module(), o)
        timings?.mark("parse", note: "\(parsed.nodes.count) nodes")
        let lowered = try model.located { try Pipeline.lower(Module(functions: [parsed]), to: .optimized, options: try optimizerOptions(o), timings: timings) }
        guard let function = lowered.functions.first else { throw Diagnostic(.emptyFile) }
        let limit = try memoryLimit(o)
        try model.located { try Pipeline.checkMemory(function, limit: limit) }
        let inputs = try makeInputs(for: parsed, specs: o.values["--input"] ?? [], seed: seed)
        timings?.mark("inputs")
        if o.has("--trace") {
            print(try BackpropTrace(parsed, inputs: inputs))
            print("")
            timings?.skip()
        }
        let outputs: [Tensor]
        switch o.value("--backend") ?? "reference" {
        case "reference":
            outputs = try model.located { try ReferenceEvaluator.run(function, inputs: inputs) }
            timings?.mark("run")
        case "bytecode":
            var limits = VMLimits(maxArenaBytes: Int.max)
            limits.portable = o.has("--portable")
            let program = try model.located { try BytecodeProgram(function: function, onPhase: timings?.phases("lower: ")) }
            let vm = try VirtualMachine(program, limits: limits, function: function, onPhase: timings?.phases("vm load: "))
            let ordered = function.parameters.compactMap { inputs[$0.name] }
            outputs = try model.located { try vm.run(ordered) }
            timings?.mark("run", note: vmRunNote(vm, timings))
            if let timings { try timeExecute(vm, ordered, timings) }
        case "c":
            let module: CModule
            do {
                module = try CModule([function], options: CBackendOptions(portable: o.has("--portable")))
            } catch {
                printError(error.description)
                return .backendFailed
            }
            // The digest, emission and cc happen inside CModule: one stage here.
            timings?.mark("c: build + dlopen", note: module.report.cacheHit ? "cache hit (digest + load)"
                : "cache miss (digest + emit \(module.report.sourceBytes) bytes of C + cc + load)")
            guard let kernel = module.kernels.first else { throw Diagnostic(.other("the C backend produced no function")) }
            outputs = try kernel.run(function.parameters.compactMap { inputs[$0.name] })
            timings?.mark("run")
        case let other:
            throw UsageError(message: "unknown backend '\(other)': expected reference, bytecode or c")
        }
        try printOutputs(function.outputs.map(\.name), outputs, dir: o.value("--output-dir"), patterns: function.outputs.map(\.pattern))
        return .ok
    }
}

/// The run's size for `--timings`: VM instructions and the time per instruction of the run
/// that just ended (copying inputs in and outputs out included).
func vmRunNote(_ vm: VirtualMachine, _ timings: StageTimings?) -> String {
    guard let timings else { return "" }
    let elapsed = timings.sinceLastMark()
    let n = vm.instructionCount
    return "\(n) VM instructions" + (n > 0 ? String(format: ", %.2f ns per instruction", elapsed * 1e9 / Double(n)) : "")
}

/// `--timings`: the VM's steady state, `execute()` alone (no tensors copied in or out, the
/// arena's pages touched by a first run), best of 5, and its time per VM instruction.
func timeExecute(_ vm: VirtualMachine, _ inputs: [Tensor], _ timings: StageTimings) throws {
    let session = vm.makeSession()
    _ = try session.run(inputs)
    let seconds = StageTimings.best(of: 5) { session.execute() }
    let n = vm.instructionCount
    timings.record("vm execute (best of 5)", seconds: seconds,
                   note: n > 0 ? String(format: "%.2f ns per instruction", seconds * 1e9 / Double(n)) : nil)
}

func parseSeed(_ text: String?) throws -> UInt64 {
    guard let text else { return 1 }
    guard let v = UInt64(text) else { throw UsageError(message: "--seed expects a non-negative integer, got '\(text)'") }
    return v
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

/// Prints outputs (name, type, values), or writes DIR/NAME.npy for each. A sparse output's
/// pattern (docs/sparsity.md) is printed after its values, or written to
/// DIR/NAME.row_starts.npy and DIR/NAME.column_indices.npy (i64).
func printOutputs(_ names: [String], _ outputs: [Tensor], dir: String?, patterns: [SparsityPattern?] = []) throws {
    func pattern(_ k: Int) -> SparsityPattern? { k < patterns.count ? patterns[k] : nil }
    if let dir {
        try OutputPath.directory(dir, option: "--output-dir", writes: "the outputs (NAME.npy)")
        for (k, (name, value)) in zip(names, outputs).enumerated() {
            // Loaded names are identifiers already; never build a path from anything else.
            guard Identifier.isValid(name) else { throw Diagnostic(.io("refusing to write output \(Identifier.quoted(name)): not an identifier (\(Identifier.pattern))")) }
            let file = (dir as NSString).appendingPathComponent(name + ".npy")
            try writeNPY(value, path: file)
            print("wrote \(file) (\(value.type))")
            if let p = pattern(k) {
                let parts: [(String, [Int64])] = [("row_starts", p.rowStarts.map(Int64.init)), ("column_indices", p.columnIndices.map(Int64.init))]
                for (suffix, values) in parts {
                    guard let t = Tensor(i64: values, shape: [values.count]) else { continue }
                    let path = (dir as NSString).appendingPathComponent("\(name).\(suffix).npy")
                    try writeNPY(t, path: path)
                    print("wrote \(path) (\(t.type), the \(p.rows)×\(p.columns) pattern's \(suffix.replacingOccurrences(of: "_", with: " ")))")
                }
            }
        }
        return
    }
    for (k, (name, value)) in zip(names, outputs).enumerated() {
        let text = formatTensor(value)
        if value.shape.isEmpty {
            print("\(name): \(value.type) = \(text)")
        } else {
            print("\(name): \(value.type) =\n\(text)")
        }
        if let p = pattern(k) {
            print("\(name) is sparse: the non-zeros of a \(p.rows)×\(p.columns) pattern in CSR order")
            print(formatPattern(p))
        }
    }
}

/// A pattern's CSR arrays, at most 1 000 entries of each.
func formatPattern(_ p: SparsityPattern) -> String {
    func list<T: CustomStringConvertible>(_ xs: [T]) -> String {
        let shown = xs.prefix(1000).map(\.description).joined(separator: ", ")
        return "[" + shown + (xs.count > 1000 ? ", … (\(xs.count) in all)" : "") + "]"
    }
    return "  row_starts = \(list(p.rowStarts))\n  column_indices = \(list(p.columnIndices))"
}
