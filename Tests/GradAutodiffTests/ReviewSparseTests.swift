import Grad
import TestSupport
import XCTest

/// Review of the sparse-request change (e2997e9^..dcad7cb): cases where the pattern a sparse
/// request is typed with differs from the one it is expanded with, and regression checks of
/// the closed-gate loop exit and the VM's run copies.
final class ReviewSparseTests: XCTestCase {
    /// The first function's output count at parse time and the evaluated output's count.
    func parsedAndExpandedCounts(_ source: String, input: [String: Tensor]) throws -> (parsed: Int, expanded: Int, pattern: Int?) {
        let module = try parseModule(source)
        let f = try XCTUnwrap(module.functions.last)
        let parsed = f.type(of: f.outputs[0].value).count
        let exe = try compile(f, backend: .reference)
        let out = try exe(input)
        return (parsed, out[0].count, exe.pattern(ofOutput: f.outputs[0].name)?.nonZeroCount)
    }

    static let loopWithGrad = """
    func step(t: i64, x: f64[4]) {
      g = grad(sum(x * x), x)
      return x - 0.1 * g
    }
    func f(x: f64[4]) {
      r = fori(step, 3, carry=x)
      return jacobian(r, x, sparse=true) as j
    }
    """

    /// BUG: a sparse request whose y goes through a loop whose body holds a `grad` is typed on
    /// the unexpanded body (the `grad` node is "everything": 16 non-zeros), but
    /// `Differentiator.expand` expands the bodies first and `Expansion.init` keeps the expanded
    /// bodies in `sourceForPatterns`, so the expansion computes the exact diagonal (4): the
    /// node typed f64[16] becomes an f64[4]. Any use of it is then an error in the wrong place
    /// ("declared type f64[16] does not match the inferred type f64[4]"), and `gradc check`
    /// traps (GradientCheck.swift:135 reads analytic[k] for k < 16 of 4 values).
    func testSparseRequestThroughALoopWithAGradKeepsItsParsedType() throws {
        let x = try XCTUnwrap(Tensor([1, 2, 3, 4], shape: [4]))
        let (parsed, expanded, pattern) = try parsedAndExpandedCounts(Self.loopWithGrad, input: ["x": x])
        XCTAssertEqual(parsed, expanded, "the request typed f64[\(parsed)] evaluates to \(expanded) values")
        XCTAssertEqual(pattern, parsed, "the output's pattern has \(pattern ?? -1) non-zeros, its parsed type \(parsed)")
        // A use typed with the parsed length must still compile.
        let use = Self.loopWithGrad.replacingOccurrences(of: "return jacobian(r, x, sparse=true) as j",
                                                           with: "j = jacobian(r, x, sparse=true)\n  return sum(j * j) as s")
        XCTAssertNoThrow(try compile(XCTUnwrap(parseModule(use).functions.last), backend: .reference))
    }

    /// The same request through `GradientChecker` (`gradc check`): guarded, since with the bug
    /// the checker indexes past the analytic values and traps the whole test process.
    func testGradientCheckOfASparseRequestThroughALoopWithAGrad() throws {
        let f = try XCTUnwrap(parseModule(Self.loopWithGrad).functions.last)
        let x = try XCTUnwrap(Tensor([1, 2, 3, 4], shape: [4]))
        let analytic = try evaluate(f, ["x": x])[0].count
        guard analytic == f.type(of: f.outputs[0].value).count else {
            XCTFail("GradientChecker.check would trap: the request is typed \(f.type(of: f.outputs[0].value)) but has \(analytic) values")
            return
        }
        let results = try GradientChecker.check(f, inputs: ["x": x])
        XCTAssertTrue(results.allSatisfy(\.passed))
    }

    static let inlined = """
    func g(x: f64[3], y: f64[3]) {
      return jacobian(sin(y), x, sparse=true) as j
    }
    func f(a: f64[3]) {
      return g(a, a) as j
    }
    """

