import GradIR
import GradRuntime

/// `cholesky`, `triangular_solve`, `logdet` over the batch: the loops of
/// `LinalgKernels` (GradRuntime), shared with the reference evaluator.
final class LinalgKernel<T: RealScalar> {
    let op: Op
    let a: Int
    let b: Int
    let out: Int
    let n: Int
    let k: Int
    let batch: Int
    let lower: Bool
    let transpose: Bool

    init(_ op: Op, _ attrs: Attributes, _ inputs: [BytecodeOperand], _ output: BytecodeOperand) {
        self.op = op
        let t = inputs[0].type
        a = inputs[0].offset
        b = inputs.count > 1 ? inputs[1].offset : inputs[0].offset
        out = output.offset
        n = t.shape[t.rank - 1]
        k = op == .triangular_solve || op == .solve ? output.type.shape[output.type.rank - 1] : n
        batch = t.shape.dropLast(2).reduce(1, *)
        lower = attrs.lower
        transpose = attrs.transposed
    }

    /// `logdet` keeps its Cholesky factor in scratch, `solve` and `det` their U.
    var scratchBytes: Int { op == .cholesky || op == .triangular_solve ? 0 : n * n * MemoryLayout<T>.stride }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let x = UnsafePointer((base + a).assumingMemoryBound(to: T.self))
        let y = UnsafePointer((base + b).assumingMemoryBound(to: T.self))
        let o = (base + out).assumingMemoryBound(to: T.self)
        let nn = n * n
        switch op {
        case .cholesky:
            for m in 0..<batch { LinalgKernels.cholesky(x + m * nn, o + m * nn, n: n) }
        case .triangular_solve:
            for m in 0..<batch {
                LinalgKernels.triangularSolve(x + m * nn, y + m * n * k, o + m * n * k, n: n, k: k, lower: lower, transpose: transpose)
            }
        case .solve:
            let u = scratch.assumingMemoryBound(to: T.self)
            for m in 0..<batch { LinalgKernels.solve(x + m * nn, y + m * n * k, o + m * n * k, scratch: u, n: n, k: k) }
        case .det:
            let u = scratch.assumingMemoryBound(to: T.self)
            for m in 0..<batch { o[m] = LinalgKernels.det(x + m * nn, scratch: u, n: n) }
        case .logabsdet, .det_sign:
            let u = scratch.assumingMemoryBound(to: T.self)
            let wantsSign = op == .det_sign
            for m in 0..<batch {
                let r = LinalgKernels.slogdet(x + m * nn, scratch: u, n: n)
                o[m] = wantsSign ? r.sign : r.logAbs
            }
        default:
            let l = scratch.assumingMemoryBound(to: T.self)
            for m in 0..<batch { o[m] = LinalgKernels.logdet(x + m * nn, scratch: l, n: n, log: T.log) }
        }
    }
}
