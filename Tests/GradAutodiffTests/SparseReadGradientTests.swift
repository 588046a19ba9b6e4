import Foundation
import Grad
import TestSupport
import XCTest

/// Gradients of many slice and element reads of one tensor (issue 16, "gradients of indexing
/// in O(k)"): the sweep sums the reads' `pad` cotangents with one `concat` of slabs along one
/// axis or else one `scatter_add` (`PadParts`) instead of one full-size add per read. Exact values, every backend, finite differences of
/// orders 1 and 2, and the size of the gradient graph, which was quadratic in the reads.
final class SparseReadGradientTests: XCTestCase {
    /// The element-by-element Rosenbrock function over `x: f64[n]`, as a CasADi user writes it.
    static func rosenbrock(_ n: Int, returns: String = "f, grad(f, x)") -> String {
        let terms = (0..<(n - 1)).map { i in "100 * (x[\(i + 1)] - x[\(i)]^2)^2 + (1 - x[\(i)])^2" }
        return "func rosenbrock(x: f64[\(n)]) {\n  f = \(terms.joined(separator: " + "))\n  return \(returns)\n}\n"
    }

    /// ∂f/∂xᵢ by hand: −400xᵢ(xᵢ₊₁ − xᵢ²) − 2(1 − xᵢ) for i < n − 1, plus 200(xᵢ − xᵢ₋₁²) for i > 0.
    static func rosenbrockGradient(_ x: [Double]) -> [Double] {
        let n = x.count
        return (0..<n).map { i in
            var g = 0.0
            if i < n - 1 { g += -400 * x[i] * (x[i + 1] - x[i] * x[i]) - 2 * (1 - x[i]) }
            if i > 0 { g += 200 * (x[i] - x[i - 1] * x[i - 1]) }
            return g
        }
    }

    func parse(_ text: String) throws -> Function {
        try XCTUnwrap(parseModule(text, file: "reads.ir").functions.last)
    }

    /// The results on the reference evaluator (plain and optimized), the VM and, when a C
    /// compiler is present, the C backend.
    func everyBackend(_ f: Function, _ inputs: [String: Tensor]) throws -> [(String, [Tensor])] {
        let plain = try Differentiator.expand(f)
        let optimized = try optimize(plain)
        let ordered = optimized.parameters.compactMap { inputs[$0.name] }
        var results = [("reference", try ReferenceEvaluator.run(plain, inputs: inputs)),
                       ("reference, optimized", try ReferenceEvaluator.run(optimized, inputs: inputs)),
                       ("bytecode", try VirtualMachine(BytecodeProgram(function: optimized)).run(ordered))]
        if (try? CCompiler.find()) != nil {
            var env = ProcessInfo.processInfo.environment
            env["GRADC_CACHE_DIR"] = try temporaryDirectory("sparse-reads").path
            results.append(("C", try CModule([optimized], environment: env).kernels[0].run(ordered)))
        }
        return results
    }

    func testRosenbrockGradientMatchesTheHandFormulaOnEveryBackend() throws {
        let n = 40
        let x: [Double] = (0..<n).map { i in
            let wobble: Double = 0.05 * Double(i % 7)
            return 0.3 + wobble - 0.02 * Double(i)
        }
        let f = try parse(Self.rosenbrock(n))
        let want = Self.rosenbrockGradient(x)
        for (backend, out) in try everyBackend(f, ["x": Tensor(TensorType(.f64, [n]), doubles: x)]) {
            assertAllClose(out[1].doubles, want, rtol: 1e-13, atol: 1e-13, "\(backend)")
        }
        // The element reads' cotangents were summed by one concat of the n elements (each
        // element's reads added first), not by 3(n − 1) full-size adds nor a scatter.
        let plain = try Differentiator.expand(f)
        XCTAssertEqual(plain.nodes.filter { $0.op == .concat && $0.type.shape == [n] }.count, 1)
        XCTAssertEqual(plain.nodes.filter { $0.op == .scatter_add }.count, 0)
        XCTAssertLessThanOrEqual(plain.nodes.filter { $0.op == .add && $0.type.shape == [n] }.count, 1)
    }