    /// BUG: an inlined call copies the callee's nodes with their types (`Function.appendCopy`),
    /// so a sparse request keeps the callee's length (here 0: y does not depend on x in g)
    /// although in the caller y and x are the same value (a diagonal, 3 non-zeros). The
    /// parsed graph says f64[0], the value has 3 elements, and `emit --stage parsed` prints a
    /// graph that does not parse back ("declared type f64[0] does not match the inferred type
    /// f64[3]").
    func testInlinedSparseRequestIsTypedInTheCaller() throws {
        let f = try XCTUnwrap(parseModule(Self.inlined).functions.last)
        XCTAssertEqual(f.type(of: f.outputs[0].value), TensorType(.f64, [3]))
        let printed = printFunction(f)
        XCTAssertNoThrow(try parseModule(printed), printed)
        let values = try evaluate(f, ["a": XCTUnwrap(Tensor([1, 2, 3], shape: [3]))])
        XCTAssertEqual(values[0].count, f.type(of: f.outputs[0].value).count)
    }

    /// MISSED SPARSITY (not wrong values): `jacobian(grad(e, x), x, sparse=true)` is typed and
    /// coloured on the unexpanded `grad` (Propagation.swift: derivative requests are
    /// "everything"), so it is dense (25 values, 5 sweeps) while `hessian(e, x, sparse=true)`
    /// and `gradc emit --format sparsity` (which expands first) say tridiagonal, 8 non-zeros.
    func testJacobianOfAGradientIsAsSparseAsTheHessian() throws {
        let f = try XCTUnwrap(parseModule("""
        func f(x: f64[5]) {
          e = sum(x[1:] * x[:4])
          return jacobian(grad(e, x), x, sparse=true) as j, hessian(e, x, sparse=true) as h
        }
        """).functions.last)
        XCTAssertEqual(f.type(of: f.outputs[1].value).count, 8)
        XCTAssertEqual(f.type(of: f.outputs[0].value).count, f.type(of: f.outputs[1].value).count)
    }

    /// Regression (passes): a sparse request inside a loop body, expanded with the body, gives
    /// the same non-zeros as the dense Jacobian on every backend.
    func testSparseRequestInsideALoopBody() throws {
        let source = """
        func step(t: i64, x: f64[5], acc: f64) {
          y = sin(x[1:] * x[:4])
          j = jacobian(y, x, sparse=true)
          d = jacobian(y, x)
          return x * 0.9, acc + sum(j * j) - sum(d * d)
        }
        func f(x: f64[5]) {
          xT, a = fori(step, 3, carry=(x, 0.0))
          return a as a
        }
        """
        let f = try XCTUnwrap(parseModule(source).functions.last)
        let x = try XCTUnwrap(Tensor([0.3, -0.7, 1.1, 0.2, -0.4], shape: [5]))
        for backend in Backend.allCases {
            let out = try compile(f, backend: backend)(["x": x])
            XCTAssertEqual(out[0].doubles[0], 0, accuracy: 1e-12, "\(backend)")
        }
    }

