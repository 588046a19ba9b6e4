import GradRuntime
// The fused elementwise kernel: one instruction evaluates a small expression per element.

/// How a fused loop reads a leaf for output element `i`.
enum LeafAccess {
    /// Same shape as the output: element `i`.
    case direct
    /// One element, splat.
    case splat
    /// Element `(i / div) % mod` (the leaf's non-1 axes are one contiguous run of the output's).
    case divMod(div: Int, mod: Int)
    /// Element `map[i]` (any other broadcast).
    case map([Int])

    init(leaf: [Int], out: [Int]) {
        let count = leaf.reduce(1, *)
        if leaf == out {
            self = .direct
            return
        }
        if count == 1 {
            self = .splat
            return
        }
        let padded = [Int](repeating: 1, count: out.count - leaf.count) + leaf
        let nonUnit = padded.indices.filter { padded[$0] != 1 }
        if let first = nonUnit.first, let last = nonUnit.last, nonUnit.count == last - first + 1,
           (first...last).allSatisfy({ padded[$0] == out[$0] }) {
            self = .divMod(div: out[(last + 1)...].reduce(1, *), mod: count)
        } else {
            self = .map(broadcastIndexMap(from: leaf, to: out))
        }
    }
}

/// A fused elementwise expression over `T` (`Float` or `Double`), evaluated in chunks of
/// `chunk` elements: each micro-op runs as a tight loop over the chunk, intermediate values
/// stay in the scratch (L1-sized), leaves of the output's shape are read in place and the
/// root is written straight to the output. Every element sees exactly the `ScalarMath`
/// formula of each op, so results are bitwise those of the reference kernels.
final class FusedKernel<T: RealScalar & KernelNumber> {
    static var chunk: Int { 256 }
    let leafOffsets: [Int]
    let leafIsBool: [Bool]
    let leafAccess: [LeafAccess]
    let ops: [ElementwiseOp]
    let args: [(Int, Int, Int)]
    let outOffset: Int
    let outIsBool: Bool
    let count: Int
    let registers: Int

    init(ops: [MicroOp], leaves: [BytecodeOperand], output: BytecodeOperand) {
        leafOffsets = leaves.map(\.offset)
        leafIsBool = leaves.map { $0.type.dtype == .bool }
        leafAccess = leaves.map { LeafAccess(leaf: $0.type.shape, out: output.type.shape) }
        self.ops = ops.compactMap(\.op.elementwise)  // the linker admits elementwise ops only
        args = ops.map { m in (m.args.count > 0 ? m.args[0] : 0, m.args.count > 1 ? m.args[1] : 0, m.args.count > 2 ? m.args[2] : 0) }
        outOffset = output.offset
        outIsBool = output.type.dtype == .bool
        count = output.type.count
        registers = leaves.count + ops.count
    }

