import Foundation
import Grad
import GradFuzzDriver

// libFuzzer target for `gradc run MODEL.gbc` with no `--input`: the library path the command
// calls — `Pipeline.linkBytecode` (decode, validate, link; checksum not enforced, so the fuzzer
// reaches the checks behind it) → `Pipeline.runBytecode` (the run's memory checked against the
// limit, then inputs made from the file's declared bindings, then the VM run). The inputs are
// made as the command makes them: `Tensor.random` for each parameter in order, one generator
// seeded 1. The claim under test: no file makes this path trap, or allocate more than the
// limit allows (libFuzzer's -rss_limit_mb reports that as an oom), before or after validation.
//
// Built as a replay tool or a libFuzzer binary: see Tests/Fuzz/Driver.

/// `--max-memory` for fuzzed files: the arena limit and the run's memory limit, as in the CLI.
let fuzzMemoryLimit = 32 << 20

func fuzzGBCRun(_ bytes: [UInt8]) {
    var limits = VMLimits(maxArenaBytes: fuzzMemoryLimit)
    limits.maxLoopSteps = 1 << 16  // a mutated trip count must not read as a hang
    guard let vm = try? Pipeline.linkBytecode(bytes, limits: limits, verifyChecksum: false) else { return }
    _ = try? Pipeline.runBytecode(vm, memoryLimit: fuzzMemoryLimit) { signature in
        var rng = SplitMix64(seed: 1)
        var inputs: [String: Tensor] = [:]
        for p in signature.parameters { inputs[p.name] = Tensor.random(signature.type(of: p.value), using: &rng) }
        return inputs
    }
}

@main
struct FuzzGBCRunMain {
    static func main() {
        fuzzMain(fuzzGBCRun)
    }
}
