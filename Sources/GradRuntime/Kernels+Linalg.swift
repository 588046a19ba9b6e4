/// The factorization kernels (`cholesky`, `triangular_solve`, `logdet`), written once on raw
/// buffers of one matrix: the reference kernels below and the VM's call these, and the C
/// emitter writes the same loops in the same order (GradC/CEmitter+Linalg.swift), so the
/// backends agree bit for bit. `@inlinable`, so that the VM's call specializes for Float and
/// Double (unspecialized generic arithmetic is ~30× slower). Row-major, O(n³), the inner loop over contiguous elements;
/// every index is below n·n (or n·k), the sizes checked by the type rule.
public enum LinalgKernels {
    /// Cholesky–Banachiewicz, row by row, of S = (A + Aᵀ)/2: `l` (n×n, may not alias `a`)
    /// gets the lower factor and zeros above the diagonal. Returns false, with `l` all NaN,
    /// when a pivot is ≤ 0 or NaN (S is not positive definite).
    @inlinable @discardableResult
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
    @inlinable
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
    @inlinable
    public static func logdet<T: BinaryFloatingPoint>(_ a: UnsafePointer<T>, scratch: UnsafeMutablePointer<T>, n: Int, log: (T) -> T) -> T {
        guard cholesky(a, scratch, n: n) else { return T.nan }
        var acc: T = 0
        for i in 0..<n { acc += log(scratch[i * n + i]) }
        return 2 * acc
    }
}

extension LinalgKernels {
    /// LU with partial pivoting of `u` (n×n, overwritten by U), applying the same row
    /// operations to the n×k rows of `x` (k may be 0). Each column's pivot is the first
    /// largest |u[r, col]| for r ≥ col; a zero pivot (the column is zero from the diagonal down)
    /// is left as it is. Returns the sign of the row permutation.
    ///
    /// The result is that of the textbook right-looking elimination (for each column: pick the
    /// pivot, swap the rows, then u[r, c] −= f·u[col, c] for every r, c > col) bit for bit —
    /// every element gets the same operations in the same order, which is what the C backend
    /// runs — but blocked: the columns are eliminated in panels of `luBlock`, and the rest of
    /// the matrix receives a panel's updates in one pass per row (four of them fused per
    /// element, `v −= f₀·u₀[c]; v −= f₁·u₁[c]; …`, still in column order), so it is read
    /// once per panel instead of once per column. The multipliers are kept below the diagonal
    /// while their panel is open (row swaps move them with their rows) and cleared after.
    /// The inner loops run over contiguous elements through row pointers, with no index
    /// arithmetic in them (Swift's overflow checks on `r * n + c` kept them from vectorizing).
    @inlinable
    public static func luEliminate<T: BinaryFloatingPoint>(_ u: UnsafeMutablePointer<T>, _ x: UnsafeMutablePointer<T>, n: Int, k: Int) -> T {
        var sign: T = 1
        var k0 = 0
        while k0 < n {
            let end = Swift.min(k0 &+ luBlock, n)
            var active: UInt32 = 0  // bit i: column k0 + i had a non-zero pivot
            for col in k0..<end {
                let uc = u + col &* n
                var p = col
                var best = Swift.abs(uc[col])
                var r = col &+ 1
                while r < n {
                    let v = Swift.abs(u[r &* n &+ col])
                    if v > best {
                        best = v
                        p = r
                    }
                    r &+= 1
                }
                let xc = x + col &* k
                if p != col {
                    let up = u + p &* n
                    for c in 0..<n { let t = uc[c]; uc[c] = up[c]; up[c] = t }
                    let xp = x + p &* k
                    for c in 0..<k { let t = xc[c]; xc[c] = xp[c]; xp[c] = t }
                    sign = -sign
                }
                let pivot = uc[col]
                guard pivot != 0 else { continue }
                active |= 1 << UInt32(col &- k0)
                // The panel's own columns and x now; the columns right of the panel later.
                r = col &+ 1
                while r < n {
                    let ur = u + r &* n
                    let f = ur[col] / pivot
                    ur[col] = f
                    var c = col &+ 1
                    while c < end {
                        ur[c] -= f * uc[c]
                        c &+= 1
                    }
                    let xr = x + r &* k
                    c = 0
                    while c < k {
                        xr[c] -= f * xc[c]
                        c &+= 1
                    }
                    r &+= 1
                }
            }
            if end < n {
                // The panel's rows of U: row k0 + j from the panel's columns before it, in order.
                for row in (k0 &+ 1)..<end {
                    luUpdate(u, row: row, k0: k0, columns: row &- k0, active: active, from: end, n: n)
                }
                // Every row below the panel, from all of the panel's columns.
                for row in end..<n {
                    luUpdate(u, row: row, k0: k0, columns: end &- k0, active: active, from: end, n: n)
                }
            }
            for col in k0..<end where active & (1 << UInt32(col &- k0)) != 0 {
                var r = col &+ 1
                while r < n {
                    u[r &* n &+ col] = 0
                    r &+= 1
                }
            }
            k0 = end
        }
        return sign
    }

