import Foundation
import Grad
import TestSupport
import XCTest

/// Derivatives of orders 1–3 at points where an intermediate gradient is exactly zero: the
/// strong-zero products of the rules (`zmul`, `zdiv`) must keep the backward graph linear in
/// its seed, so that no term is lost when it is differentiated again. Each case has exact,
/// hand-computed answers checked on every backend, and finite differences of orders 1–3.
final class ZeroCotangentTests: XCTestCase {
    struct Case {
        var parameters: String
        var body: String
        var returns: String
        var at: [String: Tensor]
        var expected: [[Double]]
        var why: String
        /// Finite differences are meaningful here (the point is not on a kink).
        var smooth = true
    }

    /// y = x·f(x + c) at x = 0: the gradient reaching f is g·x = 0 there, while
    /// y′ = f(c), y″ = 2f′(c), y‴ = 3f″(c).
    static func throughZero(_ f: String, c: Double, _ value: Double, _ d1: Double, _ d2: Double) -> Case {
        Case(parameters: "x: f64", body: "y = x * \(f)\n  d1 = grad(y, x)\n  d2 = grad(d1, x)",
             returns: "d1, d2, grad(d2, x)", at: ["x": Tensor(0.0)], expected: [[value], [2 * d1], [3 * d2]],
             why: "x·\(f) at x = 0 (f′ = \(d1), f″ = \(d2) at \(c))")
    }

    static let ln2 = log(2.0)

