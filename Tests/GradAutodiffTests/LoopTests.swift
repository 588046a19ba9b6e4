import Foundation
import Grad
import TestSupport
import XCTest

/// Loops as graph nodes (issue 15): `scan` and `fori` against their unrolled equivalents on
/// the reference evaluator (values and gradients), finite differences of orders 1 and 2,
/// hand-computed cases, zero-trip loops, nested loops, `grad` inside a body, the canonical
/// text round trip, the errors for bad loops, and the VM and C running loops (every backend on
/// the loop fixtures: ConformanceTests.testFixtures).
final class LoopTests: XCTestCase {
    func module(_ text: String) throws -> Module { try parseModule(text, file: "loop.ir") }
    func last(_ text: String) throws -> Function { try XCTUnwrap(module(text).functions.last) }
    func run(_ f: Function, _ inputs: [String: Tensor]) throws -> [Tensor] {
        try ReferenceEvaluator.run(Differentiator.expand(f), inputs: inputs)
    }
    func vector(_ v: [Double]) -> Tensor { Tensor(v, shape: [v.count])! }

    /// A damped oscillator integrated by explicit Euler: the carry is (position, velocity).
    static let euler = """
    func step(i: i64, x: f64, v: f64, k: f64, dt: f64) {
      a = -k * x - 0.1 * v
      return x + dt * v, v + dt * a, x
    }
    func loop(x0: f64, v0: f64, k: f64) {
      xT, vT, xs = fori(step, 5, carry=(x0, v0), with=(k, 0.1))
      loss = xT * xT + vT + sum(xs)
      return loss, grad(loss, x0, v0, k)
    }

    """

    func unrolledEuler(steps: Int) -> String {
        var body = "  x_0 = x0\n  v_0 = v0\n"
        for t in 0..<steps {
            body += "  a_\(t) = -k * x_\(t) - 0.1 * v_\(t)\n"
            body += "  x_\(t + 1) = x_\(t) + 0.1 * v_\(t)\n  v_\(t + 1) = v_\(t) + 0.1 * a_\(t)\n"
        }
        let xs = (0..<steps).map { "x_\($0)" }.joined(separator: " + ")
        body += "  loss = x_\(steps) * x_\(steps) + v_\(steps) + (\(xs))\n"
        return "func unrolled(x0: f64, v0: f64, k: f64) {\n\(body)  return loss, grad(loss, x0, v0, k)\n}\n"
    }

    func testForiMatchesItsUnrolledEquivalent() throws {
        let inputs = ["x0": Tensor(0.7), "v0": Tensor(-0.3), "k": Tensor(2.5)]
        let looped = try run(last(Self.euler), inputs)
        let unrolled = try run(last(unrolledEuler(steps: 5)), inputs)
        XCTAssertEqual(looped.count, 4)
        for (a, b) in zip(looped, unrolled) {
            // Same operations in the same order on the reference evaluator: equal to the last bit,
            // except for the sum of xs (summed by `sum` here, by a chain of adds there).
            XCTAssertEqual(a.doubles[0], b.doubles[0], accuracy: 1e-14)
        }
    }

    /// `scan` (both directions) and `while` against their unrolled equivalents, written with
    /// calls of the body and `stack`: values bitwise, gradients within 1e-14 (an invariant's
    /// cotangents are summed in another order).
    func testScanAndWhileMatchTheirUnrolledEquivalents() throws {
        let text = """
        func cell(h: f64[2], x: f64[2], w: f64[2,2]) {
          h2 = tanh(h @ w + x)
          return h2, sum(h2 * x)
        }
        func looped(h0: f64[2], xs: f64[3,2], w: f64[2,2]) {
          hT, ys = scan(cell, carry=h0, over=xs, with=w)
          hR, zs = scan(cell, carry=h0, over=xs, with=w, reverse=true)
          loss = sum(hT) + sum(ys * ys) + sum(hR * hT) + sum(zs)
          return hT, ys, hR, zs, grad(loss, h0, xs, w)
        }
        func unrolled(h0: f64[2], xs: f64[3,2], w: f64[2,2]) {
          h1, y0 = cell(h0, xs[0], w)
          h2, y1 = cell(h1, xs[1], w)
          hT, y2 = cell(h2, xs[2], w)
          ys = stack(y0, y1, y2)
          r2, z2 = cell(h0, xs[2], w)
          r1, z1 = cell(r2, xs[1], w)
          hR, z0 = cell(r1, xs[0], w)
          zs = stack(z0, z1, z2)
          loss = sum(hT) + sum(ys * ys) + sum(hR * hT) + sum(zs)
          return hT, ys, hR, zs, grad(loss, h0, xs, w)
        }
        func far(x: f64, n: i64, a: f64) {
          return x > a
        }
        func halve(x: f64, n: i64, a: f64) {
          return x * 0.5 + a * 0.1, n + 1
        }
        func looped_while(x0: f64, a: f64) {
          x, n = while(far, halve, carry=(x0, 0), with=a, max_iterations=10)
          return x, n, grad(x * x, x0, a)
        }
        func unrolled_while(x0: f64, a: f64) {
          x1, n1 = halve(x0, 0, a)
          x2, n2 = halve(x1, n1, a)
          x, n = halve(x2, n2, a)
          return x, n, grad(x * x, x0, a)
        }

        """
        let m = try module(text)
        func function(_ name: String) throws -> Function { try XCTUnwrap(m.functions.first { $0.name == name }) }
        let inputs = ["h0": vector([0.3, -0.2]), "xs": Tensor.random(TensorType(.f64, [3, 2]), seed: 9),
                      "w": Tensor.random(TensorType(.f64, [2, 2]), seed: 10)]
        // x0 = 5, a = 1: 5 → 2.6 → 1.4 → 0.8, below a after three steps.
        let whileInputs = ["x0": Tensor(5.0), "a": Tensor(1.0)]
        for (loop, flat, args) in [("looped", "unrolled", inputs), ("looped_while", "unrolled_while", whileInputs)] {
            let a = try run(function(loop), args)
            let b = try run(function(flat), args)
            XCTAssertEqual(a.count, b.count)
            let values = loop == "looped" ? 4 : 2
            for (k, (x, y)) in zip(a, b).enumerated() {
                XCTAssertEqual(x.shape, y.shape, "\(loop) output \(k)")
                if k < values {
                    XCTAssertEqual(x.doubles.map(\.bitPattern), y.doubles.map(\.bitPattern), "\(loop) output \(k)")
                } else {
                    for (p, q) in zip(x.doubles, y.doubles) { XCTAssertEqual(p, q, accuracy: 1e-14 * max(1, abs(q)), "\(loop) output \(k)") }
                }
            }
        }
        XCTAssertEqual(try run(function("looped_while"), whileInputs)[1], Tensor(i64: 3))
    }

