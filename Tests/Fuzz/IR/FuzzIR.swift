import Foundation
import Grad

// libFuzzer target for the `.ir` front end: parse (which type-checks every node) → verify →
// print → parse again (must give the identical graph) → differentiate → verify → optimize
// (verifier after every pass) → and, for small
// functions, evaluate with the reference evaluator and the bytecode VM and print the results.
//
// Built two ways (see Scripts/fuzz.sh):
// - `swift build --product GradFuzzIR`: a replay tool, `GradFuzzIR FILE|DIR…`, that runs each
//   input once (regression fixtures, crash files from the fuzzer);
// - `swift build --product GradFuzzIR -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING`: the
//   libFuzzer binary (its `main` hands control to `LLVMFuzzerRunDriver`).
//
// A diagnostic is a fine outcome; a trap or a broken invariant is a crash.

/// Functions bigger than this are parsed and differentiated but not optimized or run
/// (keeps every input fast; the fuzzer looks for crashes, not for slow models).
let maxNodesToOptimize = 3_000
/// Values of at most this many bytes are evaluated on both the reference and the VM.
let maxBytesToRun = 1 << 20

func fuzzIR(_ bytes: [UInt8]) {
    guard let module = try? parseModule(bytes: bytes, file: "fuzz.ir") else { return }
    for f in module.functions {
        let text = printFunction(f)
        guard let back = try? parseModule(text, file: "printed.ir").functions.last else {
            fatalError("the printed form does not parse:\n\(text)")
        }
        guard back.nodes == f.nodes, back.outputs.map(\.value) == f.outputs.map(\.value) else {
            fatalError("print → parse changed the graph:\n\(text)")
        }
        do {
            try verifyFunction(f, stage: "parsed")
        } catch {
            fatalError("the parser built a function the verifier rejects: \(error)\n\(text)")
        }
        guard let expanded = try? Differentiator.expand(f), expanded.nodes.count <= maxNodesToOptimize else { continue }
        do {
            try verifyFunction(expanded, stage: "differentiated")
        } catch {
            fatalError("differentiation built a function the verifier rejects: \(error)\n\(text)")
        }
        // The verifier runs after every pass too (a failure there is a diagnostic naming the pass).
        guard let optimized = try? optimize(expanded, options: OptimizerOptions(verify: true)) else { continue }
        guard (try? Pipeline.checkMemory(expanded, limit: maxBytesToRun)) != nil,
              (try? Pipeline.checkMemory(optimized, limit: maxBytesToRun)) != nil else { continue }
        var rng = SplitMix64(seed: 1)
        var named: [String: Tensor] = [:]
        var ordered: [Tensor] = []
        for p in optimized.parameters {
            let t = Tensor.random(optimized.type(of: p.value), range: -2...2, using: &rng)
            named[p.name] = t
            ordered.append(t)
        }
        if let values = try? ReferenceEvaluator.run(optimized, inputs: named) {
            for t in values { _ = formatTensor(t) }
        }
        if let program = try? BytecodeProgram(function: optimized), let vm = try? VirtualMachine(program),
           let values = try? vm.run(ordered) {
            for t in values { _ = formatTensor(t) }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzIR(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif

@main
struct FuzzIRMain {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
        #else
        exit(replay(CommandLine.arguments.dropFirst(), fuzzIR))
        #endif
    }
}

/// Runs `body` once on every file named (a directory means every file in it, sorted);
/// prints how many ran. A crash is the failure; the exit status is 2 for bad arguments.
func replay(_ arguments: ArraySlice<String>, _ body: ([UInt8]) -> Void) -> Int32 {
    guard !arguments.isEmpty else {
        print("usage: \(CommandLine.arguments[0]) FILE|DIR…  (replays each input once)")
        return 2
    }
    var count = 0
    for argument in arguments {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
            print("no such file: \(argument)")
            return 2
        }
        let files = isDirectory.boolValue
            ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { argument + "/" + $0 }
            : [argument]
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            body([UInt8](data))
            count += 1
        }
    }
    print("replayed \(count) inputs, no crash")
    return 0
}
