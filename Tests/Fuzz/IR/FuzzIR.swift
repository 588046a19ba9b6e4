import Foundation
import Grad
import GradFuzzDriver

// libFuzzer target for the `.ir` front end: parse (which type-checks every node) → verify →
// print → parse again (must give the identical graph) → differentiate → verify → optimize
// (verifier after every pass) → and, for small
// functions, evaluate with the reference evaluator and the bytecode VM and print the results.
//
// Built as a replay tool or a libFuzzer binary: see Tests/Fuzz/Driver.
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

@main
struct FuzzIRMain {
    static func main() {
        fuzzMain(fuzzIR)
    }
}
