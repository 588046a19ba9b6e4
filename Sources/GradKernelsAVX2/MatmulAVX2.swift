// Matrix-multiply micro-kernels for x86-64 CPUs with AVX2 and FMA.
//
// Package.swift compiles this module (only this one) with `-target-cpu haswell`, so LLVM may
// use AVX2, FMA, BMI1/2, LZCNT, MOVBE and F16C anywhere in it. Nothing here may run on a CPU
// without them: GradBytecode calls these functions only after `CPUFeatures` has checked the
// CPU, and falls back to its own baseline (SSE2) kernel otherwise. To keep the AVX2 code out
// of baseline callers, the entry points are `@inline(never)` and take only integers, flags
// and raw pointers (no SIMD values cross the module boundary: their calling convention
// differs between the two targets).
#if arch(x86_64) && os(Linux)

/// Rows of C a micro-kernel computes (GradBytecode's packed A panels have 6 rows). Columns:
/// two vectors, 8 for f64 and 16 for f32 (12 accumulators + 2 B vectors + 1 broadcast = 15 of
/// the 16 ymm registers). Internal on purpose: no code of this module may run before the CPU
/// check, not even a global's accessor.
let matmulAVX2Rows = 6

/// `C[0..<rows, 0..<columns] = (first ? 0 : C) + A·B` over `kl` steps, f64.
///
/// - `a`: a packed micro-panel of A, element (r, p) at `p·6 + r` (rows ≥ `rows` are zero).
/// - `b`: a packed panel of B, element (p, j) at `p·8 + j` (columns ≥ `columns` are zero).
/// - `c`: row-major with `ldc` elements per row; only rows < `rows`, columns < `columns`
///   are read or written.
/// - `fused`: each step is one fused multiply-add (rounds once). Otherwise a multiply and an
///   add, in the reference evaluator's order: the result is then bitwise the reference's.
@inline(never)
public func matmulAVX2MicroF64(_ kl: Int, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ c: UnsafeMutableRawPointer,
                               ldc: Int, rows: Int, columns: Int, first: Bool, fused: Bool) {
    if fused {
        microKernel(SIMD4<Double>.self, Fused.self, kl, a, b, c, ldc: ldc, rows: rows, columns: columns, first: first)
    } else {
        microKernel(SIMD4<Double>.self, Separate.self, kl, a, b, c, ldc: ldc, rows: rows, columns: columns, first: first)
    }
}

/// The f32 twin of `matmulAVX2MicroF64`: B panels are 16 columns wide.
@inline(never)
public func matmulAVX2MicroF32(_ kl: Int, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ c: UnsafeMutableRawPointer,
                               ldc: Int, rows: Int, columns: Int, first: Bool, fused: Bool) {
    if fused {
        microKernel(SIMD8<Float>.self, Fused.self, kl, a, b, c, ldc: ldc, rows: rows, columns: columns, first: first)
    } else {
        microKernel(SIMD8<Float>.self, Separate.self, kl, a, b, c, ldc: ldc, rows: rows, columns: columns, first: first)
    }
}

/// One step `x ← x + s·b` of the accumulation. A type rather than a flag, so that each
/// variant gets its own loop with nothing to test inside it.
protocol Step {
    static func apply<V: SIMD>(_ x: inout V, _ s: V, _ b: V) where V.Scalar: FloatingPoint
}

/// One fused multiply-add (`vfmadd231p*`).
enum Fused: Step {
    @inline(__always)
    static func apply<V: SIMD>(_ x: inout V, _ s: V, _ b: V) where V.Scalar: FloatingPoint {
        x = x.addingProduct(s, b)
    }
}

/// A multiply, then an add (Swift never contracts these into an FMA).
enum Separate: Step {
    @inline(__always)
    static func apply<V: SIMD>(_ x: inout V, _ s: V, _ b: V) where V.Scalar: FloatingPoint {
        x += s * b
    }
}

