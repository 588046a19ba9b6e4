import GradIR

/// The pooling kernels (`max_pool2d`, `avg_pool2d` and their transposes), written once on raw
/// buffers: the reference kernels below and the VM's call these, and the C emitter writes the
/// same loops in the same order (GradC/CEmitter+Pool.swift), so the backends agree bit for
/// bit. `@inlinable`, so that the VM's calls specialize for Float and Double.
///
/// Every loop runs over the planes (n, c), then the windows (p, q) in row-major order, then
/// the window's elements inside x in row-major order (padding holds no element: −inf for max
/// pooling never wins, 0 for average pooling adds nothing but counts in the divisor).
public enum PoolKernels {
    /// The maximum of window (p, q) of plane `x` (ScalarMath.maximum from −inf: NaN wins) and
    /// the number of its elements equal to it.
    @inlinable
    static func windowMax<T: RealScalar>(_ x: UnsafePointer<T>, _ g: PoolGeometry, _ rows: Range<Int>, _ cols: Range<Int>) -> (T, Int) {
        var m = -T.infinity
        for h in rows {
            for w in cols { m = ScalarMath.maximum(m, x[h * g.width + w]) }
        }
        var count = 0
        for h in rows {
            for w in cols where x[h * g.width + w] == m { count += 1 }
        }
        return (m, count)
    }

    @inlinable
    static func rows(_ g: PoolGeometry, _ p: Int) -> Range<Int> {
        PoolGeometry.span(p, stride: g.strideH, pad: g.padH, window: g.windowH, size: g.height)
    }
    @inlinable
    static func cols(_ g: PoolGeometry, _ q: Int) -> Range<Int> {
        PoolGeometry.span(q, stride: g.strideW, pad: g.padW, window: g.windowW, size: g.width)
    }

