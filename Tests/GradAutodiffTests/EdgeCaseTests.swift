import Grad
import TestSupport
import XCTest

/// Derivatives at the awkward points, each with its documented answer (docs/ops.md and the
/// VJP rules' comment give the conventions). Every backend must give the same answers.
final class EdgeCaseTests: XCTestCase {
    struct Edge {
        var source: String
        var at: [String: Double]
        /// Expected value of every output, bit-for-bit (NaN matches NaN).
        var expected: [Double]
        var why: String
    }

    static let subnormal = Double.leastNonzeroMagnitude

    static let table: [Edge] = [
        Edge(source: "grad(select(x > 0, sqrt(x), 0), x)", at: ["x": 0], expected: [0],
             why: "the untaken sqrt branch receives a zero gradient, which stays zero"),
        Edge(source: "grad(sqrt(x), x)", at: ["x": 0], expected: [.infinity], why: "sqrt'(0) = +inf"),
        Edge(source: "grad(log(x), x), grad(log(x), x)", at: ["x": 0], expected: [.infinity, .infinity], why: "log'(0) = +inf"),
        Edge(source: "grad(log(x), x)", at: ["x": -1], expected: [-1], why: "1/x even where log is NaN"),
        Edge(source: "grad(abs(x), x), grad(relu(x), x), grad(maximum(x, 0), x)", at: ["x": 0], expected: [0, 0, 0.5],
             why: "abs'(0) = relu'(0) = 0; maximum ties split evenly"),
        Edge(source: "grad(abs(x), x), grad(relu(x), x), grad(maximum(x, 0), x)", at: ["x": -0.0], expected: [0, 0, 0.5],
             why: "-0 behaves as 0"),
        Edge(source: "grad(abs(x), x), grad(relu(x), x), grad(maximum(x, 0), x)", at: ["x": subnormal], expected: [1, 1, 1],
             why: "a subnormal is positive"),
        Edge(source: "grad(abs(x), x), grad(relu(x), x), grad(maximum(x, 0), x)", at: ["x": -subnormal], expected: [-1, 0, 0],
             why: "a negative subnormal is negative"),
        Edge(source: "grad(x^2, x), grad(grad(x^2, x), x)", at: ["x": 0], expected: [0, 2], why: "x² at 0"),
        Edge(source: "grad(x^0, x), grad(grad(x^0, x), x)", at: ["x": 0], expected: [0, 0], why: "x⁰ is constant, also at 0"),
        Edge(source: "grad(x^y, y), grad(grad(x^y, y), y)", at: ["x": 0, "y": 2], expected: [0, 0], why: "0^y is flat in y"),
        Edge(source: "grad(tanh(x) * x^2, x), hessian(tanh(x) * x^2, x)", at: ["x": -1e8], expected: [2e8, -2],
             why: "no overflow: tanh' underflows to exactly 0"),
        Edge(source: "grad(sqrt(x * x + y * y), x)", at: ["x": 0, "y": 0], expected: [.nan],
             why: "the norm at 0 has no derivative; 0·∞ propagates as NaN (documented)"),
    ]

    func testEdgePoints() throws {
        for e in Self.table {
            let params = e.at.keys.sorted().map { "\($0): f64" }.joined(separator: ", ")
            let source = "func f(\(params)) {\n  return \(e.source)\n}\n"
            let f = try XCTUnwrap(parseModule(source, file: "edge.ir").functions.last)
            let out = try evaluate(f, e.at.mapValues { Tensor($0) }).map { $0.scalar ?? .nan }
            XCTAssertEqual(out.count, e.expected.count, e.source)
            for (got, want) in zip(out, e.expected) {
                XCTAssertTrue(got == want || (got.isNaN && want.isNaN), "\(e.source) at \(e.at): got \(got), want \(want) (\(e.why))")
            }
        }
    }

    func vector(_ source: String, _ x: [Double]) throws -> [[Double]] {
        let f = try XCTUnwrap(parseModule("func f(x: f64[\(x.count)]) {\n  return \(source)\n}\n", file: "edge.ir").functions.last)
        return try evaluate(f, ["x": try XCTUnwrap(Tensor(x, shape: [x.count]))]).map(\.doubles)
    }

    func testMaxTiesAndNaN() throws {
        let ties = try vector("grad(max(x), x), grad(min(x), x)", [2, 2, 1, 1])
        XCTAssertEqual(ties[0], [0.5, 0.5, 0, 0])
        XCTAssertEqual(ties[1], [0, 0, 0.5, 0.5])
        let nan = try vector("max(x), grad(max(x), x)", [1, .nan, 3])
        XCTAssertTrue(nan[0][0].isNaN)
        XCTAssertTrue(nan[1].allSatisfy(\Double.isNaN), "a NaN maximum has a NaN gradient (documented)")
    }

    func testLogSumExpAndSoftmaxExtremes() throws {
        let allNegInf = try vector("logsumexp(x), grad(logsumexp(x), x)", [-.infinity, -.infinity])
        XCTAssertEqual(allNegInf[0], [-.infinity])
        XCTAssertTrue(allNegInf[1].allSatisfy(\Double.isNaN), "all −inf: −inf − (−inf) is NaN (documented)")
        let big = try vector("softmax(x), grad(sum(log_softmax(x) * x), x)", [1000, 0])
        XCTAssertEqual(big[0], [1, 0])
        XCTAssertTrue(big[1].allSatisfy(\Double.isFinite))
    }
}
