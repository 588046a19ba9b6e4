import Grad
import TestSupport
import XCTest

/// Compressed sparse Jacobians and Hessians (issue 18, docs/sparsity.md): `jacobian(y, x,
/// sparse=true)` and `hessian(f, x, sparse=true)` list the pattern's non-zeros in CSR order;
/// scattered back they equal the dense derivative, which is zero outside the pattern.
final class SparseDerivativeTests: XCTestCase {
    /// The dense m×n matrix (row-major) whose pattern positions hold `values`.
    func scatter(_ values: [Double], _ p: SparsityPattern) -> [Double] {
        var dense = [Double](repeating: 0, count: p.rows * p.columns)
        var k = 0
        for i in 0..<p.rows {
            for j in p.columns(ofRow: i) {
                dense[i * p.columns + Int(j)] = values[k]
                k += 1
            }
        }
        return dense
    }

    /// Checks a sparse output against its dense counterpart: same values at the pattern,
    /// and the dense one is exactly zero elsewhere (the pattern is conservative).
    func assertMatchesDense(_ sparse: [Double], _ dense: [Double], _ p: SparsityPattern, rtol: Double = 1e-12,
                            _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(sparse.count, p.nonZeroCount, "\(label): one value per non-zero", file: file, line: line)
        guard sparse.count == p.nonZeroCount else { return }
        assertAllClose(scatter(sparse, p), dense, rtol: rtol, atol: 1e-13, label, file: file, line: line)
    }

    /// Hand-computed: the Jacobian of x² at x = (0, 1, 2) is diag(0, 2, 4) — an exact zero
    /// value on a structural non-zero stays in the pattern — and the Hessian of Σ x³ is
    /// diag(0, 6, 12), whichever way they are compressed.
    func testHandComputedDiagonalWithAnExactZero() throws {
        for mode in [DerivativeMode.auto, .forward, .reverse] {
            let fb = FunctionBuilder("f")
            let x = try fb.input("x", .f64, [3])
            let j = try fb.jacobian(of: x * x, wrt: x, mode: mode, sparse: true)
            let h = try fb.hessian(of: sum(x * x * x), wrt: x, sparse: true)
            try fb.output(j, "j")
            try fb.output(h, "h")
            let values = try evaluate(fb.function, ["x": Tensor([0, 1, 2], shape: [3])!])
            let pj = try XCTUnwrap(fb.pattern(of: j))
            let ph = try XCTUnwrap(fb.pattern(of: h))
            XCTAssertEqual(scatter(values[0].doubles, pj), [0, 0, 0, 0, 2, 0, 0, 0, 4], "\(mode)")
            XCTAssertEqual(scatter(values[1].doubles, ph), [0, 0, 0, 0, 6, 0, 0, 0, 12], "\(mode)")
            XCTAssertNil(try fb.pattern(of: x))
        }
    }

    /// Structured cases — diagonal, banded, arrowhead, a matrix product, a 2-D Laplacian
    /// energy — each as a sparse Jacobian (forward and reverse compression) and a sparse
    /// Hessian, against the dense ones at a random point.
    func testStructuredCasesAgainstDenseDerivatives() throws {
        typealias Build = (FunctionBuilder, Value) throws -> Value
        let cases: [(String, [Int], Build)] = [
            ("diagonal", [6], { _, x in try exp(x) * x }),
            ("banded", [7], { _, x in try sin(x.sliced(axis: 0, 1, nil)) * x.sliced(axis: 0, 0, 6) }),
            ("arrowhead", [5], { _, x in try x.sliced(axis: 0, 0, 1) * x * x }),
            ("matmul", [3, 2], { fb, x in try tanh(fb.constant(values: [1, 0, 2, 0, 0, 3], .f64, [2, 3]).matmul(x)) }),
            ("laplacian", [4, 5], { _, u in
                let dx = try u.sliced(axis: 0, 1, nil) - u.sliced(axis: 0, 0, 3)
                let dy = try u.sliced(axis: 1, 1, nil) - u.sliced(axis: 1, 0, 4)
                return try exp(u) + sum(dx * dx) + sum(dy * dy)
            }),
        ]
        var rng = SplitMix64(seed: 3)
        for (name, shape, build) in cases {
            let fb = FunctionBuilder(name)
            let x = try fb.input("x", .f64, shape)
            let y = try build(fb, x)
            let f = try sum(y * y)
            let outs = [
                try fb.jacobian(of: y, wrt: x, mode: .forward, sparse: true),
                try fb.jacobian(of: y, wrt: x, mode: .reverse, sparse: true),
                try fb.jacobian(of: y, wrt: x, sparse: true),
                try fb.hessian(of: f, wrt: x, sparse: true),
            ]
            for (k, o) in outs.enumerated() { try fb.output(o, "s\(k)") }
            try fb.output(fb.jacobian(of: y, wrt: x), "jdense")
            try fb.output(fb.hessian(of: f, wrt: x), "hdense")
            let inputs = ["x": Tensor.random(TensorType(.f64, shape), using: &rng)]
            let values = try evaluate(fb.function, inputs)
            for k in 0..<3 {
                assertMatchesDense(values[k].doubles, values[4].doubles, try XCTUnwrap(fb.pattern(of: outs[k])), "\(name) jacobian \(k)")
            }
            assertMatchesDense(values[3].doubles, values[5].doubles, try XCTUnwrap(fb.pattern(of: outs[3])), rtol: 1e-10, "\(name) hessian")
        }
    }

