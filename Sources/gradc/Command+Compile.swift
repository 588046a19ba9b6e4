import Foundation
import Grad

enum CompileCommand {
    static let help = """
    usage: gradc compile MODEL.ir --backend bytecode [-o MODEL.gbc] [--func NAME] [-O0|-O1|-O2]
           gradc compile MODEL.ir --backend c -o DIR [--func NAME] [--prefix NAME] [--portable] [-O0|-O1|-O2]

    Expands derivative requests, optimizes and compiles a function (default: the last one in
    the file) for a backend, and writes the result. MODEL.ir may be - (standard input).

      --backend B   bytecode: a .gbc file for the VM (run it with `gradc run MODEL.gbc`)
                    c: DIR/model.c, model.h (the documented ABI) and model.so, every
                    function of the file (or --func); the .c needs only libc and libm
      -o FILE|DIR   bytecode: the .gbc file (default: MODEL.gbc next to the model; needed
                    for a model read from standard input). c: required, the directory
                    (made if missing). Files already there are replaced
      --portable    c: compile without -march=native and without fused multiply-add
                    (bit-identical to the reference, NaN signs aside); for bytecode pass it to `gradc run`
                    instead (the VM picks its kernels when it loads the file)
      --func NAME   the function to compile
      --timings     print to stderr, a line per stage, its wall time and the process's peak
                    resident memory after it: read, parse, differentiate, optimize, each
                    lowering phase, serialization and writing; then (timing only) loading
                    the file back into the VM as `gradc run MODEL.gbc` does. c: the C
                    emission, writing, cc and dlopen of the written model.so
      --prefix NAME c: the exported C name of the function, also the prefix of its metadata
                    (NAME_input, NAME_num_inputs, …: docs/c-abi.md); one function only (pick
                    it with --func). Default: each function's own name. A C identifier of
                    at most 64 characters, no keyword, not starting with _
    """

    static func run(_ args: [String]) throws -> ExitStatus {
        let o = try Options(args, valued: ["--backend", "-o", "--func", "--prefix"], flags: ["--help", "-h", "-O0", "-O1", "-O2", "--portable", "--timings"])
        if o.has("--help") || o.has("-h") {
            print(help)
            return .ok
        }
        let backend = o.value("--backend") ?? "bytecode"
        guard backend == "bytecode" || backend == "c" else {
            throw UsageError(message: "unknown or unavailable backend '\(backend)' for compile: expected bytecode or c")
        }
        let path = try o.modelPath()
        if backend == "c" {
            guard let dir = o.value("-o") else {
                throw UsageError(message: "compile --backend c needs -o DIR, the directory to write model.c, model.h and model.so into (made if missing)")
            }
            let timings = stageTimings(o)
            let model = try o.model()
            timings?.mark("read", note: "\(model.bytes.count) bytes")
            return try compileToC(o, model: model, into: dir, timings: timings)
        }
        guard o.value("-o") != nil || path != "-" else {
            throw UsageError(message: "compile needs -o FILE for a model read from standard input")
        }
        let timings = stageTimings(o)
        let model = try o.model()
        timings?.mark("read", note: "\(model.bytes.count) bytes")
        let parsed = try model.function(model.module(), o)
        timings?.mark("parse", note: "\(parsed.nodes.count) nodes")
        let lowered = try model.lowerHandingOver(Module(functions: [consume parsed]), to: .optimized, options: try optimizerOptions(o), timings: timings)
        guard let function = lowered.functions.first else { throw Diagnostic(.emptyFile) }
        timings?.skip()
        let program = try model.located { try BytecodeProgram(function: function, onPhase: timings?.phases("lower: ")) }
        let bytes = program.serialized()
        timings?.mark("serialize", note: "\(bytes.count) bytes, \(program.instructions.count) instructions")
        let out = o.value("-o") ?? ((path as NSString).deletingPathExtension + ".gbc")
        try OutputPath.file(out, Data(bytes), option: o.value("-o") == nil ? "the output file" : "-o")
        timings?.mark("write")
        if let timings {
            // What `gradc run MODEL.gbc` pays before its first run.
            let loaded = try BytecodeProgram(serialized: bytes)
            timings.mark("vm load: deserialize")
            let vm = try VirtualMachine(loaded, limits: VMLimits(maxArenaBytes: Int.max), onPhase: timings.phases("vm load: "))
            timings.info("vm: \(vm.instructionCount) instructions, \(vm.kernelCount) of them tensor kernels")
        }
        print("wrote \(out) (\(program.instructions.count) instructions, arena \(program.arenaBytes) bytes)")
        return .ok
    }
}

/// The exported C names of `functions`: `--prefix` for the one function, else each
/// function's own name. Checked here so that the error names the option (`emitC` also
/// refuses names that the generated code itself uses, such as `exp`).
func cNames(_ o: Options, _ functions: [Function]) throws -> [String] {
    if let prefix = o.value("--prefix") {
        guard functions.count == 1 else {
            throw UsageError(message: "--prefix names one function, but \(functions.count) are compiled: choose one with --func NAME")
        }
        if let problem = cNameProblem(prefix) {
            throw UsageError(message: "--prefix \(Identifier.quoted(prefix)) is not a usable C name: \(problem)")
        }
        return [prefix]
    }
    for f in functions {
        if let problem = cNameProblem(f.name) {
            throw UsageError(message: "function \(Identifier.quoted(f.name)) cannot be exported to C under its own name (\(problem)): give it one with --prefix NAME")
        }
    }
    return functions.map(\.name)
}
