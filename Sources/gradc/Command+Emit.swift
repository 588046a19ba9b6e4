import Foundation
import Grad

enum EmitCommand {
    static let help = """
    usage: gradc emit MODEL.ir [--stage parsed|differentiated|optimized] [--format ir|dot|bytecode|c|h|sparsity] [--func NAME] [-O0|-O1|-O2]
                  [--passes=P,…] [--fast-math] [--stats] [--spy F.svg|F.pbm] [--input NAME=SPEC]…

    Prints the model at a stage of the pipeline. MODEL.ir may be - (standard input).

      --stage S     parsed, differentiated (grad/jacobian/hessian expanded into ordinary
                    nodes) or optimized (default)
      --format F    ir: canonical IR text (parses back to the same graph; default)
                    dot: a Graphviz graph of one function (--func, default the last),
                    gradient nodes drawn distinctly from the forward ones
                    bytecode: the VM disassembly of one function (always optimized):
                    arena layout, then one line per instruction with its result and
                    operand registers (buffer:type) and the IR node(s) it comes from
                    c: the generated C of every function (optimized), h: its header
                    sparsity: for each jacobian and hessian request of one function (--func,
                    default the last) its structural sparsity pattern: size, non-zeros, the
                    column, row and (Hessians) star colour counts, and the rows `i: j j j`
                    (64 rows of 32 columns at most); see docs/sparsity.md
      --spy F       with --format sparsity: also draw each pattern as a spy plot, F.svg (SVG)
                    or F.pbm (binary PBM), downsampled to at most 1000×1000 cells (requests
                    after the first go to F-2.svg, F-3.svg, …)
      --input N=S   with --format sparsity: the values of an i64 input (as for `gradc run`:
                    N=file.npy, N=[0,2,1], N=3), so that take/scatter_add on it are exact
                    (a pattern for those indices only); other index inputs are conservative
      -O0 -O1 -O2   optimization level (default -O2), see `gradc help run`
      --passes=P,…  run exactly these passes (cse, fold, simplify, shapes, stabilize, dce)
      --fast-math   allow rewrites that are not IEEE-exact
      --stats       print nodes before → after and time of each pass run (stderr)
    """

    static func run(_ args: [String]) throws -> ExitStatus {
        let o = try Options(args, valued: Set(["--stage", "--format", "--func", "--spy", "--input"]).union(optimizerValuedOptions),
                            flags: Set(["--help", "-h"]).union(optimizerFlags))
        if o.has("--help") || o.has("-h") {
            print(help)
            return .ok
        }
        let model = try o.model()
        let stageName = o.value("--stage") ?? "optimized"
        guard let stage = Stage(rawValue: stageName) else {
            throw UsageError(message: "unknown stage '\(stageName)': expected parsed, differentiated or optimized")
        }
        var module = try model.module()
        if o.value("--func") != nil {
            module = Module(functions: [try model.function(module, o)])
        }
        let format = o.value("--format") ?? "ir"
        if format == "sparsity" {
            return try SparsityReport.run(model.function(module, o), spy: o.value("--spy"), inputs: o.values["--input"] ?? [])
        }
        if o.value("--spy") != nil { throw UsageError(message: "--spy draws a sparsity pattern: it needs --format sparsity") }
        if o.value("--input") != nil { throw UsageError(message: "--input gives index values to --format sparsity; the other formats take no inputs") }
        // Bytecode and C always show the optimized function, whatever the stage.
        let shown = format == "ir" || format == "dot" ? stage : .optimized
        let lowered = try model.lowerHandingOver(consume module, to: shown, options: try optimizerOptions(o))
        switch format {
        case "ir":
            print(printModule(lowered), terminator: "")
        case "dot":
            print(printDot(try Pipeline.function(lowered, named: nil)), terminator: "")
        case "bytecode":
            print(try BytecodeProgram(function: Pipeline.function(lowered, named: nil)).disassembly(), terminator: "")
        case "c", "h":
            let source = try emitC(lowered.functions)
            print(format == "c" ? source.source : source.header, terminator: "")
        case let other:
            throw UsageError(message: "unknown format '\(other)': expected ir, dot, bytecode, c, h or sparsity")
        }
        return .ok
    }
}
