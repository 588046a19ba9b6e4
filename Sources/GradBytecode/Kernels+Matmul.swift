import GradLowering
import GradRuntime
import GradKernelsAVX2
import Dispatch
// Matrix products.

/// How a matmul operand's elements are addressed: element `(r, c)` of each 2-D matrix is at
/// `r·rowStride + c·columnStride` (row-major: `(cols, 1)`; a transposed row-major source read
/// in place: `(1, rows of the source)`).
struct MatrixLayout: Hashable {
    var rowStride: Int
    var columnStride: Int
}

/// `matmul` for f32/f64, packed and blocked (BLIS-style loops):
/// k in blocks of `kc`; rows in blocks of `mc`, packed into micro-panels of `mr = 6` rows;
/// B packed once into column panels of `nr = 2·V.scalarCount`; a register-blocked 6×nr
/// micro-kernel. Packing reads either operand through strides, so a transposed operand is
/// read in place (see `TransposeElision`). Large products split the column panels (or the
/// rows, for narrow outputs) between two threads.
///
/// The micro-kernel is this class's own `micro` (compiled for the package's target, SSE2 on
/// x86-64) or, with `avx2`, one of GradKernelsAVX2 (V then has 4 f64 / 8 f32 lanes).
///
/// Summation order: every output element starts at +0 and adds a[i,p]·b[p,j] for p = 0, 1, …
/// in increasing order (the k-blocks continue from the stored partial sum) — exactly the
/// reference kernel's order, whatever the blocking or thread split. With one multiply and one
/// add per step (`micro`, or `avx2` not fused) the result is bitwise the reference
/// evaluator's; with fused multiply-add each step rounds once instead of twice.
final class MatmulKernel<T: RealScalar & KernelNumber, V: SIMD & SendableMetatype>: @unchecked Sendable where V.Scalar == T {
    let a: Int
    let b: Int
    let c: Int
    let m: Int
    let k: Int
    let n: Int
    let aLayout: MatrixLayout
    let bLayout: MatrixLayout
    /// Element offset of each batch's A and B matrix.
    let aBatch: [Int]
    let bBatch: [Int]
    let threads: Int
    /// The AVX2 micro-kernel, or nil for `micro`.
    let avx2: MatmulMicro?
    static var mr: Int { MatmulBlocking.mr }
    static var nr: Int { MatmulBlocking.nr(lanes: V.scalarCount) }
    static var kc: Int { MatmulBlocking.kc }
    static var mc: Int { MatmulBlocking.mc(MemoryLayout<T>.stride == 8 ? .f64 : .f32) }

    /// `aTransposed`: `a` is the row-major source `[k, m]` of a transposed A (likewise
    /// `bTransposed`: `b` is `[n, k]`). Transposed operands are 2-D (no batch). Two threads
    /// share an unbatched product of at least `threshold` multiply-adds when `threads ≥ 2`.
    init(_ a: BytecodeOperand, _ b: BytecodeOperand, _ c: BytecodeOperand, aTransposed: Bool = false, bTransposed: Bool = false,
         threads: Int = 1, threshold: Int = Int.max, micro: MatmulMicro? = nil) {
        avx2 = micro
        self.a = a.offset
        self.b = b.offset
        self.c = c.offset
        let outShape = c.type.shape
        m = outShape[outShape.count - 2]
        n = outShape[outShape.count - 1]
        k = aTransposed ? a.type.shape[0] : a.type.shape[a.type.rank - 1]
        aLayout = aTransposed ? MatrixLayout(rowStride: 1, columnStride: m) : MatrixLayout(rowStride: k, columnStride: 1)
        bLayout = bTransposed ? MatrixLayout(rowStride: 1, columnStride: k) : MatrixLayout(rowStride: n, columnStride: 1)
        let batch = Array(outShape.dropLast(2))
        let (aSize, bSize) = (m * k, k * n)
        aBatch = aTransposed ? [0] : broadcastIndexMap(from: Array(a.type.shape.dropLast(2)), to: batch).map { $0 * aSize }
        bBatch = bTransposed ? [0] : broadcastIndexMap(from: Array(b.type.shape.dropLast(2)), to: batch).map { $0 * bSize }
        self.threads = threads >= 2 && aBatch.count == 1 && MatmulBlocking.splits(m: m, n: n, k: k, nr: Self.nr, threshold: threshold) ? 2 : 1
    }

