import Foundation
import Grad
import GradFuzzDriver

// libFuzzer target for the `.npy` reader (`--input NAME=FILE.npy`): parse the header and the
// data, whose declared shape and dtype are checked against the file's size before anything is
// allocated. The claims under test: no file makes the reader trap or allocate more than the
// file holds, and whatever it accepts writes back to a file that reads as the same tensor.
//
// Built as a replay tool or a libFuzzer binary: see Tests/Fuzz/Driver.

func fuzzNPY(_ bytes: [UInt8]) {
    guard let tensor = try? readNPY(bytes) else { return }
    guard let again = try? readNPY(writeNPY(tensor)) else {
        fatalError("a tensor the reader accepted does not read back: \(tensor.type)")  // trap-ok: the fuzz oracle
    }
    guard again.type == tensor.type, sameElements(again, tensor) else {
        fatalError("round trip changed \(tensor.type)")  // trap-ok: the fuzz oracle
    }
}

/// Bitwise equal elements (NaN payloads included: the writer copies bytes).
func sameElements(_ a: Tensor, _ b: Tensor) -> Bool {
    switch (a.storage, b.storage) {
    case (.f32(let x), .f32(let y)): return x.map(\.bitPattern) == y.map(\.bitPattern)
    case (.f64(let x), .f64(let y)): return x.map(\.bitPattern) == y.map(\.bitPattern)
    case (.i64(let x), .i64(let y)): return x == y
    case (.bool(let x), .bool(let y)): return x == y
    default: return false
    }
}

@main
struct FuzzNPYMain {
    static func main() {
        fuzzMain(fuzzNPY)
    }
}