    func testScanHandComputed() throws {
        // Running product: c' = c * x_t, y_t = c. With c0 = 2, xs = [3, 0, 5]: cT = 0,
        // ys = [2, 6, 0]; loss = cT + sum(ys) = 8. d/dc0 = x0·x1·x2 + 1 + x0 + x0·x1 = 0 + 1 + 3 + 0;
        // d/dx = [c0·x1·x2 + c0 + c0·x1, c0·x0·x2 + c0·x0, c0·x0·x1] = [2, 30 + 6, 0] — the
        // cotangent of the final carry is exactly 0 at x2 = 0 and the gradient still flows.
        let text = """
        func cell(c: f64, x: f64) {
          return c * x, c
        }
        func f(c0: f64, xs: f64[3]) {
          cT, ys = scan(cell, carry=(c0), over=(xs))
          loss = cT + sum(ys)
          return loss, ys, grad(loss, c0, xs)
        }

        """
        let out = try run(last(text), ["c0": Tensor(2), "xs": vector([3, 0, 5])])
        XCTAssertEqual(out[0].doubles, [8])
        XCTAssertEqual(out[1].doubles, [2, 6, 0])
        XCTAssertEqual(out[2].doubles, [4])
        XCTAssertEqual(out[3].doubles, [2, 36, 0])
    }

    func testReverseScanAndZeroTrips() throws {
        let text = """
        func cell(c: f64, x: f64) {
          return c * 10 + x, c
        }
        func f(xs: f64[3], none: f64[0]) {
          a, ys = scan(cell, carry=(0), over=(xs), reverse=true)
          b, zs = scan(cell, carry=(1.5), over=(none))
          return a, ys, b, zs, grad(a + b, xs)
        }

        """
        let out = try run(last(text), ["xs": vector([1, 2, 3]), "none": vector([])])
        XCTAssertEqual(out[0].doubles, [321])       // from the end: 3, 32, 321
        XCTAssertEqual(out[1].doubles, [32, 3, 0])  // ys[t] is the carry before step t
        XCTAssertEqual(out[2].doubles, [1.5])       // no steps: the carry passes through
        XCTAssertEqual(out[3].shape, [0])
        XCTAssertEqual(out[4].doubles, [1, 10, 100])
    }

    func testFiniteDifferencesOfOrdersOneAndTwo() throws {
        let text = """
        func cell(h: f64[3], x: f64[2], w: f64[2,3], u: f64[3,3]) {
          h2 = tanh(x @ w + h @ u)
          return h2, sum(h2 * h2)
        }
        func rnn(h0: f64[3], xs: f64[4,2], w: f64[2,3], u: f64[3,3]) {
          hT, ys = scan(cell, carry=(h0), over=(xs), with=(w, u))
          loss = sum(ys) + sum(sin(hT))
          return grad(loss, h0, xs, w, u), hessian(loss, h0), hessian(loss, w)
        }

        """
        let f = try last(text)
        let inputs = ["h0": Tensor.random(TensorType(.f64, [3]), seed: 1), "xs": Tensor.random(TensorType(.f64, [4, 2]), seed: 2),
                      "w": Tensor.random(TensorType(.f64, [2, 3]), seed: 3), "u": Tensor.random(TensorType(.f64, [3, 3]), seed: 4)]
        let checks = try GradientChecker.check(f, inputs: inputs)
        XCTAssertEqual(checks.count, 6)
        for c in checks { XCTAssertTrue(c.passed, "\(c.label): \(c.maxAbsError) \(c.note ?? "")") }
    }