    /// Columns per panel of `luEliminate` (at most 32: a bit each).
    @inlinable static var luBlock: Int { 16 }

    /// u[row, c] −= f_i·u[k0 + i, c] for c in from..<n and the active i < `columns` in
    /// increasing order, f_i = u[row, k0 + i] (the multiplier kept there); four at a time per
    /// element.
    @inlinable
    static func luUpdate<T: BinaryFloatingPoint>(_ u: UnsafeMutablePointer<T>, row: Int, k0: Int, columns: Int, active: UInt32,
                                                from: Int, n: Int) {
        let ur = u + row &* n
        var i = 0
        while i < columns {
            // The next (up to) four active columns.
            var picked = (0, 0, 0, 0)
            var count = 0
            while i < columns, count < 4 {
                if active & (1 << UInt32(i)) != 0 {
                    switch count {
                    case 0: picked.0 = i
                    case 1: picked.1 = i
                    case 2: picked.2 = i
                    default: picked.3 = i
                    }
                    count &+= 1
                }
                i &+= 1
            }
            let c0 = k0 &+ picked.0, c1 = k0 &+ picked.1, c2 = k0 &+ picked.2, c3 = k0 &+ picked.3
            let (u0, u1, u2, u3) = (u + c0 &* n, u + c1 &* n, u + c2 &* n, u + c3 &* n)
            var c = from
            switch count {
            case 4:
                let (f0, f1, f2, f3) = (ur[c0], ur[c1], ur[c2], ur[c3])
                while c < n {
                    var v = ur[c]
                    v -= f0 * u0[c]
                    v -= f1 * u1[c]
                    v -= f2 * u2[c]
                    v -= f3 * u3[c]
                    ur[c] = v
                    c &+= 1
                }
            case 3:
                let (f0, f1, f2) = (ur[c0], ur[c1], ur[c2])
                while c < n {
                    var v = ur[c]
                    v -= f0 * u0[c]
                    v -= f1 * u1[c]
                    v -= f2 * u2[c]
                    ur[c] = v
                    c &+= 1
                }
            case 2:
                let (f0, f1) = (ur[c0], ur[c1])
                while c < n {
                    var v = ur[c]
                    v -= f0 * u0[c]
                    v -= f1 * u1[c]
                    ur[c] = v
                    c &+= 1
                }
            case 1:
                let f0 = ur[c0]
                while c < n {
                    ur[c] -= f0 * u0[c]
                    c &+= 1
                }
            default:
                break
            }
        }
    }