    /// Every op of the every-op table: the sparse Jacobian of its result with respect to its
    /// first operand equals the dense one, zero outside the pattern.
    func testEveryOpSparseJacobianMatchesDense() throws {
        var rng = SplitMix64(seed: 11)
        var checked = 0
        for c in OpCases.table() {
            let fb = FunctionBuilder("case")
            var xs: [Value] = []
            var inputs: [String: Tensor] = [:]
            for (k, (shape, range)) in c.operands.enumerated() {
                xs.append(try fb.input("x\(k)", .f64, shape))
                inputs["x\(k)"] = Tensor.random(TensorType(.f64, shape), range: range, using: &rng)
            }
            var labels: [Value] = []
            for (k, shape) in c.labels.enumerated() {
                labels.append(try fb.input("l\(k)", .i64, shape))
                let count = shape.reduce(1, *)
                let data = k < c.labelValues.count ? c.labelValues[k] : (0..<count).map { Int64(($0 * 2 + 1) % 3) }
                inputs["l\(k)"] = try XCTUnwrap(Tensor(.i64(data), shape: shape))
            }
            let out = try c.build(fb, xs, labels)
            guard out.dtype.isFloat, let x = xs.first, out.type.count * x.type.count <= 4096 else { continue }
            let sparse = try fb.jacobian(of: out, wrt: x, sparse: true)
            try fb.output(sparse, "sparse")
            try fb.output(fb.jacobian(of: out, wrt: x), "dense")
            let values = try evaluate(fb.function, inputs)
            assertMatchesDense(values[0].doubles, values[1].doubles, try XCTUnwrap(fb.pattern(of: sparse)),
                               rtol: c.f32Inside ? 1e-5 : 1e-9, c.name)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 60)
    }

    /// Order 2 through a sparse Jacobian: the gradient of Σ wₖ·vₖ² over its non-zeros equals
    /// the gradient of the same sum over the dense Jacobian, and passes central differences.
    func testSecondOrderThroughASparseJacobian() throws {
        let fb = FunctionBuilder("f")
        let x = try fb.input("x", .f64, [5])
        let y = try sin(x.sliced(axis: 0, 1, nil) * x.sliced(axis: 0, 0, 4))
        let j = try fb.jacobian(of: y, wrt: x, sparse: true)
        let loss = try sum(j * j * j)
        let dense = try fb.jacobian(of: y, wrt: x)
        try fb.output(loss, "loss")
        try fb.output(fb.grad(of: loss, wrt: [x])[0], "g")
        try fb.output(fb.grad(of: sum(dense * dense * dense), wrt: [x])[0], "gdense")
        let point: [Double] = [0.3, -0.7, 1.1, 0.2, -0.4]
        let values = try evaluate(fb.function, ["x": Tensor(point, shape: [5])!])
        assertAllClose(values[1].doubles, values[2].doubles, rtol: 1e-12, atol: 1e-14, "sparse vs dense")
        let h = 1e-6
        for i in 0..<5 {
            var plus = point, minus = point
            plus[i] += h
            minus[i] -= h
            let fp = try evaluate(fb.function, ["x": Tensor(plus, shape: [5])!])[0].doubles[0]
            let fm = try evaluate(fb.function, ["x": Tensor(minus, shape: [5])!])[0].doubles[0]
            assertClose(values[1].doubles[i], (fp - fm) / (2 * h), rtol: 1e-6, atol: 1e-8, "central difference \(i)")
        }
    }

