import Foundation
import Grad

enum CompileCommand {
    static let help = """
    usage: gradc compile MODEL.ir --backend bytecode [-o MODEL.gbc] [--func NAME] [-O0|-O1|-O2]
           gradc compile MODEL.ir --backend c -o DIR [--func NAME] [--prefix NAME] [--portable] [-O0|-O1|-O2]

    Expands derivative requests, optimizes and compiles a function (default: the last one in
    the file) for a backend, and writes the result.

      --backend B   bytecode: a .gbc file for the VM (run it with `gradc run MODEL.gbc`)
                    c: DIR/model.c, model.h (the documented ABI) and model.so, every
                    function of the file (or --func); the .c needs only libc and libm
      -o FILE       output file (default: MODEL.gbc next to the model); a directory for c
      --portable    c: compile without -march=native and without fused multiply-add
                    (bit-identical to the reference, NaN signs aside); for bytecode pass it to `gradc run`
                    instead (the VM picks its kernels when it loads the file)
      --func NAME   the function to compile
      --prefix NAME c: the exported C name of the function, also the prefix of its metadata
                    (NAME_input, NAME_num_inputs, …: docs/c-abi.md); one function only (pick
                    it with --func). Default: each function's own name. A C identifier of
                    at most 64 characters, no keyword, not starting with _
    """

    static func run(_ args: [String]) throws -> ExitStatus {
        let o = try Options(args, valued: ["--backend", "-o", "--func", "--prefix"], flags: ["--help", "-h", "-O0", "-O1", "-O2", "--portable"])
        if o.has("--help") || o.has("-h") {
            print(help)
            return .ok
        }
        let path = try o.modelPath()
        let backend = o.value("--backend") ?? "bytecode"
        if backend == "c" { return try compileToC(o, path: path) }
        guard backend == "bytecode" else {
            throw UsageError(message: "unknown or unavailable backend '\(backend)' for compile: expected bytecode or c")
        }
        let parsed = try Pipeline.function(Pipeline.load(path: path), named: o.value("--func"))
        let lowered = try lowerHandingOver(Module(functions: [consume parsed]), path: path, to: .optimized, options: try optimizerOptions(o))
        guard let function = lowered.functions.first else { throw Diagnostic(.emptyFile) }
        let program = try BytecodeProgram(function: function)
        let out = o.value("-o") ?? ((path as NSString).deletingPathExtension + ".gbc")
        guard FileManager.default.createFile(atPath: out, contents: Data(program.serialized())) else {
            throw Diagnostic(.io("cannot write '\(out)'"))
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
