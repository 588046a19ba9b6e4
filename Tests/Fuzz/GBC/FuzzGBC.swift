import Foundation
import Grad
import GradFuzzDriver

// libFuzzer target for the `.gbc` loader: decode (checksum not enforced, so the fuzzer reaches
// the structural checks behind it) → link into the VM (which validates every offset, shape and
// op) → run on random inputs. The claim under test: no file makes the loader or the VM trap,
// allocate without bound, or touch memory outside its arena.
//
// Built as a replay tool or a libFuzzer binary: see Tests/Fuzz/Driver.

/// The arena limit for fuzzed programs (a file asking for more is refused by the VM).
let fuzzArenaLimit = 16 << 20

func fuzzGBC(_ bytes: [UInt8]) {
    guard let program = try? BytecodeProgram(serialized: bytes, verifyChecksum: false),
          let vm = try? VirtualMachine(program, limits: VMLimits(maxArenaBytes: fuzzArenaLimit)) else { return }
    var rng = SplitMix64(seed: 1)
    let inputs = program.inputs.map { Tensor.random($0.operand.type, range: -2...2, using: &rng) }
    _ = try? vm.run(inputs)
}

@main
struct FuzzGBCMain {
    static func main() {
        fuzzMain(fuzzGBC)
    }
}