    /// Orders 1 and 2 through a reverse scan, in f32 (checked against f64 finite differences
    /// with the f32 tolerances) and in f64.
    func testFiniteDifferencesOfAReverseScanInBothFloatTypes() throws {
        for dtype in ["f32", "f64"] {
            let text = """
            func cell(c: \(dtype)[2], x: \(dtype)[2], a: \(dtype)) {
              c2 = sin(c * a) + x * c
              return c2, sum(exp(c2 * 0.5))
            }
            func f(c0: \(dtype)[2], xs: \(dtype)[3,2], a: \(dtype)) {
              cT, ys = scan(cell, carry=c0, over=xs, with=a, reverse=true)
              loss = sum(ys * ys) + sum(cT)
              return grad(loss, c0, xs, a), hessian(loss, a), hessian(loss, c0)
            }

            """
            let t = dtype == "f32" ? DType.f32 : .f64
            let inputs = ["c0": Tensor.random(TensorType(t, [2]), seed: 11), "xs": Tensor.random(TensorType(t, [3, 2]), seed: 12),
                          "a": Tensor.random(TensorType(t), seed: 13)]
            var options = CheckOptions()
            if t == .f32 {
                options.relativeTolerance = 1e-2
                options.absoluteTolerance = 1e-3
            }
            let checks = try GradientChecker.check(try last(text), inputs: inputs, options: options)
            XCTAssertEqual(checks.count, 5)
            for c in checks { XCTAssertTrue(c.passed, "\(dtype) \(c.label): \(c.maxAbsError) \(c.note ?? "")") }
        }
    }

    func testIndexedIntegerCarryAndGradInsideBody() throws {
        // A gradient-descent step inside the loop: x ← x − 0.1·∂/∂x (x − target)², and an i64
        // counter carried along (no cotangent). After n steps x = t + (x0 − t)·0.8ⁿ.
        let text = """
        func descend(i: i64, x: f64, count: i64, target: f64) {
          e = (x - target)^2
          g = grad(e, x)
          return x - 0.1 * g, count + i
        }
        func f(x0: f64, target: f64) {
          xT, c = fori(descend, 3, carry=(x0, 0), with=(target))
          return xT, c, grad(xT, x0), grad(xT, target)
        }

        """
        let out = try run(last(text), ["x0": Tensor(5), "target": Tensor(1)])
        XCTAssertEqual(out[0].doubles[0], 1 + 4 * 0.512, accuracy: 1e-13)
        XCTAssertEqual(out[1].doubles, [3])  // 0 + 1 + 2
        XCTAssertEqual(out[2].doubles[0], 0.512, accuracy: 1e-13)
        XCTAssertEqual(out[3].doubles[0], 1 - 0.512, accuracy: 1e-13)
        let checks = try GradientChecker.check(try last(text), inputs: ["x0": Tensor(5), "target": Tensor(1)])
        for c in checks { XCTAssertTrue(c.passed, c.label) }
    }

    func testNestedLoops() throws {
        let text = """
        func inner(c: f64, x: f64) {
          return c * x + 1
        }
        func outer(c: f64, row: f64[2]) {
          c2 = scan(inner, carry=(c), over=(row))
          return c2
        }
        func f(c0: f64, m: f64[3,2]) {
          cT = scan(outer, carry=(c0), over=(m))
          return cT, grad(cT, c0, m), hessian(cT, c0)
        }

        """
        let f = try last(text)
        let m = Tensor.random(TensorType(.f64, [3, 2]), seed: 7)
        let out = try run(f, ["c0": Tensor(0.5), "m": m])
        var c = 0.5, dc = 1.0
        for x in m.doubles { c = c * x + 1; dc *= x }
        XCTAssertEqual(out[0].doubles[0], c, accuracy: 1e-14)
        XCTAssertEqual(out[1].doubles[0], dc, accuracy: 1e-14)
        XCTAssertEqual(out[3].doubles[0], 0)  // cT is affine in c0
        for check in try GradientChecker.check(f, inputs: ["c0": Tensor(0.5), "m": m]) { XCTAssertTrue(check.passed, check.label) }
    }

    func testCanonicalTextRoundTripsLoopsAndTheirGradients() throws {
        let f = try Differentiator.expand(last(Self.euler))
        let text = printFunction(f)
        XCTAssertTrue(text.contains("body 0 = func step"), text)
        let reparsed = try XCTUnwrap(parseModule(text, file: "canonical.ir").functions.first)
        XCTAssertEqual(printFunction(reparsed), text)
        XCTAssertEqual(reparsed.nodes, f.nodes)
        XCTAssertEqual(reparsed.bodies.map(\.nodes), f.bodies.map(\.nodes))
        XCTAssertEqual(reparsed.bodies.map(\.outputs), f.bodies.map(\.outputs))
        let inputs = ["x0": Tensor(0.7), "v0": Tensor(-0.3), "k": Tensor(2.5)]
        XCTAssertEqual(try ReferenceEvaluator.run(reparsed, inputs: inputs), try ReferenceEvaluator.run(f, inputs: inputs))
        try verifyFunction(f)
    }

    /// A loop with no operands at all (a `fori` whose body only reads the step number) prints
    /// as `scan(body=0, …)` and parses back.
    func testLoopWithoutOperandsRoundTrips() throws {
        let text = "func sq(i: i64) {\n  return cast(i * i, dtype=f64)\n}\nfunc f(x: f64) {\n  ys = fori(sq, 4)\n  return sum(ys) * x, grad(sum(ys) * x, x)\n}\n"
        let f = try Differentiator.expand(last(text))
        let printed = printFunction(f)
        let reparsed = try XCTUnwrap(parseModule(printed, file: "canonical.ir").functions.first)
        XCTAssertEqual(printFunction(reparsed), printed)
        XCTAssertEqual(try ReferenceEvaluator.run(reparsed, inputs: ["x": Tensor(2)]).map(\.doubles), [[28], [14]])
    }

    /// Bodies nested in the canonical form count toward the nesting limit: a deep file is a
    /// located error, not a stack overflow.
    func testDeeplyNestedBodiesAreRefused() throws {
        var text = "return 1.0\n"
        for _ in 0..<400 { text = "body 0 = func b() {\n\(text)}\nreturn 1.0\n" }
        XCTAssertThrowsError(try parseModule("func f() {\n\(text)}\n", file: "deep.ir")) { e in
            XCTAssertTrue("\(e)".contains("nested more than"), "\(e)")
        }
    }

