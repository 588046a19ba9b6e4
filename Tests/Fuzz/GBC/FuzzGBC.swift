import Foundation
import Grad

// libFuzzer target for the `.gbc` loader: decode (checksum not enforced, so the fuzzer reaches
// the structural checks behind it) → link into the VM (which validates every offset, shape and
// op) → run on random inputs. The claim under test: no file makes the loader or the VM trap,
// allocate without bound, or touch memory outside its arena.
//
// Built two ways (see Scripts/fuzz.sh): a replay tool (`GradFuzzGBC FILE|DIR…`) and, with
// `-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING`, the libFuzzer binary.

/// The arena limit for fuzzed programs (a file asking for more is refused by the VM).
let fuzzArenaLimit = 16 << 20

func fuzzGBC(_ bytes: [UInt8]) {
    guard let program = try? BytecodeProgram(serialized: bytes, verifyChecksum: false),
          let vm = try? VirtualMachine(program, limits: VMLimits(maxArenaBytes: fuzzArenaLimit)) else { return }
    var rng = SplitMix64(seed: 1)
    let inputs = program.inputs.map { Tensor.random($0.operand.type, range: -2...2, using: &rng) }
    _ = try? vm.run(inputs)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzGBC(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif

@main
struct FuzzGBCMain {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
        #else
        exit(replay(CommandLine.arguments.dropFirst(), fuzzGBC))
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
