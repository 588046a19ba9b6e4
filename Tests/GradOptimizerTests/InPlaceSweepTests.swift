import Grad
import TestSupport
import XCTest

/// The local sweep rewrites the node array in place: nodes a rule emits take the free slots
/// that removed nodes left; with none free, the next old node is moved aside (and still seen
/// in order), and a graph that outgrows the array continues past its end. These tests make
/// the graph grow at every node, so every one of those paths runs.
final class InPlaceSweepTests: XCTestCase {
    /// `k` sums of broadcasts of x, each to a different size; with `--fast-math` each becomes
    /// `x · n` (a new constant and a `mul` for one `sum`), so the graph grows by one node per
    /// sum while no earlier node was removed.
    func growingSource(_ k: Int) -> String {
        var text = "func f(x: f64[3]) {\n"
        for i in 0..<k {
            text += "  b\(i) = broadcast_to(x, shape=[\(i + 2),3])\n"
            text += "  s\(i) = sum(b\(i), axes=[0])\n"
        }
        text += "  return " + (0..<k).map { "s\($0)" }.joined(separator: ", ") + "\n}\n"
        return text
    }

    func testGraphThatGrowsAtEveryNodeKeepsItsValues() throws {
        let k = 40
        let f = try XCTUnwrap(parseExpanded(growingSource(k)).functions.first)
        let options = OptimizerOptions(level: 2, fastMath: true, verify: true)
        let o = try optimize(f, options: options)
        // Every sum became a mul by its count: no sum or broadcast is left.
        XCTAssertEqual(o.nodes.filter { $0.op == .mul }.count, k)
        XCTAssertFalse(o.nodes.contains { $0.op == .sum || $0.op == .broadcast_to })
        // x = [1, 2, 3]: s_i = (i + 2)·x exactly, so a mixed-up operand shows.
        let outputs = try ReferenceEvaluator.run(o, inputs: ["x": Tensor(.f64([1, 2, 3]), shape: [3]) ?? Tensor(0)])
        XCTAssertEqual(outputs.count, k)
        for (i, t) in outputs.enumerated() {
            let n = Double(i + 2)
            XCTAssertEqual(t.doubles, [n, 2 * n, 3 * n], "s\(i)")
        }
        // Already at the fixpoint: another run changes nothing.
        XCTAssertEqual(try optimize(o, options: options), o)
    }

    /// A caller that keeps its function (its node array shared with the optimizer's copy)
    /// still has it unchanged afterwards: the in-place sweep writes to storage of its own.
    func testKeptInputIsLeftUntouched() throws {
        let f = try XCTUnwrap(parseExpanded(growingSource(6)).functions.first)
        let before = printFunction(f)
        let o = try optimize(f, options: OptimizerOptions(level: 2, fastMath: true, verify: true))
        XCTAssertEqual(printFunction(f), before)
        XCTAssertNotEqual(printFunction(o), before, "the optimizer did change its own copy")
        // Handed over (nothing else holds its nodes), the same function optimizes to the same.
        let fresh = try XCTUnwrap(parseExpanded(growingSource(6)).functions.first)
        XCTAssertEqual(try optimize(consume fresh, options: OptimizerOptions(level: 2, fastMath: true, verify: true)), o)
    }

    /// The same rewrite one pass at a time (`--passes=shapes`): the sweep of a lone pass takes
    /// the same in-place path.
    func testSinglePassGrowsInPlaceToo() throws {
        let k = 12
        let f = try XCTUnwrap(parseExpanded(growingSource(k)).functions.first)
        let o = try runOptimizerPass(.shapes, on: f, fastMath: true)
        XCTAssertEqual(o.nodes.filter { $0.op == .mul }.count, k)
        XCTAssertEqual(o.nodes.filter { $0.op == .const }.count, k)
        let x = Tensor(.f64([0.5, -2, 7]), shape: [3]) ?? Tensor(0)
        let expected = try ReferenceEvaluator.run(f, inputs: ["x": x])
        let got = try ReferenceEvaluator.run(o, inputs: ["x": x])
        XCTAssertEqual(got.map(\.doubles), expected.map(\.doubles))
    }
}
