import Foundation
import Grad
import TestSupport
import XCTest

/// Linear algebra (issue 17): the matrix helpers composed of other ops (`eye`, `diagonal`,
/// `diag`, `trace`, `tril`, `triu`) and the factorization ops, on exact hand-computed cases
/// on every backend. (Finite differences of orders 1 and 2: the every-op table.)
final class LinalgTests: XCTestCase {
    static let backends: [Backend] = [.reference, .bytecode, .c]

    /// Runs `source`'s first function on every backend and returns each backend's outputs.
    func run(_ source: String, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line) throws -> [[Tensor]] {
        let f = try XCTUnwrap(Pipeline.parse(source, file: "linalg.ir").functions.first)
        var all: [[Tensor]] = []
        for backend in LinalgTests.backends {
            all.append(try compile(f, backend: backend)(inputs))
        }
        return all
    }

    /// Every backend gives exactly `expected` (bit for bit as doubles, NaN matching NaN).
    func assertExact(_ outputs: [[Tensor]], _ expected: [[Double]], file: StaticString = #filePath, line: UInt = #line) {
        for (backend, outs) in zip(LinalgTests.backends, outputs) {
            XCTAssertEqual(outs.count, expected.count, "\(backend)", file: file, line: line)
            for (k, (o, e)) in zip(outs, expected).enumerated() {
                let same = o.doubles.count == e.count && zip(o.doubles, e).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
                XCTAssertTrue(same, "\(backend) output \(k): \(o.doubles) vs \(e)", file: file, line: line)
            }
        }
    }

    func m(_ values: [Double], _ shape: [Int]) throws -> Tensor { try XCTUnwrap(Tensor(values, shape: shape)) }

    func testMatrixHelpersExact() throws {
        let source = """
            func f(a: f64[2,3], v: f64[3]) {
              d = diagonal(a)
              t = trace(a)
              lo = tril(a)
              up = triu(a, k=1)
              lo2 = tril(a, k=-1)
              e = eye(2, dtype=f64)
              dv = diag(v)
              loss = t * t + sum(dv * dv)
              return d, t, lo, up, lo2, e, dv, grad(loss, a, v)
            }
            """
        let outs = try run(source, [m([1, 2, 3, 4, 5, 6], [2, 3]), m([7, 0, -8], [3])])
        assertExact(outs, [
            [1, 5], [6], [1, 0, 0, 4, 5, 0], [0, 2, 3, 0, 0, 6], [0, 0, 0, 4, 0, 0], [1, 0, 0, 1],
            [7, 0, 0, 0, 0, 0, 0, 0, -8],
            // d(t²)/da = 2t on the diagonal, exactly 0 elsewhere; d(Σ diag(v)²)/dv = 2v.
            [12, 0, 0, 0, 12, 0], [14, 0, -16],
        ])
    }

    func testMatrixHelpersBatchedAndEmpty() throws {
        let source = """
            func f(a: f64[2,2,2], z: f64[0,3,3]) {
              return diagonal(a), trace(a), triu(a), diagonal(z), trace(z), diag(diagonal(a))
            }
            """
        let outs = try run(source, [m([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]), m([], [0, 3, 3])])
        assertExact(outs, [[1, 4, 5, 8], [5, 13], [1, 2, 0, 4, 5, 6, 0, 8], [], [], [1, 0, 0, 4, 5, 0, 0, 8]])
    }

    func testMatrixHelperErrorsAreLocated() throws {
        for (source, message) in [
            ("func f(v: f64[3]) {\n  return trace(v)\n}\n", "a float matrix"),
            ("func f(x: f64[3]) {\n  return eye(-1) + x\n}\n", "eye(n, dtype=…)"),
            ("func f(x: f64[2,2]) {\n  return tril(x, k=1.5)\n}\n", "an integer"),
            ("func f(x: f64[2,2]) {\n  return triu(x, j=1)\n}\n", "no attribute 'j'"),
            ("func f(x: f64) {\n  return eye(2, dtype=i64) + x\n}\n", "f32 or f64"),
            ("func f(x: f64[2,3]) {\n  return cholesky(x)\n}\n", "cholesky: expected a float square matrix"),
            ("func f(x: i64[2,2]) {\n  return logdet(x)\n}\n", "logdet"),
            ("func f(x: f64[2,2], b: f64[3,1]) {\n  return solve(x, b)\n}\n", "a right-hand side […, n, k]"),
            ("func f(x: f64[2,2], b: f64[2,1]) {\n  return triangular_solve(x, b, lower=1.5)\n}\n", "expected true or false"),
            ("func f(x: f64[2,3]) {\n  return inv(x)\n}\n", "a float square matrix"),
        ] {
            XCTAssertThrowsError(try Pipeline.parse(source, file: "m.ir"), source) { error in
                let shown = "\(error)"
                XCTAssertTrue(shown.contains("m.ir:2:"), shown)
                XCTAssertTrue(shown.contains(message), shown)
            }
        }
    }