    /// A y that does not depend on x has an empty pattern and an empty result; the `.ir`
    /// request prints and parses back to the same graph; the pattern reaches the compiled
    /// function's output on every backend.
    func testEmptyPatternRoundTripAndCompiledPattern() throws {
        let source = """
        func f(x: f64[4], z: f64[3]) {
          y = exp(x) * x
          return jacobian(y, x, sparse=true) as j, jacobian(z * 2, x, sparse=true) as empty, hessian(sum(y), x, sparse=true) as h
        }
        """
        let module = try parseModule(source)
        let f = try XCTUnwrap(module.functions.first)
        XCTAssertEqual(f.type(of: f.outputs[1].value), TensorType(.f64, [0]))
        let printed = printFunction(f)
        XCTAssertTrue(printed.contains("sparse=true"), printed)
        XCTAssertEqual(printFunction(try XCTUnwrap(parseModule(printed).functions.first)), printed)
        let x = Tensor([0.5, -1, 2, 0], shape: [4])!
        let z = Tensor([1, 2, 3], shape: [3])!
        let reference = try evaluate(f, ["x": x, "z": z])
        XCTAssertEqual(reference[1].doubles, [])
        for backend in Backend.allCases {
            let exe = try compile(f, backend: backend)
            let p = try XCTUnwrap(exe.pattern(ofOutput: "j"), "\(backend)")
            XCTAssertEqual(p.rows, 4)
            XCTAssertEqual(p.columns, 4)
            XCTAssertEqual(exe.pattern(ofOutput: "empty")?.nonZeroCount, 0)
            XCTAssertNotNil(exe.pattern(ofOutput: "h"))
            let out = try exe(["x": x, "z": z])
            for k in 0..<3 { assertAllClose(out[k].doubles, reference[k].doubles, rtol: 1e-14, "\(backend) output \(k)") }
        }
    }

    /// The Jacobian of a gradient is typed by the Hessian's pattern (not the conservative one
    /// through the unexpanded `grad`), and its values are the Hessian's, forward and reverse.
    func testSparseJacobianOfAGradientIsTheSparseHessian() throws {
        let f = try XCTUnwrap(parseModule("""
        func f(x: f64[6]) {
          e = sum(sin(x[1:] * x[:5])) + sum(exp(x))
          g = grad(e, x)
          return jacobian(g, x, sparse=true) as jf, jacobian(g, x, sparse=true, forward=false) as jr, hessian(e, x, sparse=true) as h
        }
        """).functions.last)
        XCTAssertEqual(f.type(of: f.outputs[0].value).count, 16)
        let values = try evaluate(f, ["x": XCTUnwrap(Tensor([0.3, -0.2, 0.9, 1.4, -1.1, 0.5], shape: [6]))])
        assertAllClose(values[0].doubles, values[2].doubles, rtol: 1e-12, "forward")
        assertAllClose(values[1].doubles, values[2].doubles, rtol: 1e-12, "reverse")
    }

    /// Bad requests: sparse on an op without it, a non-boolean, a Hessian of a non-scalar, a
    /// pattern past the limit — each a located error, nothing built.
    func testBadSparseRequests() throws {
        func error(_ source: String) -> String {
            do {
                _ = try parseModule(source, file: "m.ir")
                return "no error"
            } catch {
                return error.description
            }
        }
        XCTAssertTrue(error("func f(x: f64[3]) {\n  return grad(sum(x), x, sparse=true)\n}").contains("m.ir:2:"), error("func f(x: f64[3]) {\n  return grad(sum(x), x, sparse=true)\n}"))
        XCTAssertTrue(error("func f(x: f64[3]) {\n  return jacobian(x, x, sparse=2)\n}").contains("m.ir:2:"))
        XCTAssertTrue(error("func f(x: f64[3]) {\n  return hessian(x, x, sparse=true)\n}").contains("m.ir:2:"))
        let tooMany = error("func f(x: f64[9000]) {\n  return hessian(logsumexp(x), x, sparse=true)\n}")
        XCTAssertTrue(tooMany.contains("m.ir:2:") && tooMany.contains("more than"), tooMany)
    }
}