    /// X with A·X = B: `u` (n×n scratch) gets A, `x` (n×k, may alias `b`) gets B, then LU
    /// elimination and back substitution with U.
    @inlinable
    public static func solve<T: BinaryFloatingPoint>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ x: UnsafeMutablePointer<T>,
                                                    scratch u: UnsafeMutablePointer<T>, n: Int, k: Int) {
        for e in 0..<(n * n) { u[e] = a[e] }
        for e in 0..<(n * k) { x[e] = b[e] }
        _ = luEliminate(u, x, n: n, k: k)
        for step in 0..<n {
            let i = n &- 1 &- step
            let xi = x + i &* k
            let ui = u + i &* n
            var p = i &+ 1
            while p < n {
                let coefficient = ui[p]
                let xp = x + p &* k
                var c = 0
                while c < k {
                    xi[c] -= coefficient * xp[c]
                    c &+= 1
                }
                p &+= 1
            }
            let pivot = ui[i]
            for c in 0..<k { xi[c] = xi[c] / pivot }
        }
    }

    /// det A: the sign of the permutation times the product of U's diagonal (in row order).
    @inlinable
    public static func det<T: BinaryFloatingPoint>(_ a: UnsafePointer<T>, scratch u: UnsafeMutablePointer<T>, n: Int) -> T {
        for e in 0..<(n * n) { u[e] = a[e] }
        let sign = luEliminate(u, u, n: n, k: 0)
        var product: T = 1
        for i in 0..<n { product *= u[i * n + i] }
        return sign * product
    }
}

extension LinalgKernels {
    /// slogdet: (sign, ln |det A|) from LU with partial pivoting of a copy in `scratch`
    /// (n×n). The sign is the permutation's times the pivots' signs, exactly 0 if a pivot is 0
    /// and NaN if one is NaN (NaN first); ln |det A| = Σ ln |Uᵢᵢ| from +0 in row order.
    @inlinable
    public static func slogdet<T: RealScalar>(_ a: UnsafePointer<T>, scratch u: UnsafeMutablePointer<T>, n: Int) -> (sign: T, logAbs: T) {
        for e in 0..<(n * n) { u[e] = a[e] }
        var sign = luEliminate(u, u, n: n, k: 0)
        var (zero, nan) = (false, false)
        var acc: T = 0
        for i in 0..<n {
            let pivot = u[i * n + i]
            if pivot.isNaN {
                nan = true
            } else if pivot == 0 {
                zero = true
            } else if pivot < 0 {
                sign = -sign
            }
            acc += T.log(Swift.abs(pivot))
        }
        return (nan ? T.nan : zero ? 0 : sign, acc)
    }
}

// MARK: - Reference kernels

func linalgKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    let a = inputs[0].type
    let n = a.shape[a.rank - 1]
    let batch = a.shape.dropLast(2).reduce(1, *)
    func run<T: RealScalar>(_ x: [T], _ y: [T]) -> [T] {
        // 0×0 matrices: det 1, logdet 0, the other results are empty.
        if n == 0 { return [T](repeating: op == .det || op == .det_sign ? 1 : 0, count: rt.count) }
        var out = [T](repeating: 0, count: rt.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in
                out.withUnsafeMutableBufferPointer { op_ in
                    guard let xb = xp.baseAddress, let ob = op_.baseAddress else { return }
                    switch op {
                    case .cholesky:
                        for m in 0..<batch { LinalgKernels.cholesky(xb + m * n * n, ob + m * n * n, n: n) }
                    case .solve:
                        let k = rt.shape[rt.rank - 1]
                        guard let yb = yp.baseAddress else { return }
                        let scratch = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(n * n, 1))
                        defer { scratch.deallocate() }
                        for m in 0..<batch { LinalgKernels.solve(xb + m * n * n, yb + m * n * k, ob + m * n * k, scratch: scratch, n: n, k: k) }
                    case .det:
                        let scratch = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(n * n, 1))
                        defer { scratch.deallocate() }
                        for m in 0..<batch { ob[m] = LinalgKernels.det(xb + m * n * n, scratch: scratch, n: n) }
                    case .logabsdet, .det_sign:
                        let scratch = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(n * n, 1))
                        defer { scratch.deallocate() }
                        for m in 0..<batch {
                            let r = LinalgKernels.slogdet(xb + m * n * n, scratch: scratch, n: n)
                            ob[m] = op == .det_sign ? r.sign : r.logAbs
                        }
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
