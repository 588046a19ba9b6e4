import GradLowering
import GradRuntime
// The C matrix-multiply kernel emitted into modules that need one: BLIS-style loops (blocks of
// B packed into NR-wide panels, blocks of A into MR-high panels, zero-padded at the edges)
// around a register-tiled micro-kernel written with GCC/Clang vector extensions, and an
// optional split over two threads. The operands are read through row and column strides, so
// a transposed operand (`matmul(transpose(x), y)`) costs nothing: packing reads it in place.
//
// Numerics: every element of C accumulates its products in increasing p order, starting
// from +0 (blocking over K loads the partial sums back from C and continues). With `fma` the
// kernel is compiled with `fp-contract=fast` (a GCC `#pragma` scoped to the kernel; Clang
// keeps the command line's -ffp-contract=off and does not fuse), so on a CPU
// with FMA (`-march=native`) each step is one fused multiply-add: results then differ from
// the reference (separate multiply and add) by a few ulp of the largest partial sum. Without
// `fma` (`--portable`) the kernel is bit for bit the reference `matmulKernel`.

/// Register tile and cache blocking of the matmul kernel for a dtype.
struct MatmulTile {
    /// Rows × columns of the micro-kernel's tile of C, lanes per vector.
    var mr: Int
    var nr: Int
    var vw: Int
    /// Depth of a packed block (K), rows of a packed A block (M), columns of a packed B block (N).
    var kc: Int
    var mc: Int
    var nc: Int

    /// The AVX2-width tile (8 f32 / 4 f64 lanes) with `MatmulBlocking`'s blocking.
    static func of(_ d: DType) -> MatmulTile {
        let lanes = d == .f32 ? 8 : 4
        return MatmulTile(mr: MatmulBlocking.mr, nr: MatmulBlocking.nr(lanes: lanes), vw: lanes, kc: MatmulBlocking.kc,
                          mc: MatmulBlocking.mc(d), nc: MatmulBlocking.nc)
    }

    /// Elements of packing scratch one serial product of this shape needs: an A block and a
    /// B block (the same formula as the C driver's).
    func packElements(m: Int, n: Int, k: Int) -> Int {
        let kcm = min(k, kc)
        let mcm = min((m + mr - 1) / mr * mr, mc)
        let ncm = min((n + nr - 1) / nr * nr, nc)
        return kcm * (mcm + ncm)
    }
}

/// Whether an `m`×`n`×`k` product is split over two threads (`MatmulBlocking.splits`; the
/// generated driver makes the same test at run time).
func matmulSplits(m: Int, n: Int, k: Int, tile: MatmulTile) -> Bool {
    MatmulBlocking.splits(m: m, n: n, k: k, nr: tile.nr)
}

/// Bytes of packing scratch an `m`×`n`×`k` product needs (both threads' when it splits).
func matmulScratchBytes(_ d: DType, m: Int, n: Int, k: Int, threads: Bool) -> Int {
    let tile = MatmulTile.of(d)
    let one = tile.packElements(m: m, n: n, k: k) * d.byteSize
    let bytes = threads && matmulSplits(m: m, n: n, k: k, tile: tile) ? 2 * ((one + 63) / 64 * 64) : one
    return (bytes + 63) / 64 * 64
}

