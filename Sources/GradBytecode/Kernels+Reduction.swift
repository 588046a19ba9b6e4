import GradRuntime
// Reductions and the softmax family, in the reference kernels' order: every output element
// folds its group in increasing input index order, from the identity, in the element type.
// Results are therefore bitwise those of the reference evaluator.

/// Folds `n` elements at `p` (stride `stride`) with the reduction `op`.
@inline(__always)
func foldLine<T: RealScalar & KernelNumber>(_ op: Op, _ p: UnsafePointer<T>, _ n: Int, _ stride: Int) -> T {
    switch op {
    case .sum, .mean:
        var acc: T = 0
        for i in 0..<n { acc += p[i * stride] }
        return op == .mean ? acc / T(n) : acc
    case .prod:
        var acc: T = 1
        for i in 0..<n { acc *= p[i * stride] }
        return acc
    case .max:
        var acc = -T.infinity
        for i in 0..<n { acc = ScalarMath.maximum(acc, p[i * stride]) }
        return acc
    case .min:
        var acc = T.infinity
        for i in 0..<n { acc = ScalarMath.minimum(acc, p[i * stride]) }
        return acc
    default:
        var m = -T.infinity
        for i in 0..<n { m = ScalarMath.maximum(m, p[i * stride]) }
        if !m.isFinite { return m }
        var s: T = 0
        for i in 0..<n { s += T.exp(p[i * stride] - m) }
        return m + T.log(s)
    }
}

/// `sum mean max min prod logsumexp` over `axes`. When the reduced axes are one contiguous
/// run the input is viewed as [outer, r, inner]; `inner > 1` accumulates whole rows (the
/// vectorizable order that still adds each output's elements in increasing index order).
/// Other axis sets use a precomputed visiting order.
final class ReduceKernel<T: RealScalar & KernelNumber> {
    let op: Op
    let x: Int
    let out: Int
    let outer: Int
    let r: Int
    let inner: Int
    /// For non-contiguous axes: the elements of group g are `order[g·r ..< (g+1)·r]`.
    let order: [Int]?

    init(_ op: Op, _ x: BytecodeOperand, _ out: BytecodeOperand, axes: [Int]) {
        self.op = op
        self.x = x.offset
        self.out = out.offset
        let shape = x.type.shape
        if let first = axes.first, let last = axes.last, last - first + 1 != axes.count {
            let kept = shape.indices.filter { !axes.contains($0) }
            let perm = kept + axes
            let strides = rowMajorStrides(shape)
            order = stridedIndexMap(shape: perm.map { shape[$0] }, strides: perm.map { strides[$0] })
            outer = kept.reduce(1) { $0 * shape[$1] }
            r = axes.reduce(1) { $0 * shape[$1] }
            inner = 1
        } else if let first = axes.first, let last = axes.last {
            order = nil
            outer = shape[..<first].reduce(1, *)
            r = shape[first...last].reduce(1, *)
            inner = shape[(last + 1)...].reduce(1, *)
        } else {
            order = nil
            outer = shape.reduce(1, *)
            r = 1
            inner = 1
        }
    }

    var scratchBytes: Int { (order != nil || (op == .logsumexp && inner > 1)) ? r * MemoryLayout<T>.stride : 0 }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let xp = UnsafePointer((base + x).assumingMemoryBound(to: T.self))
        let op = (base + out).assumingMemoryBound(to: T.self)
        let line = scratch.assumingMemoryBound(to: T.self)
        if let order {
            order.withUnsafeBufferPointer { ord in
                for g in 0..<outer {
                    for t in 0..<r { line[t] = xp[ord[g * r + t]] }
                    op[g] = foldLine(self.op, UnsafePointer(line), r, 1)
                }
            }
            return
        }
        if inner == 1 {
            for o in 0..<outer { op[o] = foldLine(self.op, xp + o * r, r, 1) }
            return
        }
        if self.op == .logsumexp {
            for o in 0..<outer {
                for j in 0..<inner {
                    op[o * inner + j] = foldLine(.logsumexp, xp + o * r * inner + j, r, inner)
                }
            }
            return
        }
        for o in 0..<outer {
            let row = op + o * inner
            let identity: T
            switch self.op {
            case .prod: identity = 1
            case .max: identity = -T.infinity
            case .min: identity = T.infinity
            default: identity = 0
            }
            for j in 0..<inner { row[j] = identity }
            for rr in 0..<r {
                let src = xp + (o * r + rr) * inner
                switch self.op {
                case .prod: for j in 0..<inner { row[j] *= src[j] }
                case .max: for j in 0..<inner { row[j] = ScalarMath.maximum(row[j], src[j]) }
                case .min: for j in 0..<inner { row[j] = ScalarMath.minimum(row[j], src[j]) }
                default: for j in 0..<inner { row[j] += src[j] }
                }
            }
            if self.op == .mean {
                let n = T(r)
                for j in 0..<inner { row[j] /= n }
            }
        }
    }
}

