import GradRuntime
// Elementwise ops on i64 and bool: wrapping integer arithmetic, comparisons, `select`.

/// An elementwise `i64`/`bool` op (one with `ElementwiseOp.hasIntegerForm`), operands
/// broadcast, computed in the arena with `ElementwiseOp.integer` (wrapping, never trapping).
/// A bool operand or result is the Int64 0/1 inside the loop (the comparisons of bools are
/// `==`/`!=`, exact on 0/1).
final class IntegerElementwiseKernel: VMKernel {
    /// An op with an integer form (`ElementwiseOp.hasIntegerForm`; the linker checks).
    let op: ElementwiseOp
    let operands: [Int]
    let operandIsBool: [Bool]
    let access: [LeafAccess]
    let out: Int
    let outIsBool: Bool
    let count: Int

    init(op: ElementwiseOp, inputs: [BytecodeOperand], output: BytecodeOperand) {
        self.op = op
        operands = inputs.map(\.offset)
        operandIsBool = inputs.map { $0.type.dtype == .bool }
        access = inputs.map { LeafAccess(leaf: $0.type.shape, out: output.type.shape) }
        out = output.offset
        outIsBool = output.type.dtype == .bool
        count = output.type.count
    }
    var scratchBytes: Int { 0 }

    /// The element of operand `k` that output element `i` reads.
    @inline(__always)
    func load(_ base: UnsafeMutableRawPointer, _ k: Int, _ i: Int) -> Int64 {
        let index: Int
        switch access[k] {
        case .direct: index = i
        case .splat: index = 0
        case .divMod(let div, let mod): index = (i / div) % mod
        case .map(let map): index = map[i]
        }
        if operandIsBool[k] { return base.load(fromByteOffset: operands[k] + index, as: UInt8.self) != 0 ? 1 : 0 }
        return base.load(fromByteOffset: operands[k] + index * 8, as: Int64.self)
    }

    @inline(__always)
    func store(_ base: UnsafeMutableRawPointer, _ i: Int, _ v: Int64) {
        if outIsBool {
            base.storeBytes(of: v != 0 ? 1 : 0, toByteOffset: out + i, as: UInt8.self)
        } else {
            base.storeBytes(of: v, toByteOffset: out + i * 8, as: Int64.self)
        }
    }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        switch operands.count {
        case 1: for i in 0..<count { store(base, i, op.integer(load(base, 0, i), 0, 0) ?? 0) }
        case 2: for i in 0..<count { store(base, i, op.integer(load(base, 0, i), load(base, 1, i), 0) ?? 0) }
        default: for i in 0..<count { store(base, i, op.integer(load(base, 0, i), load(base, 1, i), load(base, 2, i)) ?? 0) }
        }
    }
}
