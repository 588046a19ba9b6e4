import GradRuntime
// The C matrix-multiply kernel emitted into modules that need one: a register-tiled
// micro-kernel written with GCC/Clang vector extensions, packing of A and B blocks for large
// problems (BLIS-style loops), and an optional split over two threads.
//
// Every element of C still sees its products in increasing p order, accumulated from +0
// with separate multiply and add (the file is compiled with -ffp-contract=off): blocking over
// K loads the partial sums back from C and continues, so the result is bit for bit the
// reference `matmulKernel`.

/// Tile shape of the micro-kernel for a dtype: MR rows × NR columns, VW lanes per vector.
struct MatmulTile {
    var mr: Int
    var nr: Int
    var vw: Int

    static func of(_ d: DType) -> MatmulTile {
        d == .f32 ? MatmulTile(mr: 4, nr: 16, vw: 8) : MatmulTile(mr: 4, nr: 8, vw: 4)
    }
}

/// Problems with at least this many multiply-adds (M·N·K) run on two threads when threads
/// are enabled (a thread start costs ~20 µs; below this the split does not pay on 2 cores).
let matmulThreadThreshold = 4_000_000

/// C text of `PFX_mm_<d>(M, N, K, A, lda, B, ldb, C, ldc)`: C = A·B for row-major blocks.
func matmulKernelSource(_ d: DType, threads: Bool) -> String {
    let t = cType(d)
    let s = d.rawValue
    let tile = MatmulTile.of(d)
    let nv = tile.nr / tile.vw
    let v = "GRADCPFX_v\(s)"
    let zero = d == .f32 ? "0.0f" : "0.0"
    var w = CWriter()
    w.line("/* ---- matrix multiply, \(t): \(tile.mr)x\(tile.nr) register tile ---- */")
    w.line("typedef \(t) \(v) __attribute__((vector_size(\(tile.vw * d.byteSize)), aligned(\(d.byteSize)), may_alias));")
    w.line("")
    // Micro-kernel.
    w.line("/* C[0:\(tile.mr), 0:\(tile.nr)] (+)= A[0:\(tile.mr), 0:kc] B[0:kc, 0:\(tile.nr)]; a(r,p) = A[r*rsa + p*csa]. */")
    w.open("static inline void GRADCPFX_tile_\(s)(long kc, const \(t) *A, long rsa, long csa, const \(t) *B, long ldb, \(t) *C, long ldc, int first)")
    for r in 0..<tile.mr {
        w.line("\(v) " + (0..<nv).map { "c\(r)\($0)" }.joined(separator: ", ") + ";")
    }
    w.open("if (first)")
    for r in 0..<tile.mr {
        for c in 0..<nv { w.line("c\(r)\(c) = (\(v)){\(zero)};") }
    }
    w.close()
    w.open("else")
    for r in 0..<tile.mr {
        for c in 0..<nv { w.line("c\(r)\(c) = *(const \(v) *)(C + \(r) * ldc + \(c * tile.vw));") }
    }
    w.close()
    w.open("for (long p = 0; p < kc; p++)")
    for c in 0..<nv { w.line("const \(v) b\(c) = *(const \(v) *)(B + p * ldb + \(c * tile.vw));") }
    for r in 0..<tile.mr {
        w.line("const \(t) a\(r) = A[\(r) * rsa + p * csa];")
        for c in 0..<nv { w.line("c\(r)\(c) = c\(r)\(c) + a\(r) * b\(c);") }
    }
    w.close()
    for r in 0..<tile.mr {
        for c in 0..<nv { w.line("*(\(v) *)(C + \(r) * ldc + \(c * tile.vw)) = c\(r)\(c);") }
    }
    w.close()
    w.line("")
    // Edge kernel.
    w.line("/* The same for a partial tile (mr <= \(tile.mr), nr <= \(tile.nr)), one element at a time. */")
    w.open("static void GRADCPFX_edge_\(s)(long mr, long nr, long kc, const \(t) *A, long rsa, long csa, const \(t) *B, long ldb, \(t) *C, long ldc, int first)")
    w.open("for (long r = 0; r < mr; r++)")
    w.open("for (long c = 0; c < nr; c++)")
    w.line("\(t) acc = first ? \(zero) : C[r * ldc + c];")
    w.line("for (long p = 0; p < kc; p++) acc = acc + A[r * rsa + p * csa] * B[p * ldb + c];")
    w.line("C[r * ldc + c] = acc;")
    w.close()
    w.close()
    w.close()
    w.line("")
    // Serial driver.
    let kc = 256
    let mc = d == .f32 ? 128 : 64
    w.line("/* C[M,N] = A[M,K] B[K,N] (leading dimensions lda, ldb, ldc). Small problems use the tiles on")
    w.line("   the operands directly; large ones pack \(kc)-deep blocks of B into \(tile.nr)-wide panels and")
    w.line("   \(mc)x\(kc) blocks of A into \(tile.mr)-high panels. */")
    w.open("static void GRADCPFX_mms_\(s)(long M, long N, long K, const \(t) *A, long lda, const \(t) *B, long ldb, \(t) *C, long ldc)")
    w.open("if (K == 0)")
    w.line("for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) C[i * ldc + j] = \(zero);")
    w.line("return;")
    w.close()
    w.line("\(t) *bp = NULL, *ap = NULL;")
    w.open("if ((double)M * (double)N * (double)K > 262144.0 && M >= \(tile.mr) && N >= \(tile.nr))")
    w.line("long npanels = (N + \(tile.nr - 1)) / \(tile.nr);")
    w.line("bp = (\(t) *)malloc(sizeof(\(t)) * \(kc) * \(tile.nr) * (size_t)npanels);")
    w.line("ap = (\(t) *)malloc(sizeof(\(t)) * \(kc) * \(mc + tile.mr));")
    w.close()
    w.open("if (bp == NULL || ap == NULL)")
    w.line("free(bp);")
    w.line("free(ap);")
    w.open("for (long i = 0; i < M; i += \(tile.mr))")
    w.line("long mr = M - i < \(tile.mr) ? M - i : \(tile.mr);")
    w.open("for (long j = 0; j < N; j += \(tile.nr))")
    w.line("long nr = N - j < \(tile.nr) ? N - j : \(tile.nr);")
    w.line("if (mr == \(tile.mr) && nr == \(tile.nr)) GRADCPFX_tile_\(s)(K, A + i * lda, lda, 1, B + j, ldb, C + i * ldc + j, ldc, 1);")
    w.line("else GRADCPFX_edge_\(s)(mr, nr, K, A + i * lda, lda, 1, B + j, ldb, C + i * ldc + j, ldc, 1);")
    w.close()
    w.close()
    w.line("return;")
    w.close()
    w.open("for (long pc = 0; pc < K; pc += \(kc))")
    w.line("long kc = K - pc < \(kc) ? K - pc : \(kc);")
    w.open("for (long j = 0; j < N; j += \(tile.nr))")
    w.line("\(t) *panel = bp + (j / \(tile.nr)) * \(kc) * \(tile.nr);")
    w.line("long nr = N - j < \(tile.nr) ? N - j : \(tile.nr);")
    w.open("for (long p = 0; p < kc; p++)")
    w.line("const \(t) *row = B + (pc + p) * ldb + j;")
    w.line("for (long c = 0; c < nr; c++) panel[p * \(tile.nr) + c] = row[c];")
    w.line("for (long c = nr; c < \(tile.nr); c++) panel[p * \(tile.nr) + c] = \(zero);")
    w.close()
    w.close()
    w.open("for (long ic = 0; ic < M; ic += \(mc))")
    w.line("long mc = M - ic < \(mc) ? M - ic : \(mc);")
    w.open("for (long ir = 0; ir < mc; ir += \(tile.mr))")
    w.line("\(t) *panel = ap + (ir / \(tile.mr)) * \(kc) * \(tile.mr);")
    w.line("long mr = mc - ir < \(tile.mr) ? mc - ir : \(tile.mr);")
    w.open("for (long p = 0; p < kc; p++)")
    w.line("for (long r = 0; r < mr; r++) panel[p * \(tile.mr) + r] = A[(ic + ir + r) * lda + pc + p];")
    w.line("for (long r = mr; r < \(tile.mr); r++) panel[p * \(tile.mr) + r] = \(zero);")
    w.close()
    w.close()
    w.open("for (long j = 0; j < N; j += \(tile.nr))")
    w.line("const \(t) *bpanel = bp + (j / \(tile.nr)) * \(kc) * \(tile.nr);")
    w.line("long nr = N - j < \(tile.nr) ? N - j : \(tile.nr);")
    w.open("for (long ir = 0; ir < mc; ir += \(tile.mr))")
    w.line("const \(t) *apanel = ap + (ir / \(tile.mr)) * \(kc) * \(tile.mr);")
    w.line("long mr = mc - ir < \(tile.mr) ? mc - ir : \(tile.mr);")
    w.line("\(t) *c = C + (ic + ir) * ldc + j;")
    w.line("if (mr == \(tile.mr) && nr == \(tile.nr)) GRADCPFX_tile_\(s)(kc, apanel, 1, \(tile.mr), bpanel, \(tile.nr), c, ldc, pc == 0);")
    w.line("else GRADCPFX_edge_\(s)(mr, nr, kc, apanel, 1, \(tile.mr), bpanel, \(tile.nr), c, ldc, pc == 0);")
    w.close()
    w.close()
    w.close()
    w.close()
    w.line("free(bp);")
    w.line("free(ap);")
    w.close()
    w.line("")
    if threads {
        w.line("struct GRADCPFX_job_\(s) { long M, N, K; const \(t) *A; long lda; const \(t) *B; long ldb; \(t) *C; long ldc; };")
        w.open("static void *GRADCPFX_worker_\(s)(void *arg)")
        w.line("struct GRADCPFX_job_\(s) *j = (struct GRADCPFX_job_\(s) *)arg;")
        w.line("GRADCPFX_mms_\(s)(j->M, j->N, j->K, j->A, j->lda, j->B, j->ldb, j->C, j->ldc);")
        w.line("return NULL;")
        w.close()
        w.line("")
    }
    w.line("/* C = A B; large problems are split in two halves (by columns, else rows) over two threads. */")
    w.open("static void GRADCPFX_mm_\(s)(long M, long N, long K, const \(t) *A, long lda, const \(t) *B, long ldb, \(t) *C, long ldc)")
    if threads {
        w.open("if ((double)M * (double)N * (double)K >= \(matmulThreadThreshold).0 && (N >= \(2 * tile.nr) || M >= \(2 * tile.mr)))")
        w.line("struct GRADCPFX_job_\(s) job;")
        w.line("long m0 = M, n0 = N;")
        w.open("if (N >= \(2 * tile.nr))")
        w.line("n0 = (N / 2 + \(tile.nr - 1)) / \(tile.nr) * \(tile.nr);")
        w.line("job = (struct GRADCPFX_job_\(s)){M, N - n0, K, A, lda, B + n0, ldb, C + n0, ldc};")
        w.close()
        w.open("else")
        w.line("m0 = (M / 2 + \(tile.mr - 1)) / \(tile.mr) * \(tile.mr);")
        w.line("job = (struct GRADCPFX_job_\(s)){M - m0, N, K, A + m0 * lda, lda, B, ldb, C + m0 * ldc, ldc};")
        w.close()
        w.line("pthread_t thread;")
        w.open("if (pthread_create(&thread, NULL, GRADCPFX_worker_\(s), &job) == 0)")
        w.line("GRADCPFX_mms_\(s)(m0, n0, K, A, lda, B, ldb, C, ldc);")
        w.line("pthread_join(thread, NULL);")
        w.line("return;")
        w.close()
        w.close()
    }
    w.line("GRADCPFX_mms_\(s)(M, N, K, A, lda, B, ldb, C, ldc);")
    w.close()
    w.line("")
    return w.text
}