/// `softmax`, `log_softmax` and `softmax_cross_entropy` along one axis, line by line, with
/// the reference formulas (see GradRuntime's softmaxKernel / crossEntropyKernel).
final class SoftmaxKernel<T: RealScalar & KernelNumber> {
    let op: Op
    let x: Int
    let labels: Int
    let out: Int
    let outer: Int
    let n: Int
    let inner: Int

    init(_ op: Op, _ inputs: [BytecodeOperand], _ out: BytecodeOperand, axis: Int) {
        self.op = op
        x = inputs[0].offset
        labels = inputs.count > 1 ? inputs[1].offset : inputs[0].offset
        self.out = out.offset
        let shape = inputs[0].type.shape
        outer = shape[..<axis].reduce(1, *)
        n = shape[axis]
        inner = shape[(axis + 1)...].reduce(1, *)
    }

    var scratchBytes: Int { 3 * n * MemoryLayout<T>.stride }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let xp = UnsafePointer((base + x).assumingMemoryBound(to: T.self))
        let lp = UnsafePointer((base + labels).assumingMemoryBound(to: T.self))
        let outp = (base + out).assumingMemoryBound(to: T.self)
        let lineX = scratch.assumingMemoryBound(to: T.self)
        let lineL = lineX + n
        let lineO = lineL + n
        for o in 0..<outer {
            for j in 0..<inner {
                let start = o * n * inner + j
                let xs: UnsafePointer<T>
                if inner == 1 {
                    xs = xp + start
                } else {
                    for i in 0..<n { lineX[i] = xp[start + i * inner] }
                    xs = UnsafePointer(lineX)
                }
                var m = -T.infinity
                for i in 0..<n { m = ScalarMath.maximum(m, xs[i]) }
                var s: T = 0
                if op == .softmax_cross_entropy {
                    for i in 0..<n { s += T.exp(xs[i] - m) }
                    let ls = T.log(s)
                    var acc: T = 0
                    for i in 0..<n { acc += lp[start + i * inner] * ((xs[i] - m) - ls) }
                    outp[o * inner + j] = -acc
                    continue
                }
                let dst = inner == 1 ? outp + start : lineO
                if op == .softmax {
                    for i in 0..<n {
                        let e = T.exp(xs[i] - m)
                        dst[i] = e
                        s += e
                    }
                    for i in 0..<n { dst[i] = dst[i] / s }
                } else {
                    for i in 0..<n { s += T.exp(xs[i] - m) }
                    let ls = T.log(s)
                    for i in 0..<n { dst[i] = (xs[i] - m) - ls }
                }
                if inner != 1 {
                    for i in 0..<n { outp[start + i * inner] = lineO[i] }
                }
            }
        }
    }
}

/// `cumsum` along one axis (f32, f64 or i64): for every line, one running accumulator from
/// zero in visiting order (increasing index, or decreasing with `reverse`), `kernelAdd` each
/// step — the reference kernel's order, so bitwise equal (wrapping for i64).
final class CumsumKernel<T: KernelNumber> {
    let x: Int
    let out: Int
    let outer: Int
    let n: Int
    let inner: Int
    let reverse: Bool

    init(_ x: BytecodeOperand, _ out: BytecodeOperand, axis: Int, reverse: Bool) {
        self.x = x.offset
        self.out = out.offset
        let shape = x.type.shape
        outer = shape[..<axis].reduce(1, *)
        n = shape[axis]
        inner = shape[(axis + 1)...].reduce(1, *)
        self.reverse = reverse
    }
    var scratchBytes: Int { 0 }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let xp = (base + x).assumingMemoryBound(to: T.self)
        let op = (base + out).assumingMemoryBound(to: T.self)
        for o in 0..<outer {
            for j in 0..<inner {
                let start = o * n * inner + j
                var acc = T.kernelZero
                if reverse {
                    var i = n - 1
                    while i >= 0 {
                        acc = T.kernelAdd(acc, xp[start + i * inner])
                        op[start + i * inner] = acc
                        i -= 1
                    }
                } else {
                    for i in 0..<n {
                        acc = T.kernelAdd(acc, xp[start + i * inner])
                        op[start + i * inner] = acc
                    }
                }
            }
        }
    }
}