/// Full tiles work on C in place; edge tiles on a zero-initialized 6 × nr copy, so the
/// loop itself never needs a bounds test.
@inline(__always)
func microKernel<V: SIMD, S: Step>(_: V.Type, _: S.Type, _ kl: Int, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer,
                                   _ c: UnsafeMutableRawPointer, ldc: Int, rows: Int, columns: Int, first: Bool)
    where V.Scalar: FloatingPoint {
    let nr = 2 * V.scalarCount
    if rows == matmulAVX2Rows && columns == nr {
        tile(V.self, S.self, kl, a, b, c, ldc: ldc, first: first)
        return
    }
    let size = MemoryLayout<V.Scalar>.stride
    withUnsafeTemporaryAllocation(byteCount: matmulAVX2Rows * nr * size, alignment: 64) { buffer in
        guard let t = buffer.baseAddress else { return }
        let tp = t.bindMemory(to: V.Scalar.self, capacity: matmulAVX2Rows * nr)
        let cp = c.assumingMemoryBound(to: V.Scalar.self)
        tp.initialize(repeating: 0, count: matmulAVX2Rows * nr)
        if !first {
            for r in 0..<rows {
                for j in 0..<columns { tp[r * nr + j] = cp[r * ldc + j] }
            }
        }
        tile(V.self, S.self, kl, a, b, t, ldc: nr, first: first)
        for r in 0..<rows {
            for j in 0..<columns { cp[r * ldc + j] = tp[r * nr + j] }
        }
    }
}

/// The register-blocked loop: 6 rows × 2 vectors of accumulators; per step two vectors of B
/// and one broadcast element of A per row. Reads and writes all 6 × nr elements of `c`.
@inline(__always)
func tile<V: SIMD, S: Step>(_: V.Type, _: S.Type, _ kl: Int, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer,
                            _ c: UnsafeMutableRawPointer, ldc: Int, first: Bool)
    where V.Scalar: FloatingPoint {
    let size = MemoryLayout<V.Scalar>.stride
    let half = V.scalarCount * size
    let row = ldc * size
    @inline(__always) func load(_ r: Int) -> (V, V) {
        if first { return (V(), V()) }
        return (c.loadUnaligned(fromByteOffset: r * row, as: V.self), c.loadUnaligned(fromByteOffset: r * row + half, as: V.self))
    }
    var (x00, x01) = load(0)
    var (x10, x11) = load(1)
    var (x20, x21) = load(2)
    var (x30, x31) = load(3)
    var (x40, x41) = load(4)
    var (x50, x51) = load(5)
    var ap = a
    var bp = b
    let aStep = matmulAVX2Rows * size
    let bStep = 2 * half
    for _ in 0..<kl {
        let b0 = bp.loadUnaligned(as: V.self)
        let b1 = bp.loadUnaligned(fromByteOffset: half, as: V.self)
        var s = V(repeating: ap.loadUnaligned(as: V.Scalar.self))
        S.apply(&x00, s, b0)
        S.apply(&x01, s, b1)
        s = V(repeating: ap.loadUnaligned(fromByteOffset: size, as: V.Scalar.self))
        S.apply(&x10, s, b0)
        S.apply(&x11, s, b1)
        s = V(repeating: ap.loadUnaligned(fromByteOffset: 2 * size, as: V.Scalar.self))
        S.apply(&x20, s, b0)
        S.apply(&x21, s, b1)
        s = V(repeating: ap.loadUnaligned(fromByteOffset: 3 * size, as: V.Scalar.self))
        S.apply(&x30, s, b0)
        S.apply(&x31, s, b1)
        s = V(repeating: ap.loadUnaligned(fromByteOffset: 4 * size, as: V.Scalar.self))
        S.apply(&x40, s, b0)
        S.apply(&x41, s, b1)
        s = V(repeating: ap.loadUnaligned(fromByteOffset: 5 * size, as: V.Scalar.self))
        S.apply(&x50, s, b0)
        S.apply(&x51, s, b1)
        ap += aStep
        bp += bStep
    }
    @inline(__always) func store(_ r: Int, _ v: (V, V)) {
        c.storeBytes(of: v.0, toByteOffset: r * row, as: V.self)
        c.storeBytes(of: v.1, toByteOffset: r * row + half, as: V.self)
    }
    store(0, (x00, x01))
    store(1, (x10, x11))
    store(2, (x20, x21))
    store(3, (x30, x31))
    store(4, (x40, x41))
    store(5, (x50, x51))
}

#endif