    static let table: [Case] = [
        // The issue's example: y = x·(x/2), y″ = 1 (it was 0.5 when the rules selected on g == 0).
        Case(parameters: "x: f64", body: "y = x * (x / 2)\n  d = grad(y, x)", returns: "d, grad(d, x), grad(grad(d, x), x)",
             at: ["x": Tensor(0.0)], expected: [[0], [1], [0]], why: "x·(x/2) at 0"),
        throughZero("log(x + 2)", c: 2, ln2, 0.5, -0.25),
        throughZero("log1p(x + 1)", c: 1, ln2, 0.5, -0.25),
        throughZero("sqrt(x + 4)", c: 4, 2, 0.25, -1.0 / 32),
        throughZero("rsqrt(x + 4)", c: 4, 0.5, -1.0 / 16, 3.0 / 128),
        throughZero("reciprocal(x + 2)", c: 2, 0.5, -0.25, 0.25),
        throughZero("((x + 3) / (x + 2))", c: 2, 1.5, -0.25, 0.25),
        throughZero("pow(x + 2, 3)", c: 2, 8, 12, 12),
        throughZero("pow(2, x + 1)", c: 1, 2, 2 * ln2, 2 * ln2 * ln2),
        throughZero("atan2(x + 1, 1)", c: 1, Double.pi / 4, 0.5, -0.5),
        throughZero("exp(x)", c: 0, 1, 1, 1),
        throughZero("tanh(x + 1)", c: 1, tanh(1), 1 - tanh(1) * tanh(1), -2 * tanh(1) * (1 - tanh(1) * tanh(1))),
        throughZero("zmul(x + 2, x + 3)", c: 0, 6, 5, 2),
        throughZero("zdiv(x + 3, x + 2)", c: 2, 1.5, -0.25, 0.25),
        // The same through a hessian of a vector: H = I at x = 0 (it was I/2).
        Case(parameters: "x: f64[2]", body: "y = sum(x * (x / 2))", returns: "hessian(y, x)",
             at: ["x": Tensor(TensorType(.f64, [2]), doubles: [0, 0])], expected: [[1, 0, 0, 1]], why: "hessian of Σ x·x/2 at 0"),
        Case(parameters: "x: f64", body: "y = x * sqrt(x + 1)\n  d = grad(y, x)", returns: "d, grad(d, x)",
             at: ["x": Tensor(0.0)], expected: [[1], [1]], why: "x·√(x+1): y″(0) = 1 through sqrt"),
        // A Jacobian–vector product by double reverse mode with a zero seed u: J·v where
        // J = diag(d/dx (√x·ln x)) = diag(ln x/(2√x) + 1/√x).
        Case(parameters: "x: f64[2], u: f64[2], v: f64[2]",
             body: "y = sum(u * (sqrt(x) * log(x)))\n  gx = grad(y, x)\n  w = sum(gx * v)",
             returns: "grad(w, u)",
             at: ["x": Tensor(TensorType(.f64, [2]), doubles: [1, 4]), "u": Tensor(TensorType(.f64, [2]), doubles: [0, 0]),
                  "v": Tensor(TensorType(.f64, [2]), doubles: [1, 2])],
             expected: [[1, 2 * (log(4.0) / 4 + 0.5)]], why: "J·v by double reverse with u = 0"),
        // prod at zeros: the product of the others, exactly; its Hessian too.
        Case(parameters: "x: f64[3]", body: "y = prod(x)", returns: "grad(y, x), hessian(y, x)",
             at: ["x": Tensor(TensorType(.f64, [3]), doubles: [0, 2, 3])],
             expected: [[6, 0, 0], [0, 3, 2, 3, 0, 0, 2, 0, 0]], why: "prod at one zero"),
        Case(parameters: "x: f64[3]", body: "y = prod(x)", returns: "grad(y, x), hessian(y, x)",
             at: ["x": Tensor(TensorType(.f64, [3]), doubles: [0, 0, 3])],
             expected: [[0, 0, 0], [0, 3, 0, 3, 0, 0, 0, 0, 0]], why: "prod at two zeros"),
        Case(parameters: "x: f64[2,3]", body: "y = sum(prod(x, axes=[1]))", returns: "grad(y, x)",
             at: ["x": Tensor(TensorType(.f64, [2, 3]), doubles: [0, 2, 3, 4, 0, 0])],
             expected: [[6, 0, 0, 0, 0, 0]], why: "prod over one axis of a matrix with zeros"),
        // pow: d²(a^b)/da db at b = 0 is 1/a (it was 1 with a select on b == 0).
        Case(parameters: "a: f64, b: f64", body: "y = pow(a, b)\n  da = grad(y, a)", returns: "da, grad(da, b)",
             at: ["a": Tensor(2.0), "b": Tensor(0.0)], expected: [[0], [0.5]], why: "∂²aᵇ/∂a∂b = 1/a at b = 0"),
        Case(parameters: "a: f64, b: f64", body: "y = pow(a, b)", returns: "grad(y, a), grad(y, b)",
             at: ["a": Tensor(0.0), "b": Tensor(0.0)], expected: [[0], [0]], why: "0⁰: both conventions give 0", smooth: false),
        // An untaken select branch with an infinity and a NaN inside stays out of the gradient.
        Case(parameters: "t: f64", body: "y = select(t > 0, sin(1 / sqrt(t)), 3 * t)\n  d = grad(y, t)", returns: "y, d, grad(d, t)",
             at: ["t": Tensor(0.0)], expected: [[0], [3], [0]], why: "sin(1/√t) not taken at t = 0", smooth: false),
        Case(parameters: "t: f64[3]", body: "y = sum(select(t > 0, exp(log(t) * 2) / t, -t))", returns: "grad(y, t)",
             at: ["t": Tensor(TensorType(.f64, [3]), doubles: [0, -1, 2])], expected: [[-1, -1, 1]],
             why: "log and a division by 0 in the untaken branch", smooth: false),
        Case(parameters: "t: f64[2]", body: "y = sum(select(t > 0, softmax(log(t)) * sum(sqrt(t)), t))", returns: "grad(y, t)",
             at: ["t": Tensor(TensorType(.f64, [2]), doubles: [0, 0])], expected: [[1, 1]],
             why: "softmax and sum of non-finite values, not taken", smooth: false),
        // A NaN value still gives a NaN gradient where it is used.
        Case(parameters: "x: f64[3]", body: "y = max(x)", returns: "grad(y, x)",
             at: ["x": Tensor(TensorType(.f64, [3]), doubles: [1, .nan, 3])], expected: [[.nan, .nan, .nan]],
             why: "a used NaN maximum has a NaN gradient", smooth: false),
    ]

