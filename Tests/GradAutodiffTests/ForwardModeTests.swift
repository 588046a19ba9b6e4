import Grad
import TestSupport
import XCTest

/// Forward mode (issue 18): `jvp`, `hvp` and `jacobian(…, forward=)`, for every op and
/// through loops, against the reverse-mode Jacobian and Hessian (exactly the same conventions)
/// and against finite differences.
final class ForwardModeTests: XCTestCase {
    /// Every op of the every-op table: jvp(out, x₀, v₀, x₁, v₁, …) equals Σ J(out, xₖ)·vₖ from
    /// reverse-mode Jacobians; the jvp, the jvp of a jvp (forward over forward, order 2) and
    /// hvp (forward over reverse, equal to hessian·v) pass finite differences.
    func testEveryOpAgainstReverseModeAndFiniteDifferences() throws {
        var rng = SplitMix64(seed: 7)
        var checked = 0
        for c in OpCases.table() {
            let fb = FunctionBuilder("case")
            var xs: [Value] = []
            var vs: [Value] = []
            var inputs: [String: Tensor] = [:]
            for (k, (shape, range)) in c.operands.enumerated() {
                xs.append(try fb.input("x\(k)", .f64, shape))
                vs.append(try fb.input("v\(k)", .f64, shape))
                inputs["x\(k)"] = Tensor.random(TensorType(.f64, shape), range: range, using: &rng)
                inputs["v\(k)"] = Tensor.random(TensorType(.f64, shape), range: -1...1, using: &rng)
            }
            var labels: [Value] = []
            for (k, shape) in c.labels.enumerated() {
                labels.append(try fb.input("l\(k)", .i64, shape))
                let count = shape.reduce(1, *)
                let data = k < c.labelValues.count ? c.labelValues[k] : (0..<count).map { Int64(($0 * 2 + 1) % 3) }
                inputs["l\(k)"] = try XCTUnwrap(Tensor(.i64(data), shape: shape))
            }
            let out = try c.build(fb, xs, labels)
            guard out.dtype.isFloat else { continue }
            let tangent = try fb.jvp(of: out, wrt: xs, along: vs)
            try fb.output(tangent, "jvp")
            // Σ J(out, xₖ)·vₖ, each Jacobian built by reverse passes.
            var reference: Value?
            for (x, v) in zip(xs, vs) {
                let j = try fb.jacobian(of: out, wrt: x, mode: .reverse).reshaped([out.type.count, x.type.count])
                let term = try j.matmul(v.reshaped([x.type.count, 1])).reshaped(out.shape)
                reference = try reference.map { try $0 + term } ?? term
            }
            try fb.output(XCTUnwrap(reference), "reference")
            // Order 2: forward over forward, and forward over reverse against the Hessian.
            let weights = try fb.input("w", .f64, out.shape)
            inputs["w"] = Tensor.random(out.type, using: &rng)
            let loss = try sum(out * weights)
            try fb.output(fb.jvp(of: sum(tangent * weights), wrt: [xs[0]], along: [vs[0]]), "jvp2")
            let n = xs[0].type.count
            if n <= 12 {
                try fb.output(fb.hvp(of: loss, wrt: xs[0], along: vs[0]), "hvp")
                let h = try fb.hessian(of: loss, wrt: xs[0]).reshaped([n, n])
                try fb.output(h.matmul(vs[0].reshaped([n, 1])).reshaped(xs[0].shape), "hessian_v")
            }
            let values = try evaluate(fb.function, inputs)
            // The same conventions: equal up to rounding (of f32 where the case computes in f32).
            let rtol = c.f32Inside ? 1e-5 : 1e-9
            assertAllClose(values[0].doubles, values[1].doubles, rtol: rtol, atol: 1e-12, "\(c.name): jvp vs jacobian·v")
            if n <= 12 {
                assertAllClose(values[3].doubles, values[4].doubles, rtol: rtol, atol: 1e-12, "\(c.name): hvp vs hessian·v")
            }
            // Finite differences of the directional requests (the Jacobians have their own table).
            for r in try GradientChecker.check(fb.function, inputs: inputs) where [.jvp, .hvp].contains(fb.function.nodes[r.request].op) {
                XCTAssertTrue(r.passed, "\(c.name): \(r.label) abs \(r.maxAbsError) rel \(r.maxRelError) \(r.note ?? "")")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 300)
    }

    /// Exact cases, worked by hand, including points where a value, a slope or a tangent is
    /// exactly zero (strong zeros: a zero tangent stays zero through an infinite slope).
    func testHandComputedCases() throws {
        let source = """
        func f(x: f64, v: f64, a: f64[2], va: f64[2], m: f64[2,2], vm: f64[2,2]) {
          return jvp(x * x * x, x, v) as cube, jvp(sqrt(x), x, v) as root, jvp(relu(x), x, v) as r, jvp(abs(x), x, v) as ab, jvp(select(x > 0, log(x), 0), x, v) as guarded, jvp(max(a), a, va) as tie, jvp(m @ m, m, vm) as mm, jvp(sum(exp(a)), a, va) as s, hvp(x * x * x, x, v) as h
        }
        """
        let f = try XCTUnwrap(parseModule(source).functions.first)
        func run(x: Double, v: Double, a: [Double], va: [Double]) throws -> [[Double]] {
            let inputs: [String: Tensor] = [
                "x": Tensor(x), "v": Tensor(v),
                "a": Tensor(TensorType(.f64, [2]), doubles: a), "va": Tensor(TensorType(.f64, [2]), doubles: va),
                "m": Tensor(TensorType(.f64, [2, 2]), doubles: [1, 2, 3, 4]), "vm": Tensor(TensorType(.f64, [2, 2]), doubles: [0, 1, 0, 0]),
            ]
            return try evaluate(f, inputs).map(\.doubles)
        }
        // x = 3, v = 2: d(x³) = 3·9·2 = 54; d√x = 2/(2√3); relu, abs: slope 1; log: 2/3;
        // H·v = 6·3·2 = 36.
        var r = try run(x: 3, v: 2, a: [1, 1], va: [1, 0])
        XCTAssertEqual(r[0], [54])
        assertClose(r[1][0], 1 / 3.0.squareRoot())
        XCTAssertEqual(r[2], [2])
        XCTAssertEqual(r[3], [2])
        assertClose(r[4][0], 2.0 / 3.0)
        XCTAssertEqual(r[5], [0.5], "a tie of max shares the tangent evenly, as reverse mode shares the gradient")
        // d(m @ m) = ṁm + mṁ with ṁ = e₀₁: [[3, 4], [0, 0]] + [[0, 1], [0, 3]].
        XCTAssertEqual(r[6], [3, 5, 0, 3])
        assertClose(r[7][0], exp(1))
        XCTAssertEqual(r[8], [36])
        // x = 0: relu′(0) = abs′(0) = 0; √ has an infinite slope at 0; the select's untaken log
        // branch (slope ∞) leaves no trace; a zero tangent stays zero everywhere.
        r = try run(x: 0, v: 1, a: [2, -1], va: [0, 5])
        XCTAssertEqual(r[0], [0])
        XCTAssertEqual(r[1], [.infinity])
        XCTAssertEqual(r[2], [0])
        XCTAssertEqual(r[3], [0])
        XCTAssertEqual(r[4], [0])
        XCTAssertEqual(r[5], [0], "the tangent of a non-maximal element does not reach max")
        r = try run(x: 0, v: 0, a: [0, 0], va: [0, 0])
        XCTAssertEqual(r[1], [0], "a zero tangent through an infinite slope is exactly 0")
        XCTAssertEqual(r[4], [0])
        XCTAssertEqual(r[7], [0])
    }

    /// The tangent graph of an elementwise chain is the forward formula itself, with no
    /// placeholder left: the optimized jvp of exp(x)·x is ẋ·eˣ·x + eˣ·ẋ (4 nodes).
    func testTangentGraphIsTheForwardFormula() throws {
        let f = try XCTUnwrap(parseModule("func f(x: f64[3], v: f64[3]) {\n  return jvp(exp(x) * x, x, v)\n}\n").functions.first)
        let optimized = try optimize(Differentiator.expand(f))
        let computed = optimized.nodes.filter { $0.op != .input }
        XCTAssertEqual(computed.map(\.op), [.exp, .zmul, .zmul, .add], "\(optimized)")
    }

    /// Tangents through loops: scan, fori, a while loop (gated), a nested loop and a
    /// checkpointed loop, against the reverse-mode Jacobian and finite differences. The
    /// tangent of a loop is one loop running forward, with no tape.
    func testLoops() throws {
        let source = """
        func cell(h: f64[3], x: f64[2], w: f64[2,3]) {
          h2 = tanh(x @ w + h)
          return h2, sum(h2 * h2)
        }
        func euler(i: i64, theta: f64, omega: f64, k: f64) {
          return theta + 0.01 * omega, omega - 0.01 * k * sin(theta)
        }
        func inner(c: f64, x: f64) {
          return c * x + sin(c)
        }
        func outer(c: f64, row: f64[2]) {
          return scan(inner, carry=c, over=row)
        }
        func unsettled(x: f64[2], n: i64, w: f64[2,2]) {
          return sum(abs(x)) > 0.25
        }
        func shrink(x: f64[2], n: i64, w: f64[2,2]) {
          return tanh(x @ w) * 0.8, n + 1
        }
        func loops(h0: f64[3], dh: f64[3], xs: f64[4,2], dxs: f64[4,2], w: f64[2,3], dw: f64[2,3], k: f64, dk: f64, m: f64[3,2], x0: f64[2], dx0: f64[2], ww: f64[2,2]) {
          hT, ys = scan(cell, carry=(h0), over=(xs), with=(w))
          thetaT, omegaT = fori(euler, 50, carry=(k, k * 0.5), with=(k))
          p = scan(outer, carry=(k), over=(m))
          z, n = while(unsettled, shrink, carry=(x0, 0), with=ww, max_iterations=20)
          c, cs = scan(cell, carry=(h0), over=(xs), with=(w), checkpoint=2)
          return jvp(hT, h0, dh, xs, dxs, w, dw) as t1, jvp(ys, w, dw) as t2, jvp(omegaT, k, dk) as t3, jvp(p, k, dk) as t4, jvp(z, x0, dx0) as t5, jvp(cs, h0, dh) as t6, jacobian(hT, h0) @ dh + reshape(reshape(jacobian(hT, xs), shape=[3, 8]) @ reshape(dxs, shape=[8]), shape=[3]) + reshape(reshape(jacobian(hT, w), shape=[3, 6]) @ reshape(dw, shape=[6]), shape=[3]) as r1, reshape(reshape(jacobian(ys, w), shape=[4, 6]) @ reshape(dw, shape=[6]), shape=[4]) as r2, grad(omegaT, k) * dk as r3, grad(p, k) * dk as r4, jacobian(z, x0) @ dx0 as r5, jacobian(cs, h0) @ dh as r6
        }
        """
        let f = try XCTUnwrap(parseModule(source).functions.last)
        var inputs: [String: Tensor] = [:]
        for (j, p) in f.parameters.enumerated() { inputs[p.name] = Tensor.random(f.type(of: p.value), seed: UInt64(j + 11)) }
        inputs["x0"] = Tensor(TensorType(.f64, [2]), doubles: [0.9, -0.7])
        inputs["ww"] = Tensor(TensorType(.f64, [2, 2]), doubles: [0.9, 0.1, -0.2, 0.8])
        let values = try evaluate(f, inputs)
        for k in 0..<6 { assertAllClose(values[k].doubles, values[6 + k].doubles, rtol: 1e-10, atol: 1e-12, "t\(k + 1)") }
        for r in try GradientChecker.check(f, inputs: inputs) where f.nodes[r.request].op == .jvp {
            XCTAssertTrue(r.passed, "\(r.label): abs \(r.maxAbsError) rel \(r.maxRelError) \(r.note ?? "")")
        }
        // jvp(omegaT, k, dk) alone: the loop and its tangent loop, both forward, no tape.
        let single = try XCTUnwrap(parseModule(source.replacingOccurrences(of: "return jvp(hT", with: "return jvp(omegaT, k, dk), jvp(hT")).functions.last)
        var g = try Differentiator.expand(single)
        g.outputs = [g.outputs[0]]
        let optimized = try optimize(g)
        let loops = optimized.nodes.filter { $0.op == .scan }
        XCTAssertEqual(loops.count, 1, "the tangent loop also gives the primal values: \(optimized)")
        XCTAssertFalse(loops.contains { $0.attrs.reverse }, "forward mode runs no backward loop")
        let body = optimized.bodies[try XCTUnwrap(loops.first?.attrs.int(.body))]
        XCTAssertEqual(body.outputs.count, 4, "θ, ω and their tangents, no per-step tape")
    }

    /// On random graphs: forward over reverse (hvp) equals reverse over reverse, and a jvp
    /// equals the reverse-mode Jacobian times the direction.
    func testRandomGraphsForwardEqualsReverse() throws {
        var compared = 0
        for seed in UInt64(1)...40 {
            var generator = RandomGraphGenerator(seed: seed)
            let f = try generator.generate()
            guard let x = f.parameters.first, let loss = f.outputs.first(where: { $0.name == "loss" }) else { continue }
            var b = GraphBuilder(f)
            let xv = x.value
            let type = f.type(of: xv)
            // A constant direction (one computed from x would be differentiated by reverse over reverse).
            var attrs = Attributes([.dtype: .dtype(type.dtype), .shape: .ints(type.shape)])
            attrs[.values] = .floats((0..<type.count).map { cos(1.5 * Double($0) + 0.5) })
            let direction = try b.add(.const, [], attrs)
            let g = try b.add(.grad, [loss.value, xv])
            let rr = try b.add(.grad, [b.reduce(.sum, b.binary(.mul, g, direction), axes: nil), xv])  // reverse over reverse
            let fr = try b.add(.hvp, [loss.value, xv, direction])  // forward over reverse
            let forward = try b.add(.jvp, [loss.value, xv, direction])
            let reverse = try b.reduce(.sum, b.binary(.mul, g, direction), axes: nil)
            b.function.outputs = [Output(name: "rr", value: rr), Output(name: "fr", value: fr), Output(name: "f", value: forward), Output(name: "r", value: reverse)]
            let values = try evaluate(b.function, generator.inputs)
            // Equal up to rounding: of f32 where the graph computes in f32 somewhere.
            let f32 = f.nodes.contains { $0.type.dtype == .f32 }
            let (rtol, atol) = f32 ? (1e-5, 1e-6) : (1e-9, 1e-11)
            assertAllClose(values[0].doubles, values[1].doubles, rtol: rtol, atol: atol, "seed \(seed): hvp vs reverse over reverse (\(type))")
            assertAllClose(values[2].doubles, values[3].doubles, rtol: rtol, atol: atol, "seed \(seed): jvp vs gradient·v")
            compared += 1
        }
        XCTAssertEqual(compared, 40)
    }

    /// `jacobian` picks forward passes for a tall Jacobian (fewer passes), and both modes agree.
    func testJacobianModes() throws {
        let fb = FunctionBuilder("f")
        let x = try fb.input("x", .f64, [2])
        let y = try concat([sin(x), exp(x) * sum(x), x * x], axis: 0)  // 6 outputs, 2 inputs
        try fb.output(fb.jacobian(of: y, wrt: x), "auto")
        try fb.output(fb.jacobian(of: y, wrt: x, mode: .forward), "forward")
        try fb.output(fb.jacobian(of: y, wrt: x, mode: .reverse), "reverse")
        let values = try evaluate(fb.function, ["x": Tensor(TensorType(.f64, [2]), doubles: [0.3, -1.2])])
        XCTAssertEqual(values[0].type.shape, [6, 2])
        assertAllClose(values[0].doubles, values[2].doubles, rtol: 1e-14)
        assertAllClose(values[1].doubles, values[2].doubles, rtol: 1e-14)
        // Forward: 2 passes, so fewer nodes than 6 reverse passes.
        func nodes(_ mode: DerivativeMode) throws -> Int {
            let g = FunctionBuilder("g")
            let x = try g.input("x", .f64, [2])
            try g.output(g.jacobian(of: concat([sin(x), exp(x) * sum(x), x * x], axis: 0), wrt: x, mode: mode))
            return try optimize(Differentiator.expand(g.function)).nodes.count
        }
        XCTAssertLessThan(try nodes(.forward), try nodes(.reverse))
        XCTAssertEqual(try nodes(.auto), try nodes(.forward))
    }

    /// Bad requests are located errors, never a crash.
    func testBadRequests() throws {
        let cases: [(String, String)] = [
            ("jvp(sum(x), x)", "at least 3 operands"),
            ("jvp(sum(x), x, x, s)", "y then pairs"),
            ("jvp(sum(x), x, s)", "the tangent must have the type"),
            ("jvp(sum(x), n, n)", "only f32 and f64"),
            ("hvp(x, x, x)", "needs a scalar"),
            ("hvp(sum(x), x, s)", "the vector must have the type of x"),
        ]
        for (expression, expected) in cases {
            let source = "func f(x: f64[3], s: f64, n: i64) {\n  return \(expression)\n}\n"
            XCTAssertThrowsError(try parseModule(source, file: "bad.ir"), expression) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(expected), "\(expression): \(text)")
                XCTAssertTrue(text.contains("bad.ir:2:"), "\(expression): \(text)")
            }
        }
    }
}