    func testFactorizationsExact() throws {
        let source = """
            func f(a: f64[2,2], d: f64[2,2], l: f64[2,2], b: f64[2,1], one: f64[1,1]) {
              ld = logdet(d)
              return cholesky(a), logdet(a), cholesky(d), ld, grad(ld, d), triangular_solve(l, b), triangular_solve(l, b, transpose=true), triangular_solve(l, b, lower=false), cholesky(one), logdet(one)
            }
            """
        let outs = try run(source, [m([4, 2, 2, 3], [2, 2]), m([4, 0, 0, 9], [2, 2]), m([2, 7, 1, 1], [2, 2]), m([2, 3], [2, 1]), m([9], [1, 1])])
        assertExact(outs, [
            [2, 0, 1, (2.0).squareRoot()], [2 * (Foundation.log(2.0) + Foundation.log((2.0).squareRoot()))],
            [2, 0, 0, 3], [2 * (Foundation.log(2.0) + Foundation.log(3.0))],
            // d ln det D = D⁻¹, exactly 0 off the diagonal.
            [0.25, 0, 0, (1.0 / 3) * (1.0 / 3)],
            // [[2,0],[1,1]] x = [2,3]: x = [1, 2]; its transpose [[2,1],[0,1]]: x = [−0.5, 3];
            // the upper triangle [[2,7],[0,1]] (the 1 below is not read): x = [(2 − 21)/2, 3].
            [1, 2], [-0.5, 3], [-9.5, 3],
            [3], [2 * Foundation.log(3.0)],
        ])
    }

    /// Not positive definite (an eigenvalue < 0, a zero pivot, NaN): cholesky is all NaN and
    /// logdet NaN on every backend; a zero pivot in a triangular solve divides by zero (IEEE);
    /// identities and empty matrices.
    func testNonPositiveDefiniteAndSingularAreDocumentedValues() throws {
        let source = """
            func f(a: f64[3,2,2], l: f64[2,2], b: f64[2,1], e: f64[0,0]) {
              return cholesky(a), logdet(a), triangular_solve(l, b), cholesky(e), logdet(e), cholesky(eye(3)), logdet(eye(3))
            }
            """
        let nan = Double.nan
        let outs = try run(source, [m([1, 2, 2, 1, 0, 0, 0, 1, 1, 0, 0, nan], [3, 2, 2]), m([0, 0, 1, 1], [2, 2]), m([1, 1], [2, 1]), m([], [0, 0])])
        assertExact(outs, [
            [nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan], [nan, nan, nan],
            [.infinity, -.infinity], [], [0], [1, 0, 0, 0, 1, 0, 0, 0, 1], [0],
        ])
    }

    /// cholesky(A)·cholesky(A)ᵀ ≈ A, and solving with the factor undoes A, for random SPD
    /// matrices (batched, f32 and f64), on every backend.
    func testIdentities() throws {
        for (dtype, tolerance) in [(DType.f64, 1e-12), (.f32, 1e-4)] {
            let fb = FunctionBuilder("f")
            let x = try fb.input("x", dtype, [3, 5, 5])
            let r = try fb.input("r", dtype, [3, 5, 2])
            let a = try OpCases.spd(fb, x)
            let l = try cholesky(a)
            let reconstructed = try l.matmul(transpose(l, perm: [0, 2, 1]))
            let solved = try triangularSolve(l, triangularSolve(l, r), transpose: true)
            try fb.output(reconstructed - a, "reconstruction_error")
            try fb.output(a.matmul(solved) - r, "solve_error")
            try fb.output(logdet(a) - 2 * sum(log(diagonal(l)), axes: [1]), "logdet_error")
            let inputs = [Tensor.random(TensorType(dtype, [3, 5, 5]), seed: 5), Tensor.random(TensorType(dtype, [3, 5, 2]), seed: 6)]
            for backend in LinalgTests.backends {
                for (k, out) in try compile(fb.function, backend: backend)(inputs).enumerated() {
                    XCTAssertLessThan(out.doubles.map { Swift.abs($0) }.max() ?? 0, tolerance * 25, "\(backend) \(dtype) output \(k)")
                }
            }
        }
    }

