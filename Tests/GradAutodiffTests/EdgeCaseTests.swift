import Foundation
import Grad
import TestSupport
import XCTest

/// Derivatives at the awkward points, each with its documented answer (docs/ops.md and the
/// VJP rules' comments give the conventions), the same on every backend: the reference
/// evaluator on the unoptimized and on the optimized graph, the bytecode VM and the C backend
/// (all edge functions in one C module, the default flags).
final class EdgeCaseTests: XCTestCase {
    struct Edge {
        /// The parameter list, e.g. `x: f64` or `x: f64[4]`.
        var parameters: String
        /// The returned expressions.
        var source: String
        var at: [String: Tensor]
        /// Expected elements of every output, exactly (NaN matches NaN; −0 matches 0).
        var expected: [[Double]]
        var why: String
    }

    static let subnormal = Double.leastNonzeroMagnitude

    static func scalar(_ source: String, at: [String: Double], _ expected: [Double], why: String) -> Edge {
        let parameters = at.keys.sorted().map { "\($0): f64" }.joined(separator: ", ")
        return Edge(parameters: parameters, source: source, at: at.mapValues { Tensor($0) }, expected: expected.map { [$0] }, why: why)
    }

    static func vector(_ source: String, at x: [Double], _ expected: [[Double]], why: String) -> Edge {
        Edge(parameters: "x: f64[\(x.count)]", source: source, at: ["x": Tensor(.init(.f64, [x.count]), doubles: x)],
             expected: expected, why: why)
    }

    static let table: [Edge] = [
        scalar("grad(select(x > 0, sqrt(x), 0), x)", at: ["x": 0], [0],
               why: "the untaken sqrt branch receives a zero gradient, which stays zero"),
        scalar("grad(sqrt(x), x)", at: ["x": 0], [.infinity], why: "sqrt'(0) = +inf"),
        vector("sqrt(sum(x^2)), grad(sqrt(sum(x^2)), x)", at: [0, 0, 0], [[0], [.nan, .nan, .nan]],
               why: "the norm at 0 has no derivative; sqrt'(0)·2x = ∞·0 propagates as NaN (documented)"),
        scalar("grad(sqrt(x * x + y * y), x)", at: ["x": 0, "y": 0], [.nan], why: "the same with scalars"),
        scalar("log(x), grad(log(x), x)", at: ["x": 0], [-.infinity, .infinity], why: "log(0) = −inf, log'(0) = +inf"),
        scalar("log(x), grad(log(x), x)", at: ["x": -1], [.nan, -1], why: "1/x even where log is NaN"),
        scalar("grad(abs(x), x), grad(relu(x), x), grad(maximum(x, 0), x)", at: ["x": 0], [0, 0, 0.5],
               why: "abs'(0) = relu'(0) = 0; maximum ties split evenly"),
        scalar("grad(abs(x), x), grad(relu(x), x), grad(maximum(x, 0), x)", at: ["x": -0.0], [0, 0, 0.5],
               why: "-0 behaves as 0"),
        scalar("grad(abs(x), x), grad(relu(x), x), grad(maximum(x, 0), x)", at: ["x": subnormal], [1, 1, 1],
               why: "a subnormal is positive"),
        scalar("grad(abs(x), x), grad(relu(x), x), grad(maximum(x, 0), x)", at: ["x": -subnormal], [-1, 0, 0],
               why: "a negative subnormal is negative"),
        scalar("grad(x^2, x), grad(grad(x^2, x), x)", at: ["x": 0], [0, 2], why: "x² at 0"),
        scalar("x^0, grad(x^0, x), grad(grad(x^0, x), x)", at: ["x": 0], [1, 0, 0], why: "x⁰ = 1 is constant, also at 0"),
        scalar("grad(x^y, y), grad(grad(x^y, y), y)", at: ["x": 0, "y": 2], [0, 0], why: "0^y is flat in y (d/db a^b = 0 where a = 0)"),
        scalar("grad(x^y, x), grad(grad(x^y, x), x)", at: ["x": 0, "y": 2], [0, 2], why: "x^y at x = 0, y = 2 is x²"),
        scalar("grad(tanh(x) * x^2, x), hessian(tanh(x) * x^2, x)", at: ["x": -1e8], [2e8, -2],
               why: "no overflow: tanh' underflows to exactly 0, so d²/du² = 2·tanh(u) = −2"),
        vector("grad(max(x), x), grad(min(x), x)", at: [2, 2, 1, 1], [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]],
               why: "ties of max/min share the gradient evenly: it sums to 1"),
        vector("max(x), grad(max(x), x)", at: [1, .nan, 3], [[.nan], [.nan, .nan, .nan]],
               why: "a NaN maximum has a NaN gradient (documented)"),
        vector("logsumexp(x), grad(logsumexp(x), x)", at: [-.infinity, -.infinity], [[-.infinity], [.nan, .nan]],
               why: "all −inf: −inf − (−inf) is NaN (documented)"),
        vector("softmax(x), log_softmax(x), grad(sum(log_softmax(x) * x), x)", at: [1000, 0],
               [[1, 0], [0, -1000], [0, -1000]],
               why: "shifted by the max: no overflow; d/dx Σ x·log_softmax(x) = log_softmax + x − softmax·Σx"),
    ]

    /// Each edge function, derivatives expanded; and optimized.
    func functions() throws -> [(plain: Function, optimized: Function)] {
        try Self.table.map { e in
            let source = "func f(\(e.parameters)) {\n  return \(e.source)\n}\n"
            let f = try XCTUnwrap(parseModule(source, file: "edge.ir").functions.last)
            let plain = try Differentiator.expand(f)
            return (plain, try optimize(plain))
        }
    }

    func check(_ got: [Tensor], _ e: Edge, _ backend: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, e.expected.count, "\(backend): \(e.source)", file: file, line: line)
        for (k, (t, want)) in zip(got, e.expected).enumerated() {
            let values = t.doubles
            let same = values.count == want.count && zip(values, want).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
            XCTAssertTrue(same, "\(backend): \(e.source) at \(e.at.mapValues(\.doubles)) output \(k): got \(values), want \(want) (\(e.why))",
                          file: file, line: line)
        }
    }

    func testEdgePointsOnEveryBackend() throws {
        let fs = try functions()
        for (e, f) in zip(Self.table, fs) {
            check(try ReferenceEvaluator.run(f.plain, inputs: e.at), e, "reference")
            check(try ReferenceEvaluator.run(f.optimized, inputs: e.at), e, "reference, optimized")
            let vm = try VirtualMachine(BytecodeProgram(function: f.optimized))
            check(try vm.run(f.optimized.parameters.compactMap { e.at[$0.name] }), e, "bytecode")
        }
        guard (try? CCompiler.find()) != nil else { return }
        var env = ProcessInfo.processInfo.environment
        env["GRADC_CACHE_DIR"] = try temporaryDirectory("edge").path
        let module = try CModule(fs.map(\.optimized), environment: env)
        for (k, (e, f)) in zip(Self.table, fs).enumerated() {
            check(try module.kernels[k].run(f.optimized.parameters.compactMap { e.at[$0.name] }), e, "C")
        }
    }
}