    /// One m×k by k×n product on operands addressed through `aLayout` and `bLayout`, for
    /// kernels that multiply their own scratch matrices (the convolutions' im2col): call
    /// `product`. Splits over two threads like the 2-D matmul.
    init(m: Int, k: Int, n: Int, aLayout: MatrixLayout, bLayout: MatrixLayout, threads: Int = 1, threshold: Int = Int.max,
         micro: MatmulMicro? = nil) {
        avx2 = micro
        (a, b, c) = (0, 0, 0)
        (self.m, self.k, self.n) = (m, k, n)
        (self.aLayout, self.bLayout) = (aLayout, bLayout)
        (aBatch, bBatch) = ([0], [0])
        self.threads = threads >= 2 && MatmulBlocking.splits(m: m, n: n, k: k, nr: Self.nr, threshold: threshold) ? 2 : 1
    }

    /// C = A·B (C row-major m×n, overwritten), with this kernel's scratch.
    func product(_ ap: UnsafePointer<T>, _ bp: UnsafePointer<T>, _ cp: UnsafeMutablePointer<T>, _ scratch: UnsafeMutableRawPointer) {
        let packedB = scratch.assumingMemoryBound(to: T.self)
        let packedA = (scratch + packedBBytes).assumingMemoryBound(to: T.self)
        if k == 0 {
            for i in 0..<(m * n) { cp[i] = 0 }
            return
        }
        if threads == 1 {
            packB(bp, packedB, 0, panels)
            compute(ap, packedB, cp, packedA, rows: 0..<m, panels: 0..<panels)
            return
        }
        split(ap, bp, cp, packedB, packedA)
    }

    var panels: Int { (n + Self.nr - 1) / Self.nr }
    var packedBBytes: Int { (panels * Self.nr * k * MemoryLayout<T>.stride + 63) / 64 * 64 }
    var packedABytes: Int { (Self.mc * Self.kc * MemoryLayout<T>.stride + 63) / 64 * 64 }
    var scratchBytes: Int { packedBBytes + threads * packedABytes }

    func run(_ base: UnsafeMutableRawPointer, _ scratch: UnsafeMutableRawPointer) {
        let ap = UnsafePointer((base + a).assumingMemoryBound(to: T.self))
        let bp = UnsafePointer((base + b).assumingMemoryBound(to: T.self))
        let cp = (base + c).assumingMemoryBound(to: T.self)
        let packedB = scratch.assumingMemoryBound(to: T.self)
        let packedA = (scratch + packedBBytes).assumingMemoryBound(to: T.self)
        if k == 0 {
            for i in 0..<(aBatch.count * m * n) { cp[i] = 0 }
            return
        }
        if threads == 1 {
            for batch in aBatch.indices {
                let bb = bp + bBatch[batch]
                packB(bb, packedB, 0, panels)
                compute(ap + aBatch[batch], packedB, cp + batch * m * n, packedA, rows: 0..<m, panels: 0..<panels)
            }
            return
        }
        split(ap, bp, cp, packedB, packedA)
    }

    /// Two threads: split the column panels, or the rows when there are few panels.
    /// Each thread packs its own panels of B and its own blocks of A; they write disjoint
    /// parts of C.
    func split(_ ap: UnsafePointer<T>, _ bp: UnsafePointer<T>, _ cp: UnsafeMutablePointer<T>,
               _ packedB: UnsafeMutablePointer<T>, _ packedA: UnsafeMutablePointer<T>) {
        let buffers = MatmulBuffers(a: ap, b: bp, c: cp, packedB: packedB, packedA: packedA)
        let splitColumns = panels >= 4
        let rowBlocks = (m + Self.mr - 1) / Self.mr
        let packedAElements = packedABytes / MemoryLayout<T>.stride
        DispatchQueue.concurrentPerform(iterations: 2) { t in
            let p0 = panels * t / 2
            let p1 = panels * (t + 1) / 2
            packB(buffers.b, buffers.packedB, p0, p1)
            if splitColumns {
                compute(buffers.a, buffers.packedB, buffers.c, buffers.packedA + t * packedAElements, rows: 0..<m, panels: p0..<p1)
            }
        }
        if splitColumns { return }
        DispatchQueue.concurrentPerform(iterations: 2) { t in
            let r0 = min(m, rowBlocks * t / 2 * Self.mr)
            let r1 = t == 1 ? m : min(m, rowBlocks * (t + 1) / 2 * Self.mr)
            compute(buffers.a, buffers.packedB, buffers.c, buffers.packedA + t * packedAElements, rows: r0..<r1, panels: 0..<panels)
        }
    }