    /// Two `result` nodes of the same value (the canonical text allows them) both send their
    /// cotangent: y = 2·c0·Πx, dy/dc0 = 2·Πx.
    func testRepeatedResultsAddTheirCotangents() throws {
        let text = """
        func f(c0: f64, xs: f64[3]) -> (f64, f64) {
          body 0 = func cell(c: f64, x: f64) -> (f64) {
            %2: f64 = mul(c, x)
            return %2 as out0
          }
          %2: bool[0] = scan(c0, xs, body=0, carries=1, over=1, length=3)
          %3: f64 = result(%2, index=0)
          %4: f64 = result(%2, index=0)
          %5: f64 = add(%3, %4)
          %6: f64 = grad(%5, c0)
          return %5 as y, %6 as g
        }

        """
        let out = try run(last(text), ["c0": Tensor(1), "xs": vector([2, 3, 4])])
        XCTAssertEqual(out.map(\.doubles), [[48], [48]])
    }

    /// An f32 carry and an f64 per-step output: the backward body sums its terms in f64 and
    /// each gradient keeps its own type. ys[t] = x[t]·c0·2ᵗ, so d sum(ys)/dxs = c0·[1, 2, 4].
    func testMixedFloatTypesDifferentiate() throws {
        let text = """
        func mix(c: f32, x: f64) {
          return c * 2, x * cast(c, dtype=f64)
        }
        func f(c0: f32, xs: f64[3]) {
          cT, ys = scan(mix, carry=c0, over=xs)
          return grad(sum(ys), xs), grad(sum(ys), c0)
        }

        """
        let out = try run(last(text), ["c0": Tensor(f32: 1.5), "xs": vector([1, 1, 1])])
        XCTAssertEqual(out[0].doubles, [1.5, 3, 6])
        XCTAssertEqual(out[1].type, TensorType(.f32))
        XCTAssertEqual(out[1].doubles, [7])  // Σ x[t]·2ᵗ
    }

    /// Calling a function that holds a loop copies its bodies into the caller once, however
    /// often it is called.
    func testCallsShareTheCalleesBodies() throws {
        let text = "func cell(c: f64, x: f64) {\n  return c * x\n}\nfunc product(xs: f64[3]) {\n  return scan(cell, carry=1, over=xs)\n}\nfunc f(xs: f64[3]) {\n  return product(xs) + product(xs * 2)\n}\n"
        let f = try last(text)
        XCTAssertEqual(f.bodies.count, 1)
        XCTAssertEqual(try run(f, ["xs": vector([1, 2, 3])]).map(\.doubles), [[6 + 48]])
    }

    func testOptimizedLoopGradientAgrees() throws {
        let f = try Differentiator.expand(last(Self.euler))
        let inputs = ["x0": Tensor(0.7), "v0": Tensor(-0.3), "k": Tensor(2.5)]
        let optimized = try optimize(f)
        let (a, b) = (try ReferenceEvaluator.run(f, inputs: inputs), try ReferenceEvaluator.run(optimized, inputs: inputs))
        for (x, y) in zip(a, b) { XCTAssertEqual(x.doubles[0], y.doubles[0], accuracy: 1e-13) }
        // The untaped forward body, which no loop runs after differentiation, is dropped; the
        // bodies themselves are optimized (the backward body's `add(acc, 0)`-free form is not
        // asserted: only that it is smaller and still verifies).
        XCTAssertEqual(f.bodies.count, 3)
        XCTAssertEqual(optimized.bodies.count, 2)
        XCTAssertLessThanOrEqual(optimized.bodies[1].nodes.count, f.bodies[2].nodes.count)
        try verifyFunction(optimized)
    }

    /// The VM and C run loops as loops: with `portable`, their values and gradients are bitwise
    /// the reference evaluator's on the looped graph, and within 1e-14 of the unrolled graph's
    /// (the reference itself differs from the unrolled graph only in how `sum(xs)` adds up).
    /// The compiled code does not grow with the trip count.
    func testBackendsRunLoopsLikeTheUnrolledGraph() throws {
        let inputs = ["x0": Tensor(0.7), "v0": Tensor(-0.3), "k": Tensor(2.5)]
        let looped = try last(Self.euler)
        let reference = try compile(looped, backend: .reference)(inputs)
        let unrolled = try run(last(unrolledEuler(steps: 5)), inputs)
        let options = CompileOptions(portable: true)
        for backend in [Backend.bytecode, .c] {
            let got = try compile(looped, backend: backend, options: options)(inputs)
            XCTAssertEqual(got.count, 4)
            for (k, (g, r)) in zip(got, reference).enumerated() {
                XCTAssertEqual(g.doubles[0].bitPattern, r.doubles[0].bitPattern, "\(backend) output \(k)")
            }
            for (g, u) in zip(got, unrolled) { XCTAssertEqual(g.doubles[0], u.doubles[0], accuracy: 1e-14) }
        }
        let long = try last(Self.euler.replacingOccurrences(of: "fori(step, 5,", with: "fori(step, 50000,"))
        let short = try BytecodeProgram(function: optimize(Differentiator.expand(looped)))
        let program = try BytecodeProgram(function: optimize(Differentiator.expand(long)))
        XCTAssertEqual(program.instructions.count, short.instructions.count)
        XCTAssertLessThan(program.serialized().count, short.serialized().count + 64, "the .gbc holds the trip count, not the steps")
    }