    var pointerTableBytes: Int { (registers * 8 + 63) / 64 * 64 }
    var scratchBytes: Int { pointerTableBytes + registers * Self.chunk * MemoryLayout<T>.stride }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let regs = scratch.assumingMemoryBound(to: UnsafeMutablePointer<T>.self)
        let data = (scratch + pointerTableBytes).assumingMemoryBound(to: T.self)
        let chunk = Self.chunk
        let leafCount = leafOffsets.count
        let last = ops.count - 1
        let out = base + outOffset
        var start = 0
        while start < count {
            let len = min(chunk, count - start)
            for k in 0..<leafCount {
                regs[k] = loadLeaf(k, base, start, len, data + k * chunk)
            }
            for j in 0...last {
                let dst: UnsafeMutablePointer<T> = (j == last && !outIsBool)
                    ? out.assumingMemoryBound(to: T.self) + start
                    : data + (leafCount + j) * chunk
                apply(ops[j], args[j], regs, dst, len)
                regs[leafCount + j] = dst
            }
            if outIsBool {
                let src = regs[leafCount + last]
                let o = out.assumingMemoryBound(to: UInt8.self) + start
                for i in 0..<len { o[i] = src[i] != 0 ? 1 : 0 }
            }
            start += len
        }
    }

    @inline(__always)
    func loadLeaf(_ k: Int, _ base: UnsafeMutableRawPointer, _ start: Int, _ len: Int,
                  _ buffer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
        let p = base + leafOffsets[k]
        if leafIsBool[k] {
            let src = p.assumingMemoryBound(to: UInt8.self)
            gather(leafAccess[k], start, len, buffer) { src[$0] != 0 ? 1 : 0 }
            return buffer
        }
        let src = p.assumingMemoryBound(to: T.self)
        if case .direct = leafAccess[k] { return src + start }
        gather(leafAccess[k], start, len, buffer) { src[$0] }
        return buffer
    }

    @inline(__always)
    func gather(_ access: LeafAccess, _ start: Int, _ len: Int, _ dst: UnsafeMutablePointer<T>, _ element: (Int) -> T) {
        switch access {
        case .direct:
            for i in 0..<len { dst[i] = element(start + i) }
        case .splat:
            let v = element(0)
            for i in 0..<len { dst[i] = v }
        case .divMod(let div, let mod):
            // In runs, not element by element (a per-element counter update cost ~10 cycles,
            // 15× a plain add, e.g. a bias row broadcast over a batch).
            var q = (start / div) % mod
            var i = 0
            if div == 1 {
                // Consecutive elements of the leaf, wrapping at `mod`.
                while i < len {
                    let run = min(len - i, mod - q)
                    for j in 0..<run { dst[i + j] = element(q + j) }
                    i += run
                    q = 0
                }
            } else {
                // Each element of the leaf repeated `div` times.
                var r = start % div
                while i < len {
                    let v = element(q)
                    let run = min(len - i, div - r)
                    for j in 0..<run { dst[i + j] = v }
                    i += run
                    r = 0
                    q += 1
                    if q == mod { q = 0 }
                }
            }
        case .map(let map):
            map.withUnsafeBufferPointer { m in
                for i in 0..<len { dst[i] = element(m[start + i]) }
            }
        }
    }

    @inline(__always)
    func apply(_ op: ElementwiseOp, _ a: (Int, Int, Int), _ regs: UnsafeMutablePointer<UnsafeMutablePointer<T>>,
               _ d: UnsafeMutablePointer<T>, _ n: Int) {
        let x = regs[a.0]
        let y = regs[a.1]
        // Each case passes its op as a literal, so `real`'s switch folds and the loop is the
        // op's formula alone (which vectorizes where the formula does).
        @inline(__always) func unary(_ k: ElementwiseOp) {
            for i in 0..<n { d[i] = k.real(x[i], x[i], x[i]) }
        }
        @inline(__always) func binary(_ k: ElementwiseOp) {
            for i in 0..<n { d[i] = k.real(x[i], y[i], y[i]) }
        }
        switch op {
        case .neg: unary(.neg)
        case .abs: unary(.abs)
        case .sign: unary(.sign)
        case .exp: unary(.exp)
        case .log: unary(.log)
        case .log1p: unary(.log1p)
        case .expm1: unary(.expm1)
        case .sqrt: unary(.sqrt)
        case .rsqrt: unary(.rsqrt)
        case .square: unary(.square)
        case .reciprocal: unary(.reciprocal)
        case .sin: unary(.sin)
        case .cos: unary(.cos)
        case .tan: unary(.tan)
        case .tanh: unary(.tanh)
        case .sigmoid: unary(.sigmoid)
        case .relu: unary(.relu)
        case .softplus: unary(.softplus)
        case .erf: unary(.erf)
        case .floor: unary(.floor)
        case .ceil: unary(.ceil)
        case .add: binary(.add)
        case .sub: binary(.sub)
        case .mul: binary(.mul)
        case .div: binary(.div)
        case .pow: binary(.pow)
        case .maximum: binary(.maximum)
        case .minimum: binary(.minimum)
        case .atan2: binary(.atan2)
        case .floordiv: binary(.floordiv)
        case .mod: binary(.mod)
        case .zmul: binary(.zmul)
        case .zdiv: binary(.zdiv)
        case .lgamma: unary(.lgamma)
        case .digamma: unary(.digamma)
        case .erfc: unary(.erfc)
        case .log_sigmoid: unary(.log_sigmoid)
        case .polygamma: binary(.polygamma)
        case .logaddexp: binary(.logaddexp)
        case .xlogy: binary(.xlogy)
        case .eq: binary(.eq)
        case .ne: binary(.ne)
        case .lt: binary(.lt)
        case .le: binary(.le)
        case .gt: binary(.gt)
        case .ge: binary(.ge)
        case .select:
            let z = regs[a.2]
            // Both operands loaded first, so the choice is a blend rather than a branch
            // (random conditions, e.g. relu's gradient, mispredict half the time).
            for i in 0..<n {
                let (a, b) = (y[i], z[i])
                d[i] = x[i] != 0 ? a : b
            }
        }
    }
}