    /// Regression (passes): a gated loop whose gate carry closes early, forward and reverse,
    /// with per-step outputs (one a result, one only read inside the function) and a carry
    /// that is not returned; called twice so that rows a first call wrote must be zeroed by
    /// the second (the closed-gate exit zeroes the remaining rows at once), and once with the
    /// gate closed from the start. Every backend against the reference evaluator.
    func testClosedGateCarryExitOnEveryBackend() throws {
        for reverse in [false, true] {
            let source = """
            func g(c: f64[2], k0: i64, xs: f64[6,2]) -> (f64[2], i64, f64[6,2], f64) {
              body 0 = func b(c: f64[2], k: i64, go: bool, x: f64[2]) -> (f64[2], i64, bool, f64[2], f64) {
                %4: f64[2] = add(c, x)
                %5: i64 = const(dtype=i64, value=1)
                %6: i64 = add(k, %5)
                %7: i64 = const(dtype=i64, value=3)
                %8: bool = lt(%6, %7)
                %9: f64[2] = mul(c, x)
                %10: f64 = sum(%4)
                return %4 as c2, %6 as k2, %8 as go2, %9 as y, %10 as s
              }
              %3: i64 = const(dtype=i64, value=3)
              %4: bool = lt(k0, %3)
              %5: bool[0] = scan(c, k0, %4, xs, body=0, carries=3, over=1, length=6, gate=2\(reverse ? ", reverse=true" : ""))
              %6: f64[2] = result(%5, index=0)
              %7: i64 = result(%5, index=1)
              %8: f64[6,2] = result(%5, index=3)
              %9: f64[6] = result(%5, index=4)
              %10: f64[6] = iota(dtype=f64, shape=[6])
              %11: f64[6] = mul(%9, %10)
              %12: f64 = sum(%11)
              return %6 as c, %7 as k, %8 as ys, %12 as weighted
            }
            """
            let f = try XCTUnwrap(parseModule(source).functions.last)
            let c = try XCTUnwrap(Tensor([1, 2], shape: [2]))
            let xs = try XCTUnwrap(Tensor((1...12).map(Double.init), shape: [6, 2]))
            for backend in Backend.allCases {
                for level in [0, 2] {
                    var options = CompileOptions()
                    options.optimizer.level = level
                    let exe = try compile(f, backend: backend, options: options)
                    for k0: Int64 in [0, 2, 5, -3] {
                        let inputs = ["c": c, "k0": try XCTUnwrap(Tensor(i64: [k0], shape: [])), "xs": xs]
                        let got = try exe(inputs)
                        let want = try evaluate(f, inputs)
                        for (o, (a, b)) in zip(got, want).enumerated() {
                            XCTAssertEqual(a.doubles, b.doubles, "reverse=\(reverse) \(backend) \(level) k0=\(k0) output \(o)")
                        }
                    }
                }
            }
        }
    }

    /// Regression (passes): a while loop inside a fori body (the inner gate closes at a
    /// different step each outer step) and its gradient, on every backend.
    func testNestedWhileInsideAFori() throws {
        let source = """
        func far(x: f64, n: i64, a: f64) {
          return abs(x * x - a) > 1e-12
        }
        func newton(x: f64, n: i64, a: f64) {
          return 0.5 * (x + a / x), n + 1
        }
        func outer(t: i64, a: f64, total: i64) {
          r, n = while(far, newton, carry=(a, 0), with=a, max_iterations=50)
          return a * 3.0 + r, total + n, r
        }
        func f(a: f64) {
          aT, nT, rs = fori(outer, 4, carry=(a, 0))
          return aT as aT, nT as nT, rs as rs, grad(aT + sum(rs), a) as g
        }
        """
        let f = try XCTUnwrap(parseModule(source).functions.last)
        let inputs = ["a": try XCTUnwrap(Tensor([2.0], shape: []))]
        let want = try evaluate(f, inputs)
        for backend in Backend.allCases {
            let got = try compile(f, backend: backend)(inputs)
            for (o, (a, b)) in zip(got, want).enumerated() {
                assertAllClose(a.doubles, b.doubles, rtol: 1e-13, "\(backend) output \(o)")
            }
        }
    }

    /// Regression (passes): slices, pads and broadcasts whose index maps are runs (the VM's
    /// `IndexRuns`: a run at the start, in the middle, at the end, one run, rows of 16 and 17)
    /// against the reference evaluator, for 8-, 4- and 1-byte elements.
    func testRunCopiesAgainstTheReference() throws {
        for (dtype, zero) in [("f64", "0.0"), ("f32", "0.0"), ("i64", "0"), ("bool", "")] {
            let cast = dtype == "bool" ? "x > 0.0" : dtype == "f64" ? "x" : "cast(x, dtype=\(dtype))"
            _ = zero
            let source = """
            func f(x: f64[6,17]) {
              v = \(cast)
              return v[1:4, :] as rows, v[2:5, 1:] as inner, v[:, :16] as prefix, pad(v, low=[1, 0], high=[2, 0], step=[1, 1]) as padrows, pad(v, low=[0, 3], high=[0, 5], step=[1, 1]) as padcols, broadcast_to(v[0, :], shape=[4, 17]) as bcast, v[5:6, :] as last
            }
            """
            let f = try XCTUnwrap(parseModule(source).functions.last)
            var rng = SplitMix64(seed: 5)
            let inputs = ["x": Tensor.random(TensorType(.f64, [6, 17]), using: &rng)]
            let want = try evaluate(f, inputs)
            for backend in [Backend.bytecode, .c] {
                let got = try compile(f, backend: backend)(inputs)
                for (o, (a, b)) in zip(got, want).enumerated() {
                    XCTAssertEqual(a.type, b.type)
                    XCTAssertEqual(a.doubles, b.doubles, "\(dtype) \(backend) output \(o)")
                }
            }
        }
    }