    /// Canonical text may name one value of a loop twice (`-O0` keeps both nodes): the second
    /// shares the first's buffer on the VM and in C (it was left unwritten).
    func testRepeatedResultsShareABufferOnEveryBackend() throws {
        let text = """
        func m(h0: f64[2], xs: f64[3,2]) {
          body 0 = func cell(h: f64[2], x: f64[2]) {
            %2: f64[2] = mul(h, x)
            %3: f64 = const(dtype=f64, value=1)
            %4: f64[2] = add(%2, %3)
            return %4, h
          }
          %2: bool[0] = scan(h0, xs, body=0, carries=1, over=1, length=3)
          %3: f64[2] = result(%2, index=0)
          %4: f64[2] = result(%2, index=0)
          %5: f64[2] = mul(%3, %4)
          return %5 as sq, %4 as b
        }

        """
        let f = try last(text)
        let inputs = ["h0": vector([2, -1]), "xs": Tensor([0.5, 2, -1, 0.25, 3, 1], shape: [3, 2])!]
        // h: (2, −1) → (2, −1) → (−1, 0.75) → (−2, 1.75).
        let expected = [vector([4, 3.0625]), vector([-2, 1.75])]
        var options = CompileOptions(portable: true)
        options.optimizer.level = 0
        for backend in Backend.allCases {
            XCTAssertEqual(try compile(f, backend: backend, options: options)(inputs), expected, "\(backend)")
        }
    }

    // MARK: optimizer

    /// The optimizer drops what a loop's live values do not need — an invariant nobody reads,
    /// a per-step output nobody reads, a carry only itself depends on — and hoists the body's
    /// invariant computation (here `transpose(u)` and `exp(sum(u))`) out of the loop; values and
    /// gradients are bitwise the unoptimized graph's.
    func testOptimizerPrunesLoopsAndHoistsInvariants() throws {
        let text = """
        func cell(h: f64[3], junk: f64, x: f64[2], w: f64[2,3], u: f64[3,3], unused: f64) {
          h2 = tanh(x @ w + h @ transpose(u, perm=[1,0]) * exp(sum(u)))
          return h2, junk * 3.0 + 1.0, sum(h2), h * 2
        }
        func f(h0: f64[3], xs: f64[4,2], w: f64[2,3], u: f64[3,3]) {
          hT, jT, ys, zs = scan(cell, carry=(h0, 0.5), over=xs, with=(w, u, 1.0))
          loss = sum(ys)
          return loss, grad(loss, h0, xs, w, u)
        }

        """
        let f = try Differentiator.expand(last(text))
        let optimized = try optimize(f)
        let loops = optimized.nodes.filter { $0.op == .scan }
        XCTAssertEqual(loops.count, 2, "the forward and the backward loop")
        let forward = try XCTUnwrap(loops.first)
        let signature = try ScanSignature(forward.attrs, operandCount: forward.inputs.count)
        XCTAssertEqual(signature.carries, 1, "the junk carry is dropped")
        let body = optimized.bodies[signature.body]
        XCTAssertFalse(body.nodes.contains { $0.op == .transpose || $0.op == .exp }, "hoisted:\n\(printFunction(optimized))")
        XCTAssertEqual(body.outputs.count, 3, "h2, sum(h2) and the tape; not h * 2")
        XCTAssertFalse(body.parameters.contains { $0.name == "unused" || $0.name == "u" })
        let inputs = ["h0": vector([0.1, -0.2, 0.3]), "xs": Tensor.random(TensorType(.f64, [4, 2]), seed: 1),
                      "w": Tensor.random(TensorType(.f64, [2, 3]), seed: 2), "u": Tensor.random(TensorType(.f64, [3, 3]), seed: 3)]
        var noOpt = CompileOptions()
        noOpt.optimizer.level = 0
        let expected = try compile(f, backend: .reference, options: noOpt)(inputs)
        for backend in Backend.allCases {
            let got = try compile(optimized, backend: backend, options: CompileOptions(portable: true))(inputs)
            XCTAssertEqual(got.map { $0.doubles.map(\.bitPattern) }, expected.map { $0.doubles.map(\.bitPattern) }, "\(backend)")
        }
    }

    /// An index op is not hoisted: a loop that runs no step must not fail on it.
    func testIndexOpsAreNotHoisted() throws {
        let text = """
        func step(i: i64, c: f64, xs: f64[3], k: i64) {
          return c + take(xs, k, axis=0)
        }
        func f(xs: f64[3]) {
          return fori(step, 0, carry=1.0, with=(xs, 7))
        }

        """
        for backend in Backend.allCases {
            XCTAssertEqual(try compile(last(text), backend: backend)(["xs": vector([1, 2, 3])]), [Tensor(1.0)], "\(backend)")
        }
    }

    /// An index out of range inside a loop body is reported at the body's node, on the
    /// reference evaluator and the VM (C returns its status: docs/c-abi.md).
    func testErrorsInABodyNameTheBodysLine() throws {
        let text = """
        func step(i: i64, c: f64, xs: f64[3], k: i64) {
          return c + take(xs, k + i, axis=0)
        }
        func f(xs: f64[3], k: i64) {
          return fori(step, 2, carry=1.0, with=(xs, k))
        }

        """
        for backend in [Backend.reference, .bytecode] {
            XCTAssertThrowsError(try compile(last(text), backend: backend)(["xs": vector([1, 2, 3]), "k": Tensor(i64: 2)]), "\(backend)") { e in
                XCTAssertTrue("\(e)".hasPrefix("2:14:"), "\(backend): \(e)")
                XCTAssertTrue("\(e)".contains("index 3"), "\(backend): \(e)")
            }
        }
    }