    func source(_ c: Case) -> String {
        "func f(\(c.parameters)) {\n  \(c.body)\n  return \(c.returns)\n}\n"
    }

    func functions() throws -> [(parsed: Function, plain: Function, optimized: Function)] {
        try Self.table.map { c in
            let f = try XCTUnwrap(parseModule(source(c), file: "zero.ir").functions.last)
            let plain = try Differentiator.expand(f)
            return (f, plain, try optimize(plain))
        }
    }

    func check(_ got: [Tensor], _ c: Case, _ backend: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, c.expected.count, "\(backend): \(c.why)", file: file, line: line)
        for (k, (t, want)) in zip(got, c.expected).enumerated() {
            let values = t.doubles
            let close = values.count == want.count && zip(values, want).allSatisfy { a, b in
                (a.isNaN && b.isNaN) || a == b || Swift.abs(a - b) <= 1e-14 * Swift.max(1, Swift.abs(b))
            }
            XCTAssertTrue(close, "\(backend): \(c.why), output \(k): got \(values), want \(want)", file: file, line: line)
        }
    }

    func testExactValuesOnEveryBackend() throws {
        let fs = try functions()
        for (c, f) in zip(Self.table, fs) {
            check(try ReferenceEvaluator.run(f.plain, inputs: c.at), c, "reference")
            check(try ReferenceEvaluator.run(f.optimized, inputs: c.at), c, "reference, optimized")
            let vm = try VirtualMachine(BytecodeProgram(function: f.optimized))
            check(try vm.run(f.optimized.parameters.compactMap { c.at[$0.name] }), c, "bytecode")
        }
        guard (try? CCompiler.find()) != nil else { return }
        var env = ProcessInfo.processInfo.environment
        env["GRADC_CACHE_DIR"] = try temporaryDirectory("zero").path
        let module = try CModule(fs.map(\.optimized), environment: env)
        for (k, (c, f)) in zip(Self.table, fs).enumerated() {
            check(try module.kernels[k].run(f.optimized.parameters.compactMap { c.at[$0.name] }), c, "C")
        }
    }

    /// Every derivative request of the smooth cases (orders 1, 2 and 3: a request of a request
    /// is compared with finite differences of the inner one) at the case's point.
    func testFiniteDifferencesOfEveryOrder() throws {
        for (c, f) in zip(Self.table, try functions()) where c.smooth {
            let results = try GradientChecker.check(f.parsed, inputs: c.at)
            XCTAssertFalse(results.isEmpty, c.why)
            for r in results {
                XCTAssertTrue(r.passed, "\(c.why): \(r.label) abs \(r.maxAbsError) rel \(r.maxRelError) \(r.note ?? "")")
            }
        }
    }

    /// The documented exception: a matrix product in the untaken branch sums 0·inf, and
    /// `gradc check`'s hint names the cause.
    func testMatmulInUntakenBranchIsTheDocumentedException() throws {
        let text = """
        func f(t: f64[2], w: f64[1,1]) {
          m = reshape(reshape(1 / sqrt(t - 1), shape=[2,1]) @ w, shape=[2])
          y = sum(select(t > 1, m, t))
          return grad(y, w)
        }
        """
        let f = try XCTUnwrap(parseModule(text, file: "m.ir").functions.last)
        let inputs = ["t": Tensor(TensorType(.f64, [2]), doubles: [1, 2]), "w": Tensor(TensorType(.f64, [1, 1]), doubles: [1])]
        XCTAssertTrue(try evaluate(f, inputs)[0].doubles[0].isNaN)
        let results = try GradientChecker.check(f, inputs: inputs)
        XCTAssertEqual(results.map(\.passed), [false])
        XCTAssertEqual(results.first?.hint, DerivativeCheck.nanGradientHint)
    }
}