    /// At the minimum x = 1 every cotangent part is exactly zero: the gradient is +0 or −0
    /// everywhere, on every backend.
    func testAtTheMinimumTheGradientIsExactlyZero() throws {
        let n = 12
        let f = try parse(Self.rosenbrock(n))
        for (backend, out) in try everyBackend(f, ["x": Tensor(TensorType(.f64, [n]), doubles: Array(repeating: 1, count: n))]) {
            XCTAssertEqual(out[0].doubles, [0], backend)
            XCTAssertEqual(out[1].doubles, Array(repeating: 0, count: n), backend)
        }
    }

    /// Reads of a matrix by elements, strided slices and rows, some repeated: the gradient of
    /// Σ cⱼ·readⱼ is the coefficients accumulated at each position (exact small integers).
    func testStridedAndRepeatedReadsOfAMatrixAccumulateExactly() throws {
        let text = """
        func f(x: f64[4,5]) {
          y = 2 * x[0, 1] + 3 * x[0, 1] + sum(x[1:4:2, 0:5:2]) + 5 * sum(x[3, :]) + 7 * x[2, 4] + 11 * sum(x[:, 2])
          return y, grad(y, x)
        }
        """
        var want = [Double](repeating: 0, count: 20)
        want[0 * 5 + 1] += 5
        for i in [1, 3] { for j in [0, 2, 4] { want[i * 5 + j] += 1 } }
        for j in 0..<5 { want[3 * 5 + j] += 5 }
        want[2 * 5 + 4] += 7
        for i in 0..<4 { want[i * 5 + 2] += 11 }
        let x = Tensor(TensorType(.f64, [4, 5]), doubles: (0..<20).map { Double($0) / 4 })
        let f = try parse(text)
        XCTAssertGreaterThan(try Differentiator.expand(f).nodes.filter { $0.op == .scatter_add }.count, 0)
        for (backend, out) in try everyBackend(f, ["x": x]) {
            XCTAssertEqual(out[1].doubles, want, backend)
        }
    }

    /// Two reads only: the plain chain of adds is kept (a scatter would not pay), bit for bit
    /// the graph it was.
    /// Column reads of a matrix (a camera's parameters, the way the GradBench ba model reads
    /// them): one `concat` of the columns, a column read twice added first, zeros where no
    /// column was read; overlapping ranges fall back to the scatter. Exact integer
    /// coefficients on every backend, exact zeros in the unread column, FD orders 1 and 2.
    func testColumnReadsAreOneConcatWithZerosInTheGaps() throws {
        let text = """
        func f(x: f64[5,6]) {
          y = 2 * sum(x[:, 0]) + 3 * sum(x[:, 1] * x[:, 1]) + 5 * sum(x[:, 2]) + 7 * sum(x[:, 2]) + 11 * sum(x[:, 4:6])
          return y, grad(y, x)
        }
        """
        let x = Tensor(TensorType(.f64, [5, 6]), doubles: (0..<30).map { Double($0) / 8 })
        var want = [Double](repeating: 0, count: 30)
        for i in 0..<5 {
            want[6 * i] = 2
            want[6 * i + 1] = 6 * x.doubles[6 * i + 1]
            want[6 * i + 2] = 12
            want[6 * i + 4] = 11
            want[6 * i + 5] = 11
        }
        let f = try parse(text)
        let plain = try Differentiator.expand(f)
        XCTAssertEqual(plain.nodes.filter { $0.op == .concat && $0.type.shape == [5, 6] }.count, 1)
        XCTAssertEqual(plain.nodes.filter { $0.op == .scatter_add }.count, 0)
        for (backend, out) in try everyBackend(f, ["x": x]) {
            XCTAssertEqual(out[1].doubles, want, backend)
            XCTAssertEqual((0..<5).map { out[1].doubles[6 * $0 + 3] }, [0, 0, 0, 0, 0], backend)
        }
        let overlapping = try parse("""
        func f(x: f64[5,6]) {
          y = sum(x[:, 0:3]) + 2 * sum(x[:, 2:4]) + 3 * sum(x[:, 5])
          return y, grad(y, x)
        }
        """)
        XCTAssertEqual(try Differentiator.expand(overlapping).nodes.filter { $0.op == .concat && $0.type.shape == [5, 6] }.count, 0)
        for (backend, out) in try everyBackend(overlapping, ["x": x]) {
            XCTAssertEqual(out[1].doubles, (0..<30).map { [1, 1, 3, 2, 0, 3][$0 % 6] }, backend)
        }
        let second = try parse("""
        func f(x: f64[3,4]) {
          y = sum(sin(x[:, 0]) * x[:, 1]) + sum(x[:, 3]^3) + sum(x[:, 0] * x[:, 3])
          return y, grad(y, x), hessian(y, x)
        }
        """)
        let xs = Tensor(TensorType(.f64, [3, 4]), doubles: (0..<12).map { 0.3 + 0.1 * Double($0) })
        for r in try GradientChecker.check(second, inputs: ["x": xs]) {
            XCTAssertTrue(r.passed, "\(r.label): abs \(r.maxAbsError) rel \(r.maxRelError) \(r.note ?? "")")
        }
    }