    // MARK: checkpoint=

    /// `checkpoint=k` runs the same steps in the same order as nested loops: values and the
    /// gradients of carries and sequences bitwise the plain loop's (those of invariants, and
    /// second order, within 1e-14: summed per segment), for `fori` with a remainder
    /// (23 = 4·5 + 3), a reverse `scan` with sequences and per-step outputs, and `true` (k = ⌈√T⌉);
    /// on every backend.
    func testCheckpointedLoopsEqualThePlainLoop() throws {
        let text = """
        func step(i: i64, x: f64, v: f64, k: f64) {
          a = -k * x - 0.1 * v + 0.01 * cast(i, dtype=f64)
          return x + 0.01 * v, v + 0.01 * a, x
        }
        func cell(h: f64[2], x: f64[2], w: f64[2,2]) {
          h2 = tanh(h @ w + x)
          return h2, sum(h2 * x)
        }
        func f(x0: f64, v0: f64, k: f64, h0: f64[2], xs: f64[11,2], w: f64[2,2]) {
          xT, vT, path = fori(step, 23, carry=(x0, v0), with=k CK1)
          hT, ys = scan(cell, carry=h0, over=xs, with=w, reverse=true CK2)
          loss = xT * xT + vT + sum(path * path) + sum(hT) + sum(ys * ys)
          return loss, path, ys, grad(loss, x0, v0, k, h0, xs, w), hessian(loss, k)
        }

        """
        let inputs = ["x0": Tensor(0.7), "v0": Tensor(-0.3), "k": Tensor(2.5), "h0": vector([0.2, -0.4]),
                      "xs": Tensor.random(TensorType(.f64, [11, 2]), seed: 5), "w": Tensor.random(TensorType(.f64, [2, 2]), seed: 6)]
        let plain = try last(text.replacingOccurrences(of: " CK1", with: "").replacingOccurrences(of: " CK2", with: ""))
        let expected = try compile(plain, backend: .reference)(inputs)
        for (ck1, ck2) in [(", checkpoint=5", ", checkpoint=3"), (", checkpoint=true", ", checkpoint=true"), (", checkpoint=1", ", checkpoint=11")] {
            let f = try last(text.replacingOccurrences(of: " CK1", with: ck1).replacingOccurrences(of: " CK2", with: ck2))
            if ck1.contains("5") { XCTAssertGreaterThan(f.bodies.count, plain.bodies.count, "nested loops") }
            for backend in Backend.allCases {
                let got = try compile(f, backend: backend, options: CompileOptions(portable: true))(inputs)
                let reference = backend == .reference ? expected : try compile(plain, backend: backend, options: CompileOptions(portable: true))(inputs)
                XCTAssertEqual(got.count, reference.count)
                for (k, (g, e)) in zip(got, reference).enumerated() {
                    // An invariant's gradient (w, k and the hessian in k) is summed per segment,
                    // then over segments: the last bits may differ; everything else is bitwise.
                    if [5, 8, 9].contains(k) {
                        for (a, b) in zip(g.doubles, e.doubles) { XCTAssertEqual(a, b, accuracy: 1e-14 * max(1, abs(b)), "\(ck1) \(backend) output \(k)") }
                    } else {
                        XCTAssertEqual(g.doubles.map(\.bitPattern), e.doubles.map(\.bitPattern), "\(ck1) \(ck2) \(backend) output \(k)")
                    }
                }
            }
        }
    }

    /// The point of checkpointing: the memory of reverse mode through T steps grows like
    /// T/k + k carries instead of T (the VM arena holds the tape).
    func testCheckpointingBoundsTheTape() throws {
        func arena(_ checkpoint: String) throws -> Int {
            let text = """
            func cell(i: i64, h: f64[16], w: f64) {
              return tanh(h * w + 0.1)
            }
            func f(h0: f64[16], w: f64) {
              hT = fori(cell, 10000, carry=h0, with=w\(checkpoint))
              return grad(sum(hT), h0, w)
            }

            """
            return try BytecodeProgram(function: optimize(Differentiator.expand(last(text)))).arenaBytes
        }
        let (plain, checkpointed) = (try arena(""), try arena(", checkpoint=true"))
        XCTAssertGreaterThan(plain, 10000 * 16 * 8)           // the tape: every carry
        XCTAssertLessThan(checkpointed, 3 * 100 * 16 * 8 + 8192)  // ≈ 2·√T carries and change
    }

    // MARK: while

    /// Newton's iteration for √a until |x² − a| ≤ 1e-12, counting its steps.
    static let newton = """
    func far(x: f64, n: i64, a: f64) {
      return abs(x * x - a) > 1e-12
    }
    func step(x: f64, n: i64, a: f64) {
      return 0.5 * (x + a / x), n + 1
    }
    func f(a: f64) {
      r, n = while(far, step, carry=(a, 0), with=a, max_iterations=50)
      return r, n, grad(r, a), hessian(r, a)
    }

    """