    func testSolveDetInvExact() throws {
        let source = """
            func f(a: f64[2,2], b: f64[2,1], s: f64[3,3], p: f64[2,2]) {
              d = det(a)
              return solve(a, b), d, grad(d, a), inv(a), det(s), solve(s, ones(shape=[3,1])), det(p), grad(det(s), s), det(eye(2)), inv(eye(2))
            }
            """
        // a = [[0, 2], [1, 1]]: the first pivot is row 1 (a swap), det = −2, solve(a, [4, 3]) = [1, 2].
        // s is singular (its second column is 0): det = 0 exactly, solve divides by a zero pivot.
        let outs = try run(source, [m([0, 2, 1, 1], [2, 2]), m([4, 3], [2, 1]), m([1, 0, 2, 3, 0, 1, 1, 0, 0], [3, 3]), m([2, 1, 1, 1], [2, 2])])
        for outs in outs {
            XCTAssertEqual(outs[0].doubles, [1, 2])
            XCTAssertEqual(outs[1].doubles, [-2])
            // d det/dA = det·A⁻ᵀ = the cofactors [[1, −1], [−2, 0]].
            XCTAssertEqual(outs[2].doubles, [1, -1, -2, 0])
            XCTAssertEqual(outs[3].doubles, [-0.5, 1, 0.5, 0])
            XCTAssertEqual(outs[4].doubles.map { Swift.abs($0) }, [0])
            XCTAssertTrue(outs[5].doubles.contains { !$0.isFinite }, "\(outs[5])")
            XCTAssertEqual(outs[6].doubles, [1])
            // At a singular A the gradient is NaN (det·A⁻ᵀ = 0·inf), documented.
            XCTAssertTrue(outs[7].doubles.contains { $0.isNaN }, "\(outs[7])")
            XCTAssertEqual(outs[8].doubles, [1])
            XCTAssertEqual(outs[9].doubles, [1, 0, 0, 1])
        }
        // And the backends agree bit for bit (NaN included).
        for other in outs.dropFirst() {
            for (x, y) in zip(outs[0], other) { XCTAssertTrue(sameBits(x, y) || x.doubles.elementsEqual(y.doubles) { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(x) vs \(y)") }
        }
    }

    /// slogdet: exact signs and logarithms (a row swap, a negative pivot, a singular matrix, a
    /// determinant that underflows, NaN, 0×0), logabsdet's gradient A⁻ᵀ and the sign's zero
    /// gradient, on every backend.
    func testSlogdetExact() throws {
        let source = """
            func f(a: f64[2,2], s: f64[3,3], p: f64[200,200], q: f64[2,2], z: f64[0,0]) {
              sa, la = slogdet(a)
              ss, ls = slogdet(s)
              sp, lp = slogdet(p)
              sq, lq = slogdet(q)
              sz, lz = slogdet(z)
              return sa, la, grad(la, a), grad(sa + la, a), ss, ls, sp, lp, det(p), sq, lq, sz, lz
            }
            """
        // a = [[0, 2], [1, 1]]: one row swap, pivots 1 and 2: det −2 = −1·exp(ln 2).
        // s: its second column is 0 (singular). p = diag(0.01, …, −0.01 at 7, …): det 1e−400
        // underflows to −0 but ln|det| = 200·ln 0.01, and the sign is −1.
        var pv = [Double](repeating: 0, count: 200 * 200)
        for i in 0..<200 { pv[i * 200 + i] = i == 7 ? -0.01 : 0.01 }
        var lp = 0.0
        for _ in 0..<200 { lp += Foundation.log(0.01) }
        let outs = try run(source, [m([0, 2, 1, 1], [2, 2]), m([1, 0, 2, 3, 0, 1, 1, 0, 0], [3, 3]), m(pv, [200, 200]),
                                    m([.nan, 1, 1, 1], [2, 2]), m([], [0, 0])])
        // d ln|det a|/da = a⁻ᵀ = transpose([[−0.5, 1], [0.5, 0]]); the sign adds nothing.
        assertExact(outs, [[-1], [Foundation.log(2.0)], [-0.5, 0.5, 1, 0], [-0.5, 0.5, 1, 0], [0], [-Double.infinity],
                           [-1], [lp], [0], [.nan], [.nan], [1], [0]])
        for outs in outs { XCTAssertEqual(outs[8].doubles[0].sign, .minus, "det underflows to −0") }
    }

    /// The LU kernels (solve, det, logabsdet, det_sign) on random batched 40×40 matrices
    /// (row swaps at most columns; three panels of the blocked elimination) and 7 right-hand
    /// sides, also singular ones: the VM and the reference (the shared blocked Swift loops)
    /// and C (the textbook unblocked loops) give the same bits, f64 and f32.
    func testLUKernelsAgreeBitwise() throws {
        for dtype in [DType.f64, .f32] {
            let fb = FunctionBuilder("lu")
            let a = try fb.input("a", dtype, [2, 40, 40])
            let b = try fb.input("b", dtype, [2, 40, 7])
            try fb.output(solve(a, b))
            try fb.output(det(a * 0.5))
            let (sign, logAbsDet) = try slogdet(a)
            try fb.output(sign)
            try fb.output(logAbsDet)
            let random = Tensor.random(TensorType(dtype, [2, 40, 40]), seed: 21)
            // And singular: columns 5 and 21 (inside the first and second panels of 16) zero,
            // so their pivots are 0 and skipped.
            var singular = random.doubles
            for e in singular.indices where e % 40 == 5 || e % 40 == 21 { singular[e] = 0 }
            for a in [random, Tensor(TensorType(dtype, [2, 40, 40]), doubles: singular)] {
                let inputs = [a, Tensor.random(TensorType(dtype, [2, 40, 7]), seed: 22)]
                let reference = try compile(fb.function, backend: .reference)(inputs)
                for backend in [Backend.bytecode, .c] {
                    for (k, (got, want)) in zip(try compile(fb.function, backend: backend)(inputs), reference).enumerated() {
                        XCTAssertTrue(sameBits(got, want), "\(backend) \(dtype) output \(k)")
                    }
                }
            }
        }
    }

    /// sign·exp(logabsdet) ≈ det and logabsdet = logdet for a positive definite matrix, for
    /// random (batched) matrices, f32 and f64, on every backend.
    func testSlogdetIdentities() throws {
        for (dtype, tolerance) in [(DType.f64, 1e-12), (.f32, 1e-4)] {
            let fb = FunctionBuilder("f")
            let x = try fb.input("x", dtype, [4, 5, 5])
            let a = try x * 3
            let (sign, logAbsDet) = try slogdet(a)
            try fb.output((sign * exp(logAbsDet) - det(a)) / abs(det(a)), "relative")
            let s = try OpCases.spd(fb, x)
            try fb.output(logabsdet(s) - logdet(s), "vs_logdet")
            try fb.output(detSign(s) - 1, "spd_sign")
            let inputs = [Tensor.random(TensorType(dtype, [4, 5, 5]), seed: 9)]
            for backend in LinalgTests.backends {
                for (k, out) in try compile(fb.function, backend: backend)(inputs).enumerated() {
                    XCTAssertLessThan(out.doubles.map { Swift.abs($0) }.max() ?? 0, tolerance * 10, "\(backend) \(dtype) output \(k)")
                }
            }
        }
    }

    /// solve(A, B) ≈ inv(A)·B and logdet(A) ≈ log(det(A)) for random (batched) matrices, f32
    /// and f64, on every backend.
    func testSolveIdentities() throws {
        for (dtype, tolerance) in [(DType.f64, 1e-11), (.f32, 1e-3)] {
            let fb = FunctionBuilder("f")
            let x = try fb.input("x", dtype, [3, 6, 6])
            let r = try fb.input("r", dtype, [3, 6, 4])
            let a = try x + fb.eye(6, dtype: dtype) * 2
            let s = try OpCases.spd(fb, x)
            try fb.output(solve(a, r) - inv(a).matmul(r), "solve_vs_inv")
            try fb.output(a.matmul(solve(a, r)) - r, "residual")
            try fb.output(logdet(s) - log(det(s)), "logdet_vs_det")
            let inputs = [Tensor.random(TensorType(dtype, [3, 6, 6]), seed: 7), Tensor.random(TensorType(dtype, [3, 6, 4]), seed: 8)]
            for backend in LinalgTests.backends {
                for (k, out) in try compile(fb.function, backend: backend)(inputs).enumerated() {
                    XCTAssertLessThan(out.doubles.map { Swift.abs($0) }.max() ?? 0, tolerance * 10, "\(backend) \(dtype) output \(k)")
                }
            }
        }
    }
}
