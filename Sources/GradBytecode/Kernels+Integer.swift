import GradRuntime
// Elementwise ops on i64 and bool: wrapping integer arithmetic, comparisons, `select`.

/// An elementwise `i64`/`bool` op (`neg abs sign square relu`, `add sub mul maximum minimum`,
/// comparisons, and `select` with i64 or bool branches), operands broadcast, computed in the
/// arena with the `ScalarMath` Int64 formulas (wrapping, never trapping). A bool operand or
/// result is the Int64 0/1 inside the loop (the comparisons of bools are `==`/`!=`, exact on
/// 0/1).
final class IntegerElementwiseKernel: VMKernel {
    let op: Op
    let operands: [Int]
    let operandIsBool: [Bool]
    let access: [LeafAccess]
    let out: Int
    let outIsBool: Bool
    let count: Int

    init(op: Op, inputs: [BytecodeOperand], output: BytecodeOperand) {
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

    @inline(__always)
    func unary(_ base: UnsafeMutableRawPointer, _ f: (Int64) -> Int64) {
        for i in 0..<count { store(base, i, f(load(base, 0, i))) }
    }

    @inline(__always)
    func binary(_ base: UnsafeMutableRawPointer, _ f: (Int64, Int64) -> Int64) {
        for i in 0..<count { store(base, i, f(load(base, 0, i), load(base, 1, i))) }
    }

    @inline(__always)
    func compare(_ base: UnsafeMutableRawPointer, _ f: (Int64, Int64) -> Bool) {
        for i in 0..<count { store(base, i, f(load(base, 0, i), load(base, 1, i)) ? 1 : 0) }
    }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        switch op {
        case .neg: unary(base, ScalarMath.neg)
        case .abs: unary(base, ScalarMath.abs)
        case .sign: unary(base, ScalarMath.sign)
        case .square: unary(base, ScalarMath.square)
        case .relu: unary(base, ScalarMath.relu)
        case .add: binary(base, ScalarMath.add)
        case .sub: binary(base, ScalarMath.sub)
        case .mul: binary(base, ScalarMath.mul)
        case .maximum: binary(base, ScalarMath.maximum)
        case .minimum: binary(base, ScalarMath.minimum)
        case .eq: compare(base) { $0 == $1 }
        case .ne: compare(base) { $0 != $1 }
        case .lt: compare(base) { $0 < $1 }
        case .le: compare(base) { $0 <= $1 }
        case .gt: compare(base) { $0 > $1 }
        case .ge: compare(base) { $0 >= $1 }
        case .select:
            for i in 0..<count { store(base, i, load(base, 0, i) != 0 ? load(base, 1, i) : load(base, 2, i)) }
        case .exp, .log, .log1p, .expm1, .sqrt, .rsqrt, .reciprocal, .sin, .cos, .tan, .tanh, .sigmoid,
             .softplus, .erf, .floor, .ceil, .div, .pow, .atan2, .zmul, .zdiv,
             .input, .const, .sum, .mean, .max, .min, .prod, .logsumexp, .matmul, .transpose, .dot,
             .reshape, .broadcast_to, .slice, .pad, .concat, .expand_dims, .squeeze, .cumsum, .one_hot, .cast,
             .softmax, .log_softmax, .softmax_cross_entropy, .grad, .jacobian, .hessian:
            // Rejected by the linker (`integerElementwiseSupports`).
            break
        }
    }
}

/// Whether `IntegerElementwiseKernel` implements `op` (the ops the type rules allow on
/// i64/bool operands).
func integerElementwiseSupports(_ op: Op) -> Bool {
    switch op {
    case .neg, .abs, .sign, .square, .relu, .add, .sub, .mul, .maximum, .minimum,
         .eq, .ne, .lt, .le, .gt, .ge, .select:
        return true
    case .exp, .log, .log1p, .expm1, .sqrt, .rsqrt, .reciprocal, .sin, .cos, .tan, .tanh, .sigmoid,
         .softplus, .erf, .floor, .ceil, .div, .pow, .atan2, .zmul, .zdiv,
         .input, .const, .sum, .mean, .max, .min, .prod, .logsumexp, .matmul, .transpose, .dot,
         .reshape, .broadcast_to, .slice, .pad, .concat, .expand_dims, .squeeze, .cumsum, .one_hot, .cast,
         .softmax, .log_softmax, .softmax_cross_entropy, .grad, .jacobian, .hessian:
        return false
    }
}