/// C text of `PFX_mm_<d>(M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, pack)`: C = A·B with
/// a(i,p) = A[i*rsa + p*csa], b(p,j) = B[p*rsb + j*csb], C row-major with leading dimension
/// ldc, `pack` the scratch of `matmulScratchBytes`.
func matmulKernelSource(_ d: DType, threads: Bool, fma: Bool) -> String {
    let t = cType(d)
    let s = d.rawValue
    let tile = MatmulTile.of(d)
    let (mr, nr, vw) = (tile.mr, tile.nr, tile.vw)
    let nv = nr / vw
    let v = "GRADCPFX_v\(s)"
    let zero = d == .f32 ? "0.0f" : "0.0"
    var w = CWriter()
    w.line("/* ---- matrix multiply, \(t): \(mr)x\(nr) register tile, blocks KC=\(tile.kc) MC=\(tile.mc) NC=\(tile.nc) ---- */")
    if fma {
        w.line("/* Fused multiply-add where the target has it: each product and sum rounds once. */")
        w.line("#if defined(__GNUC__) && !defined(__clang__)")
        w.line("#pragma GCC push_options")
        w.line("#pragma GCC optimize(\"fp-contract=fast\")")
        w.line("#endif")
    }
    w.line("typedef \(t) \(v) __attribute__((vector_size(\(vw * d.byteSize)), aligned(\(d.byteSize)), may_alias));")
    w.line("")
    // Micro-kernel.
    w.line("/* C[0:mr, 0:nr] = (first ? 0 : C) + a b over kc steps; a(r,p) = a[r*rsa + p*csa] (rows past mr")
    w.line("   read row mr-1 again, their results are dropped), b: an \(nr)-wide packed panel. */")
    w.open("static void GRADCPFX_ukr_\(s)(long kc, const \(t) *restrict a, long rsa, long csa, const \(t) *restrict b, \(t) *c, long ldc, int first, long mr, long nr)")
    w.line("\(t) tmp[\(mr * nr)] __attribute__((aligned(32)));")
    w.line("const int full = mr == \(mr) && nr == \(nr);")
    w.line("\(t) *o = full ? c : tmp;")
    w.line("const long ldo = full ? ldc : \(nr);")
    for r in 0..<mr {
        w.line("const \(t) *restrict a\(r)p = a + \(r == 0 ? "0" : "(\(r) < mr ? \(r) : mr - 1)") * rsa;")
    }
    for r in 0..<mr {
        w.line("\(v) " + (0..<nv).map { "c\(r)\($0)" }.joined(separator: ", ") + ";")
    }
    w.open("if (first)")
    for r in 0..<mr {
        for c in 0..<nv { w.line("c\(r)\(c) = (\(v)){\(zero)};") }
    }
    w.close()
    w.open("else")
    w.line("if (!full) for (long r = 0; r < mr; r++) for (long j = 0; j < nr; j++) tmp[r * \(nr) + j] = c[r * ldc + j];")
    for r in 0..<mr {
        for c in 0..<nv { w.line("c\(r)\(c) = *(const \(v) *)(o + \(r) * ldo + \(c * vw));") }
    }
    w.close()
    w.open("for (long p = 0; p < kc; p++)")
    for c in 0..<nv { w.line("const \(v) b\(c) = *(const \(v) *)(b + p * \(nr) + \(c * vw));") }
    for r in 0..<mr {
        w.line("const \(t) a\(r) = a\(r)p[p * csa];")
        for c in 0..<nv { w.line("c\(r)\(c) = c\(r)\(c) + a\(r) * b\(c);") }
    }
    w.close()
    for r in 0..<mr {
        for c in 0..<nv { w.line("*(\(v) *)(o + \(r) * ldo + \(c * vw)) = c\(r)\(c);") }
    }
    w.line("if (!full) for (long r = 0; r < mr; r++) for (long j = 0; j < nr; j++) c[r * ldc + j] = tmp[r * \(nr) + j];")
    w.close()
    if fma {
        w.line("#if defined(__GNUC__) && !defined(__clang__)")
        w.line("#pragma GCC pop_options")
        w.line("#endif")
    }
    w.line("")
    // Serial driver.
    w.line("/* C[M,N] = A B, one thread. Loops: N in NC blocks, K in KC blocks (B block packed), M in MC")
    w.line("   blocks (A block packed unless there is only one), then the tiles. pack: KC*(MC + NC)")
    w.line("   elements at most. */")
    w.open("static void GRADCPFX_mms_\(s)(long M, long N, long K, const \(t) *A, long rsa, long csa, const \(t) *B, long rsb, long csb, \(t) *C, long ldc, \(t) *pack)")
    w.open("if (K == 0)")
    w.line("for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) C[i * ldc + j] = \(zero);")
    w.line("return;")
    w.close()
    w.line("const long kcm = K < \(tile.kc) ? K : \(tile.kc);")
    w.line("const long mcm = (M + \(mr - 1)) / \(mr) * \(mr) < \(tile.mc) ? (M + \(mr - 1)) / \(mr) * \(mr) : \(tile.mc);")
    w.line("/* One block of A (small problems): the tiles read it in place. */")
    w.line("const int packA = M > \(tile.mc) || K > \(tile.kc);")
    w.line("\(t) *ap = pack;")
    w.line("\(t) *bp = pack + kcm * mcm;")
    w.open("for (long jc = 0; jc < N; jc += \(tile.nc))")
    w.line("const long nc = N - jc < \(tile.nc) ? N - jc : \(tile.nc);")
    w.open("for (long pc = 0; pc < K; pc += \(tile.kc))")
    w.line("const long kc = K - pc < \(tile.kc) ? K - pc : \(tile.kc);")
    w.open("for (long jr = 0; jr < nc; jr += \(nr))")
    w.line("\(t) *panel = bp + jr * kc;")
    w.line("const long nr = nc - jr < \(nr) ? nc - jr : \(nr);")
    w.line("const \(t) *src = B + pc * rsb + (jc + jr) * csb;")
    w.open("if (nr == \(nr) && csb == 1)")
    w.line("for (long p = 0; p < kc; p++) for (long j = 0; j < \(nr); j++) panel[p * \(nr) + j] = src[p * rsb + j];")
    w.close()
    w.open("else")
    w.open("for (long p = 0; p < kc; p++)")
    w.line("for (long j = 0; j < nr; j++) panel[p * \(nr) + j] = src[p * rsb + j * csb];")
    w.line("for (long j = nr; j < \(nr); j++) panel[p * \(nr) + j] = \(zero);")
    w.close()
    w.close()
    w.close()
    w.open("for (long ic = 0; ic < M; ic += \(tile.mc))")
    w.line("const long mc = M - ic < \(tile.mc) ? M - ic : \(tile.mc);")
    w.open("if (packA) for (long ir = 0; ir < mc; ir += \(mr))")
    w.line("\(t) *panel = ap + ir * kc;")
    w.line("const long mr = mc - ir < \(mr) ? mc - ir : \(mr);")
    w.line("const \(t) *src = A + (ic + ir) * rsa + pc * csa;")
    w.open("if (mr == \(mr) && rsa == 1)")
    w.line("for (long p = 0; p < kc; p++) for (long r = 0; r < \(mr); r++) panel[p * \(mr) + r] = src[p * csa + r];")
    w.close()
    w.open("else")
    w.open("for (long p = 0; p < kc; p++)")
    w.line("for (long r = 0; r < mr; r++) panel[p * \(mr) + r] = src[r * rsa + p * csa];")
    w.line("for (long r = mr; r < \(mr); r++) panel[p * \(mr) + r] = \(zero);")
    w.close()
    w.close()
    w.close()
    w.open("for (long jr = 0; jr < nc; jr += \(nr))")
    w.line("const long nr = nc - jr < \(nr) ? nc - jr : \(nr);")
    w.open("for (long ir = 0; ir < mc; ir += \(mr))")
    w.line("const long mr = mc - ir < \(mr) ? mc - ir : \(mr);")
    w.open("if (packA)")
    w.line("GRADCPFX_ukr_\(s)(kc, ap + ir * kc, 1, \(mr), bp + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, pc == 0, mr, nr);")
    w.close()
    w.open("else")
    w.line("GRADCPFX_ukr_\(s)(kc, A + (ic + ir) * rsa + pc * csa, rsa, csa, bp + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, pc == 0, mr, nr);")
    w.close()
    w.close()
    w.close()
    w.close()
    w.close()
    w.close()
    w.close()
    w.line("")
    let panels = MatmulBlocking.panelsPerSplit
    let split = "(double)M * (double)N * (double)K >= \(MatmulBlocking.parallelThreshold).0 && (N >= \(panels * nr) || M >= \(panels * mr))"
    if threads {
        w.line("struct GRADCPFX_job_\(s) { long M, N, K; const \(t) *A; long rsa, csa; const \(t) *B; long rsb, csb; \(t) *C; long ldc; \(t) *pack; };")
        w.open("static void *GRADCPFX_worker_\(s)(void *arg)")
        w.line("struct GRADCPFX_job_\(s) *j = (struct GRADCPFX_job_\(s) *)arg;")
        w.line("GRADCPFX_mms_\(s)(j->M, j->N, j->K, j->A, j->rsa, j->csa, j->B, j->rsb, j->csb, j->C, j->ldc, j->pack);")
        w.line("return NULL;")
        w.close()
        w.line("")
    }
    w.line("/* C = A B; large problems are split in two halves (by columns, else rows) over two threads,")
    w.line("   each with its own half of pack. */")
    w.open("static void GRADCPFX_mm_\(s)(long M, long N, long K, const \(t) *A, long rsa, long csa, const \(t) *B, long rsb, long csb, \(t) *C, long ldc, \(t) *pack)")
    if threads {
        w.open("if (\(split))")
        w.line("const long kcm = K < \(tile.kc) ? K : \(tile.kc);")
        w.line("const long mcm = (M + \(mr - 1)) / \(mr) * \(mr) < \(tile.mc) ? (M + \(mr - 1)) / \(mr) * \(mr) : \(tile.mc);")
        w.line("const long ncm = (N + \(nr - 1)) / \(nr) * \(nr) < \(tile.nc) ? (N + \(nr - 1)) / \(nr) * \(nr) : \(tile.nc);")
        w.line("\(t) *pack2 = pack + (kcm * (mcm + ncm) * (long)sizeof(\(t)) + 63) / 64 * 64 / (long)sizeof(\(t));")
        w.line("struct GRADCPFX_job_\(s) job;")
        w.line("long m0 = M, n0 = N;")
        w.open("if (N >= \(2 * nr))")
        w.line("n0 = (N / 2 + \(nr - 1)) / \(nr) * \(nr);")
        w.line("job = (struct GRADCPFX_job_\(s)){M, N - n0, K, A, rsa, csa, B + n0 * csb, rsb, csb, C + n0, ldc, pack2};")
        w.close()
        w.open("else")
        w.line("m0 = (M / 2 + \(mr - 1)) / \(mr) * \(mr);")
        w.line("job = (struct GRADCPFX_job_\(s)){M - m0, N, K, A + m0 * rsa, rsa, csa, B, rsb, csb, C + m0 * ldc, ldc, pack2};")
        w.close()
        w.line("pthread_t thread;")
        w.open("if (pthread_create(&thread, NULL, GRADCPFX_worker_\(s), &job) == 0)")
        w.line("GRADCPFX_mms_\(s)(m0, n0, K, A, rsa, csa, B, rsb, csb, C, ldc, pack);")
        w.line("pthread_join(thread, NULL);")
        w.line("return;")
        w.close()
        w.close()
    }
    w.line("GRADCPFX_mms_\(s)(M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, pack);")
    w.close()
    w.line("")
    return w.text
}