    /// Hand-computed: from x₀ = 2 Newton's iterates are 1.5, 1.41666…, 1.414215686…, then
    /// √2 to the last bit after 5 steps (the 5th leaves |x² − 2| at 4.4e-16); the derivative of
    /// the converged value is that of √a, 1/(2√a), and the second derivative −1/(4a^{3/2}) — to
    /// the accuracy of the converged iterate, since the iteration's derivative converges too.
    func testWhileHandComputed() throws {
        let out = try run(last(Self.newton), ["a": Tensor(2.0)])
        XCTAssertEqual(out[0].doubles[0], 2.0.squareRoot(), accuracy: 4e-16)
        XCTAssertEqual(out[1], Tensor(i64: 5))
        XCTAssertEqual(out[2].doubles[0], 0.5 / 2.0.squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(out[3].doubles[0], -0.25 / (2.0 * 2.0.squareRoot()), accuracy: 1e-14)
        // a = 1: the condition fails at once (|1 − 1| = 0): zero steps, r = a, dr/da = 1 and
        // d²r/da² = 0 exactly (the cotangent never meets the masked body's).
        let one = try run(last(Self.newton), ["a": Tensor(1.0)])
        XCTAssertEqual(one[0], Tensor(1.0))
        XCTAssertEqual(one[1], Tensor(i64: 0))
        XCTAssertEqual(one[2], Tensor(1.0))
        XCTAssertEqual(one[3], Tensor(0.0))
    }

    /// A trip count that depends on the input — halving until below 1 — checked by finite
    /// differences of orders 1 and 2 where the count is locally constant, and the bound:
    /// at max_iterations the loop stops with the carry it has (no error; the count says so).
    func testWhileWithAnInputDependentTripCount() throws {
        func text(_ bound: Int) -> String {
            """
            func big(x: f64, n: i64, k: f64) {
              return x >= 1
            }
            func halve(x: f64, n: i64, k: f64) {
              return x * k + sin(x) * 0.01, n + 1
            }
            func f(x0: f64, k: f64) {
              r, n = while(big, halve, carry=(x0, 0), with=k, max_iterations=\(bound))
              return r * r, n, grad(r * r, x0, k), hessian(r * r, x0)
            }

            """
        }
        let f = try last(text(100))
        let inputs = ["x0": Tensor(13.7), "k": Tensor(0.5)]
        let out = try run(f, inputs)
        XCTAssertEqual(out[1], Tensor(i64: 4))
        let checks = try GradientChecker.check(f, inputs: inputs)
        XCTAssertEqual(checks.count, 3)
        for c in checks { XCTAssertTrue(c.passed, "\(c.label): \(c.maxAbsError) \(c.note ?? "")") }
        XCTAssertEqual(try run(f, ["x0": Tensor(40.0), "k": Tensor(0.5)])[1], Tensor(i64: 6))
        // Bound reached: 2 steps of 4; the same as fori(…, 2) of the body.
        let bounded = try run(last(text(2)), inputs)
        XCTAssertEqual(bounded[1], Tensor(i64: 2))
        let x1 = 13.7 * 0.5 + sin(13.7) * 0.01
        let x2 = x1 * 0.5 + sin(x1) * 0.01
        XCTAssertEqual(bounded[0].doubles[0], x2 * x2, accuracy: 1e-13)
        // max_iterations=0 runs nothing.
        XCTAssertEqual(try run(last(text(0)), inputs)[0].doubles[0], 13.7 * 13.7, accuracy: 1e-12)
    }

    /// The body never runs on a state where the condition fails: an index guarded by the
    /// condition stays in range (a masked loop would read xs[3]), on every backend.
    func testWhileBodyRunsOnlyWhereTheConditionHolds() throws {
        let text = """
        func more(i: i64, acc: f64, xs: f64[3]) {
          return i < 3
        }
        func accumulate(i: i64, acc: f64, xs: f64[3]) {
          return i + 1, acc + take(xs, i, axis=0) * take(xs, i, axis=0)
        }
        func f(xs: f64[3]) {
          i, acc = while(more, accumulate, carry=(0, 0.0), with=xs, max_iterations=5)
          return acc, i, grad(acc, xs)
        }

        """
        let f = try last(text)
        for backend in Backend.allCases {
            let out = try compile(f, backend: backend)(["xs": vector([1, -2, 0.5])])
            XCTAssertEqual(out, [Tensor(5.25), Tensor(i64: 3), vector([2, -4, 1])], "\(backend)")
        }
    }

    /// `while` on every backend, bitwise with `portable`; the canonical text round-trips.
    func testWhileOnEveryBackendAndRoundTrip() throws {
        let f = try last(Self.newton)
        let inputs = ["a": Tensor(3.0)]
        let reference = try compile(f, backend: .reference)(inputs)
        for backend in [Backend.bytecode, .c] {
            XCTAssertEqual(try compile(f, backend: backend, options: CompileOptions(portable: true))(inputs), reference, "\(backend)")
        }
        let m = try module(Self.newton)
        let text = printModule(m)
        XCTAssertEqual(printModule(try parseModule(text, file: "canonical.ir")), text)
    }

    static let whileParts = "func c(x: f64) {\n  return x > 0\n}\nfunc b(x: f64) {\n  return x - 1\n}\n"

    /// Bad loops: each a located error naming what was expected, never a crash.
    func testBadLoopsAreLocatedErrors() throws {
        let cell = "func cell(c: f64, x: f64) {\n  return c * x, c\n}\n"
        let cases: [(String, String)] = [
            ("func f(xs: f64[3]) {\n  a, b = scan(nothing, carry=(0), over=(xs))\n  return a\n}\n", "loop body"),
            ("func f(xs: f64[3]) {\n  a, b = scan(later, carry=(0), over=(xs))\n  return a\n}\nfunc later(c: f64, x: f64) {\n  return c, c\n}\n", "later"),
            (cell + "func f(xs: f64[3]) {\n  a, b = scan(cell, carry=(0, 1), over=(xs))\n  return a\n}\n", "parameter"),
            (cell + "func f(xs: f64[3]) {\n  a, b = scan(cell, carry=(0))\n  return a\n}\n", "over="),
            (cell + "func f(xs: f64[3]) {\n  a, b = scan(cell, over=(xs))\n  return a\n}\n", "parameter"),
            (cell + "func f(xs: f64[3,2]) {\n  a, b = scan(cell, carry=(0), over=(xs))\n  return a\n}\n", "sequence row"),
            (cell + "func f(xs: i64[3]) {\n  a, b = scan(cell, carry=(0), over=(xs))\n  return a\n}\n", "sequence row"),
            (cell + "func f(x: f64) {\n  a, b = scan(cell, carry=(0), over=(x))\n  return a\n}\n", "axis"),
            ("func cell(c: f64, x: f64) {\n  return sum(c * x, axes=[]), c\n}\nfunc g(c: f64[2], x: f64) {\n  return sum(c), c\n}\nfunc f(xs: f64[3]) {\n  a, b = scan(g, carry=(zeros(shape=[2])), over=(xs))\n  return a\n}\n", "keeps its type"),
            (cell + "func f(xs: f64[3]) {\n  a = scan(cell, carry=(0), over=(xs))\n  return a\n}\n", "2 values"),
            (cell + "func f(xs: f64[3]) {\n  a, b = scan(cell, carry=(0), over=(xs), bogus=(1))\n  return a\n}\n", "bogus"),
            (cell + "func f(xs: f64[3]) {\n  a, b = scan(cell, carry=(0), over=(xs), reverse=2)\n  return a\n}\n", "true or false"),
            ("func cell(i: i64, c: f64) {\n  return c\n}\nfunc f(x: f64) {\n  a = fori(cell, 2.5, carry=(x))\n  return a\n}\n", "integer"),
            ("func cell(i: i64, c: f64) {\n  return c\n}\nfunc f(x: f64) {\n  a = fori(cell, n, carry=(x))\n  return a\n}\n", "trip count"),
            ("func cell(i: f64, c: f64) {\n  return c\n}\nfunc f(x: f64) {\n  a = fori(cell, 3, carry=(x))\n  return a\n}\n", "step number"),
            ("func cell(i: i64, c: f64) {\n  return c\n}\nfunc f(x: f64) {\n  a = fori(cell, 3, carry=(x), over=(x))\n  return a\n}\n", "over"),
            ("func cell(i: i64, c: f64) {\n  return c\n}\nfunc f(x: f64) {\n  a = fori(cell, -1, carry=(x))\n  return a\n}\n", "trip count"),
            ("func fori(c: f64) {\n  return c\n}\n", "not an op"),
            ("func f(x: f64) {\n  %1: bool[0] = scan(x, body=0, carries=1, over=0, length=2)\n  return x\n}\n", "body"),
            ("func f(x: f64) {\n  %1: f64 = result(x, index=0)\n  return x\n}\n", "scan node"),
            (Self.whileParts + "func f(x: f64) {\n  a = while(c, b, carry=x)\n  return a\n}\n", "max_iterations"),
            (Self.whileParts + "func f(x: f64) {\n  a = while(c, b, carry=x, max_iterations=2.5)\n  return a\n}\n", "max_iterations"),
            (Self.whileParts + "func f(x: f64) {\n  a = while(c, b, carry=x, max_iterations=-1)\n  return a\n}\n", "max_iterations"),
            (Self.whileParts + "func f(x: f64) {\n  a = while(b, b, carry=x, max_iterations=3)\n  return a\n}\n", "one bool"),
            (Self.whileParts + "func f(x: f64) {\n  a = while(c, nothing, carry=x, max_iterations=3)\n  return a\n}\n", "the body of while"),
            (Self.whileParts + "func f(x: f64) {\n  a = while(c, b, carry=(x, x), max_iterations=3)\n  return a\n}\n", "parameters"),
            (Self.whileParts + "func g(x: f64) {\n  return x, x\n}\nfunc f(x: f64) {\n  a = while(c, g, carry=x, max_iterations=3)\n  return a\n}\n", "new carr"),
            (Self.whileParts + "func f(x: f64) {\n  a = while(c, b, carry=x, max_iterations=3, over=x)\n  return a\n}\n", "over"),
            ("func cell(i: i64, c: f64) {\n  return c\n}\nfunc f(x: f64) {\n  a = fori(cell, 3, carry=(x), checkpoint=0)\n  return a\n}\n", "checkpoint"),
            ("func f(x: f64) {\n  body 0 = func b(c: f64) {\n    return c\n  }\n  %1: bool[0] = scan(x, body=0, carries=1, over=0, length=2, gate=0)\n  return x\n}\n", "gate"),
            ("func f(x: f64) {\n  body 0 = func b(c: f64) {\n    return c\n  }\n  %1: bool[0] = scan(x, body=0, carries=1, over=0, length=2, gate=3)\n  return x\n}\n", "gate"),
            ("func cell(i: i64, c: f64) {\n  return c\n}\nfunc f(x: f64) {\n  a = fori(cell, 3, carry=(x), checkpoint=2.5)\n  return a\n}\n", "checkpoint"),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        for (text, expected) in cases {
            XCTAssertThrowsError(try parseModule(text, file: "bad.ir"), text) { e in
                let message = "\(e)"
                XCTAssertTrue(message.contains("bad.ir:"), "no location: \(message)")
                XCTAssertTrue(message.contains(expected), "expected '\(expected)' in: \(message)\n\(text)")
            }
        }
    }
}
