import GradRuntime
// Matrix products.

/// `matmul` for f32/f64: B is packed into column panels of `NR = 2·V.scalarCount` columns,
/// and a register-blocked 4×NR micro-kernel streams K in blocks of `kc`.
///
/// Summation order: every output element starts at +0 and adds a[i,p]·b[p,j] for p = 0, 1, …
/// in increasing order (the k-blocks continue from the stored partial sum), one multiply and
/// one add each, never fused — exactly the reference kernel's order, so the result is bitwise
/// identical to the reference evaluator.
final class MatmulKernel<T: RealScalar & KernelNumber, V: SIMD> where V.Scalar == T {
    let a: Int
    let b: Int
    let c: Int
    let m: Int
    let k: Int
    let n: Int
    let aBatch: [Int]
    let bBatch: [Int]
    static var nr: Int { 2 * V.scalarCount }
    static var kc: Int { 256 }

    init(_ a: BytecodeOperand, _ b: BytecodeOperand, _ c: BytecodeOperand) {
        self.a = a.offset
        self.b = b.offset
        self.c = c.offset
        m = a.type.shape[a.type.rank - 2]
        k = a.type.shape[a.type.rank - 1]
        n = b.type.shape[b.type.rank - 1]
        let batch = Array(c.type.shape.dropLast(2))
        aBatch = broadcastIndexMap(from: Array(a.type.shape.dropLast(2)), to: batch)
        bBatch = broadcastIndexMap(from: Array(b.type.shape.dropLast(2)), to: batch)
    }

