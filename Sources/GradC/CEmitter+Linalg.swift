import GradIR
import GradRuntime

// The C of `cholesky`, `triangular_solve` and `logdet`: the loops of
// GradRuntime/Kernels+Linalg.swift (`LinalgKernels`), in the same order, so that C agrees
// with the reference evaluator and the VM bit for bit. Helpers are written once per module
// and dtype (only when a step calls them); the steps loop over the batch.

extension FunctionEmitter {
    func emitLinalg(_ id: ValueID) throws(Diagnostic) {
        let node = f.nodes[id]
        let a = type(node.inputs[0])
        let d = a.dtype
        let ct = cType(d)
        let n = a.shape[a.rank - 1]
        let batch = a.shape.dropLast(2).reduce(1, *)
        guard batch > 0 else { return }
        w.open("")
        w.line("const \(ct) *a = \(try pointer(node.inputs[0]));")
        w.line("\(ct) *o = \(try destination(id));")
        switch node.op {
        case .cholesky:
            w.line("for (long m = 0; m < \(batch); m++) GRADCPFX_cholesky_\(d.rawValue)(a + m * \(n * n), o + m * \(n * n), \(n));")
        case .triangular_solve:
            let k = node.type.shape[node.type.rank - 1]
            w.line("const \(ct) *b = \(try pointer(node.inputs[1]));")
            w.line("for (long m = 0; m < \(batch); m++) GRADCPFX_trsolve_\(d.rawValue)(a + m * \(n * n), b + m * \(n * k), o + m * \(n * k), \(n), \(k), \(node.attrs.lower ? 1 : 0), \(node.attrs.transposed ? 1 : 0));")
        case .solve:
            let k = node.type.shape[node.type.rank - 1]
            w.line("const \(ct) *b = \(try pointer(node.inputs[1]));")
            w.line("\(ct) *scratch = (\(ct) *)(ws + \(scratchOffset));")
            w.line("for (long m = 0; m < \(batch); m++) GRADCPFX_solve_\(d.rawValue)(a + m * \(n * n), b + m * \(n * k), o + m * \(n * k), scratch, \(n), \(k));")
        case .logabsdet, .det_sign:
            let part = node.op == .det_sign ? 1 : 0
            w.line("\(ct) *scratch = (\(ct) *)(ws + \(scratchOffset));")
            w.line("for (long m = 0; m < \(batch); m++) o[m] = GRADCPFX_slogdet_\(d.rawValue)(a + m * \(n * n), scratch, \(n), \(part));")
        case .det:
            w.line("\(ct) *scratch = (\(ct) *)(ws + \(scratchOffset));")
            w.line("for (long m = 0; m < \(batch); m++) o[m] = GRADCPFX_det_\(d.rawValue)(a + m * \(n * n), scratch, \(n));")
        default:
            w.line("\(ct) *scratch = (\(ct) *)(ws + \(scratchOffset));")
            w.line("for (long m = 0; m < \(batch); m++) o[m] = GRADCPFX_logdet_\(d.rawValue)(a + m * \(n * n), scratch, \(n));")
        }
        w.close()
    }
}

/// Bytes of scratch a step needs beyond its buffers (`logdet`: its Cholesky factor).
func linalgScratchBytes(_ f: Function, _ id: ValueID) -> Int {
    let node = f.nodes[id]
    guard [.logdet, .solve, .det, .logabsdet, .det_sign].contains(node.op), let a = node.inputs.first.map({ f.nodes[$0].type }) else { return 0 }
    let n = a.shape[a.rank - 1]
    return n * n * (a.dtype == .f32 ? 4 : 8)
}

