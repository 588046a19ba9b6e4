/// The factorization kernels (`cholesky`, `triangular_solve`, `logdet`), written once on raw
/// buffers of one matrix: the reference kernels below and the VM's call these, and the C
/// emitter writes the same loops in the same order (GradC/CEmitter+Linalg.swift), so the
/// backends agree bit for bit. Row-major, O(n³), the inner loop over contiguous elements;
/// every index is below n·n (or n·k), the sizes checked by the type rule.
public enum LinalgKernels {
    /// Cholesky–Banachiewicz, row by row, of S = (A + Aᵀ)/2: `l` (n×n, may not alias `a`)
    /// gets the lower factor and zeros above the diagonal. Returns false, with `l` all NaN,
    /// when a pivot is ≤ 0 or NaN (S is not positive definite).
    @discardableResult
    public static func cholesky<T: BinaryFloatingPoint>(_ a: UnsafePointer<T>, _ l: UnsafeMutablePointer<T>, n: Int) -> Bool {
        for i in 0..<n {
            let li = l + i * n
            for j in 0...i {
                let lj = l + j * n
                var s = (a[i * n + j] + a[j * n + i]) * (0.5 as T)
                for p in 0..<j { s -= li[p] * lj[p] }
                if i == j {
                    guard s > 0 else {
                        for e in 0..<(n * n) { l[e] = T.nan }
                        return false
                    }
                    li[i] = s.squareRoot()
                } else {
                    li[j] = s / lj[j]
                }
            }
            for j in (i + 1)..<n { li[j] = 0 }
        }
        return true
    }

    /// X with op(L)·X = B: L n×n (only the `lower` or upper triangle read), op(L) = Lᵀ when
    /// `transpose`; B and X n×k. `x` may alias `b` (each row of B is read before that row of
    /// X is written), not `l`.
    public static func triangularSolve<T: BinaryFloatingPoint>(_ l: UnsafePointer<T>, _ b: UnsafePointer<T>, _ x: UnsafeMutablePointer<T>,
                                                              n: Int, k: Int, lower: Bool, transpose: Bool) {
        let forward = lower != transpose
        for step in 0..<n {
            let i = forward ? step : n - 1 - step
            let xi = x + i * k
            for c in 0..<k { xi[c] = b[i * k + c] }
            let (from, to) = forward ? (0, i) : (i + 1, n)
            for p in from..<to {
                let coefficient = transpose ? l[p * n + i] : l[i * n + p]
                let xp = x + p * k
                for c in 0..<k { xi[c] -= coefficient * xp[c] }
            }
            let pivot = l[i * n + i]
            for c in 0..<k { xi[c] = xi[c] / pivot }
        }
    }

    /// ln det S = 2·Σ ln Lᵢᵢ (S = (A + Aᵀ)/2), with `scratch` n×n for L; NaN when S is not
    /// positive definite.
    public static func logdet<T: BinaryFloatingPoint>(_ a: UnsafePointer<T>, scratch: UnsafeMutablePointer<T>, n: Int, log: (T) -> T) -> T {
        guard cholesky(a, scratch, n: n) else { return T.nan }
        var acc: T = 0
        for i in 0..<n { acc += log(scratch[i * n + i]) }
        return 2 * acc
    }
}

// MARK: - Reference kernels

func linalgKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let a = inputs[0].type
    let n = a.shape[a.rank - 1]
    let batch = a.shape.dropLast(2).reduce(1, *)
    func run<T: RealScalar>(_ x: [T], _ y: [T]) -> [T] {
        var out = [T](repeating: 0, count: rt.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in
                out.withUnsafeMutableBufferPointer { op_ in
                    guard let xb = xp.baseAddress, let ob = op_.baseAddress else { return }
                    switch op {
                    case .cholesky:
                        for m in 0..<batch { LinalgKernels.cholesky(xb + m * n * n, ob + m * n * n, n: n) }
                    case .triangular_solve:
                        let k = rt.shape[rt.rank - 1]
                        guard let yb = yp.baseAddress else { return }
                        for m in 0..<batch {
                            LinalgKernels.triangularSolve(xb + m * n * n, yb + m * n * k, ob + m * n * k, n: n, k: k,
                                                          lower: attrs.lower, transpose: attrs.transposed)
                        }
                    default:
                        let scratch = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(n * n, 1))
                        defer { scratch.deallocate() }
                        for m in 0..<batch { ob[m] = LinalgKernels.logdet(xb + m * n * n, scratch: scratch, n: n, log: T.log) }
                    }
                }
            }
        }
        // logdet of an empty batch of 0×0 matrices: ln 1 = 0 (the loop above covers n = 0 too).
        return out
    }
    let second = inputs.count > 1 ? inputs[1].storage : inputs[0].storage
    switch (inputs[0].storage, second) {
    case (.f32(let x), .f32(let y)): return try makeTensor(.f32(run(x, y)), rt.shape, op)
    case (.f64(let x), .f64(let y)): return try makeTensor(.f64(run(x, y)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}