    /// out[n,c,p,q] = max of the window.
    @inlinable
    public static func maxPool<T: RealScalar>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, _ g: PoolGeometry) {
        let (plane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        for k in 0..<g.planes {
            let xk = x + k * plane
            for p in 0..<g.outHeight {
                let r = rows(g, p)
                for q in 0..<g.outWidth {
                    var m = -T.infinity
                    for h in r {
                        for w in cols(g, q) { m = ScalarMath.maximum(m, xk[h * g.width + w]) }
                    }
                    out[k * outPlane + p * g.outWidth + q] = m
                }
            }
        }
    }

    /// dx = Σ over windows of zmul(g[w], [x = max]/count) at the window's maxima. The weight
    /// is 1/count where x equals the maximum; a NaN maximum (count 0) weighs every element of
    /// its window 0/0 = NaN.
    @inlinable
    public static func maxPoolGrad<T: RealScalar>(_ x: UnsafePointer<T>, _ cot: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ g: PoolGeometry) {
        let (plane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        for e in 0..<(g.planes * plane) { dx[e] = 0 }
        for k in 0..<g.planes {
            let (xk, dk) = (x + k * plane, dx + k * plane)
            for p in 0..<g.outHeight {
                let r = rows(g, p)
                for q in 0..<g.outWidth {
                    let c = cols(g, q)
                    let (m, count) = windowMax(xk, g, r, c)
                    let gw = cot[k * outPlane + p * g.outWidth + q]
                    let weight = (count == 0 ? 0 : 1 as T) / T(count)
                    for h in r {
                        for w in c where count == 0 || xk[h * g.width + w] == m {
                            dk[h * g.width + w] += ScalarMath.zmul(gw, weight)
                        }
                    }
                }
            }
        }
    }

    /// out[w] = Σ over the window's maxima of zmul(v, 1/count), in row-major order from +0
    /// (every element weighs NaN where the maximum is NaN).
    @inlinable
    public static func maxPoolTangent<T: RealScalar>(_ x: UnsafePointer<T>, _ v: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, _ g: PoolGeometry) {
        let (plane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        for k in 0..<g.planes {
            let (xk, vk) = (x + k * plane, v + k * plane)
            for p in 0..<g.outHeight {
                let r = rows(g, p)
                for q in 0..<g.outWidth {
                    let c = cols(g, q)
                    let (m, count) = windowMax(xk, g, r, c)
                    let weight = (count == 0 ? 0 : 1 as T) / T(count)
                    var acc: T = 0
                    for h in r {
                        for w in c where count == 0 || xk[h * g.width + w] == m {
                            acc += ScalarMath.zmul(vk[h * g.width + w], weight)
                        }
                    }
                    out[k * outPlane + p * g.outWidth + q] = acc
                }
            }
        }
    }

    /// out[w] = (Σ of the window's elements from +0) / (KH·KW).
    @inlinable
    public static func avgPool<T: RealScalar>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, _ g: PoolGeometry) {
        let (plane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        let divisor = T(g.windowSize)
        for k in 0..<g.planes {
            let xk = x + k * plane
            for p in 0..<g.outHeight {
                let r = rows(g, p)
                for q in 0..<g.outWidth {
                    var acc: T = 0
                    for h in r {
                        for w in cols(g, q) { acc += xk[h * g.width + w] }
                    }
                    out[k * outPlane + p * g.outWidth + q] = acc / divisor
                }
            }
        }
    }

    /// dx = Σ over the windows containing an element of g[w]/(KH·KW), from +0.
    @inlinable
    public static func avgPoolGrad<T: RealScalar>(_ cot: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ g: PoolGeometry) {
        let (plane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        let divisor = T(g.windowSize)
        for e in 0..<(g.planes * plane) { dx[e] = 0 }
        for k in 0..<g.planes {
            let dk = dx + k * plane
            for p in 0..<g.outHeight {
                let r = rows(g, p)
                for q in 0..<g.outWidth {
                    let share = cot[k * outPlane + p * g.outWidth + q] / divisor
                    for h in r {
                        for w in cols(g, q) { dk[h * g.width + w] += share }
                    }
                }
            }
        }
    }

    /// Runs `op` on buffers laid out as its operands and result.
    @inlinable
    public static func run<T: RealScalar>(_ op: Op, _ g: PoolGeometry, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>) {
        switch op {
        case .max_pool2d: maxPool(a, out, g)
        case .max_pool2d_grad: maxPoolGrad(a, b, out, g)
        case .max_pool2d_tangent: maxPoolTangent(a, b, out, g)
        case .avg_pool2d: avgPool(a, out, g)
        default: avgPoolGrad(a, out, g)
        }
    }
}

// MARK: - Reference kernels

func poolKernel(_ op: Op, _ attrs: Attributes, _ inputs: [Tensor], _ rt: TensorType) throws(Diagnostic) -> Tensor {
    guard let geometry = PoolGeometry.of(op, operands: inputs.map(\.shape), attrs: attrs) else { throw operandMismatch(op, inputs) }
    func run<T: RealScalar>(_ a: [T], _ b: [T]) -> [T] {
        var out = [T](repeating: 0, count: rt.count)
        // An empty x can still have windows of padding only (−inf, 0): give the loops a
        // pointer they never read.
        let (a, b) = (a.isEmpty ? [0] : a, b.isEmpty ? [0] : b)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op_ in
                    guard let ab = ap.baseAddress, let bb = bp.baseAddress, let ob = op_.baseAddress else { return }
                    PoolKernels.run(op, geometry, ab, bb, ob)
                }
            }
        }
        return out
    }
    let second = inputs.count > 1 ? inputs[1].storage : inputs[0].storage
    switch (inputs[0].storage, second) {
    case (.f32(let a), .f32(let b)): return try makeTensor(.f32(run(a, b)), rt.shape, op)
    case (.f64(let a), .f64(let b)): return try makeTensor(.f64(run(a, b)), rt.shape, op)
    default: throw operandMismatch(op, inputs)
    }
}