/// The helpers the module's code calls.
func cLinalgHelperSource(calling called: Set<String>) -> String {
    var out = ""
    for d in [DType.f64, .f32] {
        let t = cType(d)
        let (sq, lg, half, zero, two) = d == .f32 ? ("sqrtf", "logf", "0.5f", "0.0f", "2.0f") : ("sqrt", "log", "0.5", "0.0", "2.0")
        let needsLogdet = called.contains("GRADCPFX_logdet_\(d.rawValue)")
        if needsLogdet || called.contains("GRADCPFX_cholesky_\(d.rawValue)") {
            out += """
                /* Cholesky-Banachiewicz of (A + A^T)/2, row by row; all NaN if a pivot is <= 0 or NaN. */
                static int GRADCPFX_cholesky_\(d.rawValue)(const \(t) *a, \(t) *l, long n) {
                    for (long i = 0; i < n; i++) {
                        \(t) *li = l + i * n;
                        for (long j = 0; j <= i; j++) {
                            const \(t) *lj = l + j * n;
                            \(t) s = (a[i * n + j] + a[j * n + i]) * \(half);
                            for (long p = 0; p < j; p++) s -= li[p] * lj[p];
                            if (i == j) {
                                if (!(s > \(zero))) {
                                    for (long e = 0; e < n * n; e++) l[e] = NAN;
                                    return 0;
                                }
                                li[i] = \(sq)(s);
                            } else {
                                li[j] = s / lj[j];
                            }
                        }
                        for (long j = i + 1; j < n; j++) li[j] = \(zero);
                    }
                    return 1;
                }


                """
        }
        if needsLogdet {
            out += """
                static \(t) GRADCPFX_logdet_\(d.rawValue)(const \(t) *a, \(t) *scratch, long n) {
                    if (!GRADCPFX_cholesky_\(d.rawValue)(a, scratch, n)) return NAN;
                    \(t) acc = \(zero);
                    for (long i = 0; i < n; i++) acc += \(lg)(scratch[i * n + i]);
                    return \(two) * acc;
                }


                """
        }
        let needsDet = called.contains("GRADCPFX_det_\(d.rawValue)")
        let needsSolve = called.contains("GRADCPFX_solve_\(d.rawValue)")
        let needsSlogdet = called.contains("GRADCPFX_slogdet_\(d.rawValue)")
        let fabs = d == .f32 ? "fabsf" : "fabs"
        if needsDet || needsSolve || needsSlogdet {
            out += """
                /* LU with partial pivoting (the first largest |pivot|; a zero pivot is left as it is),
                   the row operations applied to the n x k rows of x too; returns the permutation's sign. */
                static \(t) GRADCPFX_lu_\(d.rawValue)(\(t) *u, \(t) *x, long n, long k) {
                    \(t) sign = \(d == .f32 ? "1.0f" : "1.0");
                    for (long col = 0; col < n; col++) {
                        long p = col;
                        \(t) best = \(fabs)(u[col * n + col]);
                        for (long r = col + 1; r < n; r++) {
                            if (\(fabs)(u[r * n + col]) > best) { best = \(fabs)(u[r * n + col]); p = r; }
                        }
                        if (p != col) {
                            for (long c = 0; c < n; c++) { \(t) t = u[col * n + c]; u[col * n + c] = u[p * n + c]; u[p * n + c] = t; }
                            for (long c = 0; c < k; c++) { \(t) t = x[col * k + c]; x[col * k + c] = x[p * k + c]; x[p * k + c] = t; }
                            sign = -sign;
                        }
                        const \(t) pivot = u[col * n + col];
                        if (pivot == \(zero)) continue;
                        for (long r = col + 1; r < n; r++) {
                            const \(t) f = u[r * n + col] / pivot;
                            u[r * n + col] = \(zero);
                            for (long c = col + 1; c < n; c++) u[r * n + c] -= f * u[col * n + c];
                            for (long c = 0; c < k; c++) x[r * k + c] -= f * x[col * k + c];
                        }
                    }
                    return sign;
                }


                """
        }
        if needsDet {
            out += """
                static \(t) GRADCPFX_det_\(d.rawValue)(const \(t) *a, \(t) *u, long n) {
                    for (long e = 0; e < n * n; e++) u[e] = a[e];
                    const \(t) sign = GRADCPFX_lu_\(d.rawValue)(u, u, n, 0);
                    \(t) product = \(d == .f32 ? "1.0f" : "1.0");
                    for (long i = 0; i < n; i++) product *= u[i * n + i];
                    return sign * product;
                }


                """
        }
        if needsSlogdet {
            out += """
                /* slogdet: part 1 the sign of det A (0 at a zero pivot, NaN at a NaN one), part 0 ln|det A|. */
                static \(t) GRADCPFX_slogdet_\(d.rawValue)(const \(t) *a, \(t) *u, long n, int part) {
                    for (long e = 0; e < n * n; e++) u[e] = a[e];
                    \(t) sign = GRADCPFX_lu_\(d.rawValue)(u, u, n, 0);
                    int zero = 0, nan = 0;
                    \(t) acc = \(zero);
                    for (long i = 0; i < n; i++) {
                        const \(t) pivot = u[i * n + i];
                        if (pivot != pivot) nan = 1;
                        else if (pivot == \(zero)) zero = 1;
                        else if (pivot < \(zero)) sign = -sign;
                        acc += \(lg)(\(fabs)(pivot));
                    }
                    if (part == 0) return acc;
                    return nan ? (\(t))NAN : zero ? \(zero) : sign;
                }


                """
        }
        if needsSolve {
            out += """
                static void GRADCPFX_solve_\(d.rawValue)(const \(t) *a, const \(t) *b, \(t) *x, \(t) *u, long n, long k) {
                    for (long e = 0; e < n * n; e++) u[e] = a[e];
                    for (long e = 0; e < n * k; e++) x[e] = b[e];
                    (void)GRADCPFX_lu_\(d.rawValue)(u, x, n, k);
                    for (long step = 0; step < n; step++) {
                        const long i = n - 1 - step;
                        \(t) *xi = x + i * k;
                        for (long p = i + 1; p < n; p++) {
                            const \(t) coefficient = u[i * n + p];
                            const \(t) *xp = x + p * k;
                            for (long c = 0; c < k; c++) xi[c] -= coefficient * xp[c];
                        }
                        const \(t) pivot = u[i * n + i];
                        for (long c = 0; c < k; c++) xi[c] = xi[c] / pivot;
                    }
                }


                """
        }
        if called.contains("GRADCPFX_trsolve_\(d.rawValue)") {
            out += """
                /* X with op(L) X = B (op(L) = L^T when transpose), B and X n x k. */
                static void GRADCPFX_trsolve_\(d.rawValue)(const \(t) *l, const \(t) *b, \(t) *x, long n, long k, int lower, int transpose) {
                    const int forward = lower != transpose;
                    for (long step = 0; step < n; step++) {
                        const long i = forward ? step : n - 1 - step;
                        \(t) *xi = x + i * k;
                        for (long c = 0; c < k; c++) xi[c] = b[i * k + c];
                        const long from = forward ? 0 : i + 1, to = forward ? i : n;
                        for (long p = from; p < to; p++) {
                            const \(t) coefficient = transpose ? l[p * n + i] : l[i * n + p];
                            const \(t) *xp = x + p * k;
                            for (long c = 0; c < k; c++) xi[c] -= coefficient * xp[c];
                        }
                        const \(t) pivot = l[i * n + i];
                        for (long c = 0; c < k; c++) xi[c] = xi[c] / pivot;
                    }
                }


                """
        }
    }
    return out
}