    func testFewReadsKeepTheChainOfAdds() throws {
        let f = try parse("func f(x: f64[8]) {\n  y = x[1] * x[6]\n  return grad(y, x)\n}\n")
        let plain = try Differentiator.expand(f)
        XCTAssertEqual(plain.nodes.filter { $0.op == .scatter_add }.count, 0)
        XCTAssertEqual(plain.nodes.filter { $0.op == .pad }.count, 2)
        let out = try evaluate(f, ["x": Tensor(TensorType(.f64, [8]), doubles: (0..<8).map(Double.init))])
        XCTAssertEqual(out[0].doubles, [0, 6, 0, 0, 0, 0, 1, 0])
    }

    /// Examples/rosenbrock-vector.ir: its gradient against the hand formula and finite differences.
    func testTheExample() throws {
        let f = try XCTUnwrap(Pipeline.parse(repositoryFile("Examples/rosenbrock-vector.ir"), file: "rosenbrock-vector.ir").functions.last)
        let x = (0..<12).map { 0.1 * Double($0) - 0.4 }
        let out = try evaluate(f, ["x": Tensor(TensorType(.f64, [12]), doubles: x)])
        assertAllClose(out[1].doubles, Self.rosenbrockGradient(x), rtol: 1e-13, atol: 1e-13)
        for r in try GradientChecker.check(f, inputs: ["x": Tensor(TensorType(.f64, [12]), doubles: x)]) {
            XCTAssertTrue(r.passed, "\(r.label): abs \(r.maxAbsError) rel \(r.maxRelError)")
        }
    }

    func testFiniteDifferencesOfOrdersOneAndTwo() throws {
        let n = 8
        let x = Tensor(TensorType(.f64, [n]), doubles: (0..<n).map { 0.2 + 0.1 * Double($0) })
        let f = try parse(Self.rosenbrock(n, returns: "f, grad(f, x), hessian(f, x)"))
        let results = try GradientChecker.check(f, inputs: ["x": x])
        XCTAssertEqual(results.count, 2)
        for r in results {
            XCTAssertTrue(r.passed, "\(r.label): abs \(r.maxAbsError) rel \(r.maxRelError) \(r.note ?? "")")
        }
        // The Hessian through the concat (its VJP is slices) against the hand-derived one.
        let h = try evaluate(f, ["x": x])[2].doubles
        let v = x.doubles
        for i in 0..<n {
            var d = 0.0
            if i < n - 1 { d += 1200 * v[i] * v[i] - 400 * v[i + 1] + 2 }
            if i > 0 { d += 200 }
            assertClose(h[i * n + i], d, rtol: 1e-12)
            if i < n - 1 {
                assertClose(h[i * n + i + 1], -400 * v[i], rtol: 1e-12)
                assertClose(h[(i + 1) * n + i], -400 * v[i], rtol: 1e-12)
            }
        }
    }

    /// The elements of the values an evaluation computes (the graph after dead-code removal)
    /// grow linearly with n; they grew as n²: a live pad of n elements per read. (The sweep
    /// still builds each read's pad, a node of O(1) memory, and leaves it dead.)
    func testGradientGraphGrowsLinearly() throws {
        func elements(_ n: Int) throws -> Int {
            try optimize(Differentiator.expand(parse(Self.rosenbrock(n)))).nodes.reduce(0) { $0 + $1.type.count }
        }
        let (small, large) = (try elements(200), try elements(800))
        XCTAssertLessThan(Double(large) / Double(small), 4.5, "elements \(small) at n = 200, \(large) at n = 800")
    }
}