    var panels: Int { (n + Self.nr - 1) / Self.nr }
    var scratchBytes: Int { panels * Self.nr * k * MemoryLayout<T>.stride }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let ap = UnsafePointer((base + a).assumingMemoryBound(to: T.self))
        let bp = UnsafePointer((base + b).assumingMemoryBound(to: T.self))
        let cp = (base + c).assumingMemoryBound(to: T.self)
        let packed = scratch.assumingMemoryBound(to: T.self)
        for batch in aBatch.indices {
            gemm(ap + aBatch[batch] * m * k, bp + bBatch[batch] * k * n, cp + batch * m * n, packed)
        }
    }

    func gemm(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>, _ packed: UnsafeMutablePointer<T>) {
        let nr = Self.nr
        if k == 0 {
            for i in 0..<(m * n) { c[i] = 0 }
            return
        }
        for p in 0..<panels {
            let j0 = p * nr
            let w = min(nr, n - j0)
            let panel = packed + p * k * nr
            for kk in 0..<k {
                let row = b + kk * n + j0
                let dst = panel + kk * nr
                for cc in 0..<w { dst[cc] = row[cc] }
                for cc in w..<nr { dst[cc] = 0 }
            }
        }
        for p in 0..<panels {
            let j0 = p * nr
            let w = min(nr, n - j0)
            var k0 = 0
            while k0 < k {
                let k1 = min(k, k0 + Self.kc)
                var i = 0
                while i + 4 <= m {
                    micro4(a, c, packed + p * k * nr, i, j0, w, k0, k1)
                    i += 4
                }
                while i < m {
                    micro1(a, c, packed + p * k * nr, i, j0, w, k0, k1)
                    i += 1
                }
                k0 = k1
            }
        }
    }

    @inline(__always)
    func load(_ c: UnsafeMutablePointer<T>, _ w: Int, _ first: Bool) -> (V, V) {
        if first { return (V(), V()) }
        let vw = V.scalarCount
        if w == 2 * vw {
            let raw = UnsafeRawPointer(c)
            return (raw.loadUnaligned(as: V.self), raw.loadUnaligned(fromByteOffset: vw * MemoryLayout<T>.stride, as: V.self))
        }
        var v0 = V()
        var v1 = V()
        for j in 0..<w {
            if j < vw { v0[j] = c[j] } else { v1[j - vw] = c[j] }
        }
        return (v0, v1)
    }

    @inline(__always)
    func store(_ c: UnsafeMutablePointer<T>, _ w: Int, _ v: (V, V)) {
        let vw = V.scalarCount
        if w == 2 * vw {
            let raw = UnsafeMutableRawPointer(c)
            raw.storeBytes(of: v.0, as: V.self)
            raw.storeBytes(of: v.1, toByteOffset: vw * MemoryLayout<T>.stride, as: V.self)
            return
        }
        for j in 0..<w { c[j] = j < vw ? v.0[j] : v.1[j - vw] }
    }

    @inline(__always)
    func micro4(_ a: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>, _ panel: UnsafeMutablePointer<T>,
                _ i: Int, _ j0: Int, _ w: Int, _ k0: Int, _ k1: Int) {
        let nr = Self.nr
        let vw = V.scalarCount
        let first = k0 == 0
        let c0 = c + i * n + j0
        let c1 = c0 + n
        let c2 = c1 + n
        let c3 = c2 + n
        var (x00, x01) = load(c0, w, first)
        var (x10, x11) = load(c1, w, first)
        var (x20, x21) = load(c2, w, first)
        var (x30, x31) = load(c3, w, first)
        var a0 = a + i * k + k0
        var a1 = a0 + k
        var a2 = a1 + k
        var a3 = a2 + k
        var bp = UnsafeRawPointer(panel + k0 * nr)
        let step = nr * MemoryLayout<T>.stride
        let half = vw * MemoryLayout<T>.stride
        for _ in k0..<k1 {
            let b0 = bp.loadUnaligned(as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: half, as: V.self)
            let s0 = V(repeating: a0.pointee)
            x00 += s0 * b0
            x01 += s0 * b1
            let s1 = V(repeating: a1.pointee)
            x10 += s1 * b0
            x11 += s1 * b1
            let s2 = V(repeating: a2.pointee)
            x20 += s2 * b0
            x21 += s2 * b1
            let s3 = V(repeating: a3.pointee)
            x30 += s3 * b0
            x31 += s3 * b1
            a0 += 1
            a1 += 1
            a2 += 1
            a3 += 1
            bp += step
        }
        store(c0, w, (x00, x01))
        store(c1, w, (x10, x11))
        store(c2, w, (x20, x21))
        store(c3, w, (x30, x31))
    }

    @inline(__always)
    func micro1(_ a: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>, _ panel: UnsafeMutablePointer<T>,
                _ i: Int, _ j0: Int, _ w: Int, _ k0: Int, _ k1: Int) {
        let nr = Self.nr
        let c0 = c + i * n + j0
        var (x0, x1) = load(c0, w, k0 == 0)
        var a0 = a + i * k + k0
        var bp = UnsafeRawPointer(panel + k0 * nr)
        let step = nr * MemoryLayout<T>.stride
        let half = V.scalarCount * MemoryLayout<T>.stride
        for _ in k0..<k1 {
            let s = V(repeating: a0.pointee)
            x0 += s * bp.loadUnaligned(as: V.self)
            x1 += s * bp.loadUnaligned(fromByteOffset: half, as: V.self)
            a0 += 1
            bp += step
        }
        store(c0, w, (x0, x1))
    }
}

/// `dot`: Σ aᵢ·bᵢ from +0 in increasing i (the reference order).
final class DotKernel<T: RealScalar & KernelNumber> {
    let a: Int
    let b: Int
    let out: Int
    let n: Int
    init(_ a: BytecodeOperand, _ b: BytecodeOperand, _ out: BytecodeOperand) {
        self.a = a.offset
        self.b = b.offset
        self.out = out.offset
        n = a.type.count
    }
    var scratchBytes: Int { 0 }
    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let x = (base + a).assumingMemoryBound(to: T.self)
        let y = (base + b).assumingMemoryBound(to: T.self)
        var acc: T = 0
        for i in 0..<n { acc += x[i] * y[i] }
        (base + out).assumingMemoryBound(to: T.self).pointee = acc
    }
}