    /// Packs column panels `p0 ..< p1` of B (all of k): panel p holds b[kk, p·nr + cc] at
    /// `p·k·nr + kk·nr + cc`, zero beyond n.
    func packB(_ b: UnsafePointer<T>, _ packed: UnsafeMutablePointer<T>, _ p0: Int, _ p1: Int) {
        let nr = Self.nr
        let rs = bLayout.rowStride
        let cs = bLayout.columnStride
        for p in p0..<p1 {
            let j0 = p * nr
            let w = min(nr, n - j0)
            let panel = packed + p * k * nr
            for kk in 0..<k {
                let row = b + kk * rs + j0 * cs
                let dst = panel + kk * nr
                if cs == 1 {
                    for cc in 0..<w { dst[cc] = row[cc] }
                } else {
                    for cc in 0..<w { dst[cc] = row[cc * cs] }
                }
                for cc in w..<nr { dst[cc] = 0 }
            }
        }
    }

    /// Packs rows `i0 ..< i1`, columns `k0 ..< k1` of A into micro-panels of `mr` rows:
    /// element (i0 + q·mr + r, k0 + pp) at `q·(k1−k0)·mr + pp·mr + r`, zero beyond i1.
    func packA(_ a: UnsafePointer<T>, _ packed: UnsafeMutablePointer<T>, _ i0: Int, _ i1: Int, _ k0: Int, _ k1: Int) {
        let mr = Self.mr
        let kl = k1 - k0
        let rs = aLayout.rowStride
        let cs = aLayout.columnStride
        var q = 0
        var i = i0
        while i < i1 {
            let rows = min(mr, i1 - i)
            let dst = packed + q * kl * mr
            if cs == 1 {
                for r in 0..<rows {
                    let src = a + (i + r) * rs + k0
                    for pp in 0..<kl { dst[pp * mr + r] = src[pp] }
                }
            } else {
                for pp in 0..<kl {
                    let src = a + i * rs + (k0 + pp) * cs
                    for r in 0..<rows { dst[pp * mr + r] = src[r * rs] }
                }
            }
            if rows < mr {
                for pp in 0..<kl {
                    for r in rows..<mr { dst[pp * mr + r] = 0 }
                }
            }
            q += 1
            i += mr
        }
    }

    func compute(_ a: UnsafePointer<T>, _ packedB: UnsafeMutablePointer<T>, _ c: UnsafeMutablePointer<T>,
                 _ packedA: UnsafeMutablePointer<T>, rows: Range<Int>, panels: Range<Int>) {
        let mr = Self.mr
        let nr = Self.nr
        var k0 = 0
        while k0 < k {
            let k1 = min(k, k0 + Self.kc)
            var i0 = rows.lowerBound
            while i0 < rows.upperBound {
                let i1 = min(rows.upperBound, i0 + Self.mc)
                packA(a, packedA, i0, i1, k0, k1)
                for p in panels {
                    let j0 = p * nr
                    let w = min(nr, n - j0)
                    let panel = UnsafeRawPointer(packedB + p * k * nr + k0 * nr)
                    var i = i0
                    var q = 0
                    while i < i1 {
                        let pa = UnsafeRawPointer(packedA + q * (k1 - k0) * mr)
                        if let avx2 {
                            avx2.run(k1 - k0, pa, panel, UnsafeMutableRawPointer(c + i * n + j0), n, min(mr, i1 - i), w, k0 == 0)
                        } else {
                            micro(pa, panel, c + i * n + j0, rows: min(mr, i1 - i), w, k1 - k0, first: k0 == 0)
                        }
                        i += mr
                        q += 1
                    }
                }
                i0 = i1
            }
            k0 = k1
        }
    }