    /// BUG: a sparse request is refused when its *dense* shape would pass 2⁴⁰ elements
    /// (`sparseRequestType` runs the dense type rule, whose `validShape(x.shape + x.shape)`
    /// fails), although it only has nnz elements: the diagonal Hessian of Σ exp(x) for
    /// 1 050 000 unknowns (a 1025 × 1025 grid) is "invalid shape: [1050000, 1050000]".
    func testSparseRequestPastTheDenseShapeLimitIsTyped() throws {
        let source = "func f(x: f64[1050000]) {\n  return hessian(sum(exp(x)), x, sparse=true) as h, jacobian(exp(x), x, sparse=true) as j\n}"
        let f = try XCTUnwrap(parseModule(source).functions.last)
        XCTAssertEqual(f.type(of: f.outputs[0].value), TensorType(.f64, [1_050_000]))
        XCTAssertEqual(f.type(of: f.outputs[1].value), TensorType(.f64, [1_050_000]))
    }

    /// BUG (library): `FunctionBuilder.pattern(of:)` does not `check` that the value is its
    /// own (every other method does): a value of another builder is looked up by id in this
    /// function — the wrong node, or an index-out-of-range trap when the id is past the end.
    func testPatternOfAForeignValueIsAnError() throws {
        let a = FunctionBuilder("a")
        let ax = try a.input("x", .f64, [3])
        let b = FunctionBuilder("b")
        let bx = try b.input("x", .f64, [3])
        _ = try b.jacobian(of: sin(bx), wrt: bx, sparse: true)
        XCTAssertThrowsError(try b.pattern(of: ax), "a value of 'a' given to 'b'")
    }

    /// Regression (passes): sparse Jacobians (both compressions) and a sparse Hessian through a
    /// `while` loop that stops early (the closed-gate exit in the forward, tangent and
    /// backward loops) equal the dense ones at the pattern, on every backend.
    func testSparseDerivativesThroughAWhileLoop() throws {
        let source = """
        func far(x: f64[4], n: i64) {
          return sum(abs(x * x * x - 1.0)) > 1e-6
        }
        func newton(x: f64[4], n: i64) {
          return x - (x * x * x - 1.0) / (3.0 * x * x), n + 1
        }
        func f(x: f64[4]) {
          r, n = while(far, newton, carry=(x, 0), max_iterations=40)
          y = sin(r) * r
          e = sum(y * y * x)
          return jacobian(y, x, sparse=true, forward=true) as jf, jacobian(y, x, sparse=true, forward=false) as jr, hessian(e, x, sparse=true) as h, jacobian(y, x) as jd, hessian(e, x) as hd, n as n
        }
        """
        let f = try XCTUnwrap(parseModule(source).functions.last)
        let x = try XCTUnwrap(Tensor([1.3, 0.7, 2.0, 1.1], shape: [4]))
        for backend in Backend.allCases {
            let exe = try compile(f, backend: backend)
            let out = try exe(["x": x])
            XCTAssertLessThan(out[5].doubles[0], 40, "the loop stops early")
            for (k, name) in [(0, "jf"), (1, "jr"), (2, "h")] {
                let p = try XCTUnwrap(exe.pattern(ofOutput: name))
                XCTAssertEqual(out[k].count, p.nonZeroCount)
                var dense = [Double](repeating: 0, count: p.rows * p.columns)
                var at = 0
                for i in 0..<p.rows {
                    for j in p.columns(ofRow: i) {
                        dense[i * p.columns + Int(j)] = out[k].doubles[at]
                        at += 1
                    }
                }
                assertAllClose(dense, out[k == 2 ? 4 : 3].doubles, rtol: 1e-10, atol: 1e-12, "\(backend) \(name)")
            }
        }
    }
}