    @inline(__always)
    func load(_ c: UnsafeMutablePointer<T>, _ w: Int, _ skip: Bool) -> (V, V) {
        if skip { return (V(), V()) }
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

    /// C[0..<rows, 0..<w] (+)= packedA · panel over `kl` steps: 6 rows × 2 vectors of
    /// accumulators. Padded rows of the packed A are zero and never stored.
    @inline(__always)
    func micro(_ pa: UnsafeRawPointer, _ pb: UnsafeRawPointer, _ c: UnsafeMutablePointer<T>,
               rows: Int, _ w: Int, _ kl: Int, first: Bool) {
        let n = self.n
        let size = MemoryLayout<T>.stride
        var (x00, x01) = load(c, w, first)
        var (x10, x11) = load(c + n, w, first || rows < 2)
        var (x20, x21) = load(c + 2 * n, w, first || rows < 3)
        var (x30, x31) = load(c + 3 * n, w, first || rows < 4)
        var (x40, x41) = load(c + 4 * n, w, first || rows < 5)
        var (x50, x51) = load(c + 5 * n, w, first || rows < 6)
        var ap = pa
        var bp = pb
        let half = V.scalarCount * size
        let bStep = Self.nr * size
        let aStep = Self.mr * size
        for _ in 0..<kl {
            let b0 = bp.loadUnaligned(as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: half, as: V.self)
            var s = V(repeating: ap.load(as: T.self))
            x00 += s * b0
            x01 += s * b1
            s = V(repeating: ap.load(fromByteOffset: size, as: T.self))
            x10 += s * b0
            x11 += s * b1
            s = V(repeating: ap.load(fromByteOffset: 2 * size, as: T.self))
            x20 += s * b0
            x21 += s * b1
            s = V(repeating: ap.load(fromByteOffset: 3 * size, as: T.self))
            x30 += s * b0
            x31 += s * b1
            s = V(repeating: ap.load(fromByteOffset: 4 * size, as: T.self))
            x40 += s * b0
            x41 += s * b1
            s = V(repeating: ap.load(fromByteOffset: 5 * size, as: T.self))
            x50 += s * b0
            x51 += s * b1
            ap += aStep
            bp += bStep
        }
        store(c, w, (x00, x01))
        if rows > 1 { store(c + n, w, (x10, x11)) }
        if rows > 2 { store(c + 2 * n, w, (x20, x21)) }
        if rows > 3 { store(c + 3 * n, w, (x30, x31)) }
        if rows > 4 { store(c + 4 * n, w, (x40, x41)) }
        if rows > 5 { store(c + 5 * n, w, (x50, x51)) }
    }
}

/// A micro-kernel of GradKernelsAVX2, wrapped so that baseline code can hold it. The
/// initializers return nil unless the CPU runs that module's code (`CPUFeatures.avx2FMA`):
/// this is the check that keeps AVX2 instructions off older CPUs.
struct MatmulMicro {
    /// (kl, packed A, packed B panel, C, ldc, rows, columns, first): see GradKernelsAVX2.h.
    let run: (Int, UnsafeRawPointer, UnsafeRawPointer, UnsafeMutableRawPointer, Int, Int, Int, Bool) -> Void

    /// The f64 kernel (for V = SIMD4<Double>): `.avx2FMA` fused, `.avx2` not; nil for `.baseline`.
    init?(f64 kernel: VMMatmulKernel) {
        #if arch(x86_64) && os(Linux)
        guard kernel != .baseline, CPUFeatures.avx2FMA else { return nil }
        let fused = kernel == .avx2FMA
        run = { grad_avx2_matmul_f64($0, $1, $2, $3, $4, $5, $6, $7, fused) }
        #else
        return nil
        #endif
    }

    /// The f32 kernel (for V = SIMD8<Float>).
    init?(f32 kernel: VMMatmulKernel) {
        #if arch(x86_64) && os(Linux)
        guard kernel != .baseline, CPUFeatures.avx2FMA else { return nil }
        let fused = kernel == .avx2FMA
        run = { grad_avx2_matmul_f32($0, $1, $2, $3, $4, $5, $6, $7, fused) }
        #else
        return nil
        #endif
    }
}

/// The pointers a matmul's threads share (each writes its own part of `c`, `packedB` and
/// `packedA`).
struct MatmulBuffers<T>: @unchecked Sendable {
    let a: UnsafePointer<T>
    let b: UnsafePointer<T>
    let c: UnsafeMutablePointer<T>
    let packedB: UnsafeMutablePointer<T>
    let packedA: UnsafeMutablePointer<T>
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
