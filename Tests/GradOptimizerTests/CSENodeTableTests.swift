import Grad
@testable import GradOptimizer
import TestSupport
import XCTest

/// CSE files nodes with attributes or more than two operands in `NodeTable` (structural
/// hashes and ids into the graph being rebuilt, no copies of nodes). These tests check that
/// it merges exactly the nodes `Node.==` calls equal, through the table's growth.
final class CSENodeTableTests: XCTestCase {
    /// `reads` element reads of x cycling over its `n` elements (each element read several
    /// times), summed: CSE leaves one slice (and one reshape) per element.
    func elementReads(n: Int, reads: Int) -> String {
        let terms = (0..<reads).map { "x[\($0 % n)]" }
        return "func f(x: f64[\(n)]) {\n  s = " + terms.joined(separator: " + ") + "\n  return s\n}\n"
    }

    func testEqualSlicesMergeThroughGrowth() throws {
        let (n, reads) = (700, 3000)  // far past the table's initial 16 slots
        let f = try XCTUnwrap(parseExpanded(elementReads(n: n, reads: reads)).functions.first)
        XCTAssertEqual(f.nodes.filter { $0.op == .slice }.count, reads)
        let o = try optimize(f, options: testOptions([.cse, .dce]))
        XCTAssertEqual(o.nodes.filter { $0.op == .slice }.count, n)
        XCTAssertEqual(o.nodes.filter { $0.op == .reshape }.count, n)
        // No two kept nodes are equal, and every slice start is still there once.
        XCTAssertEqual(Set(o.nodes.filter { $0.op != .input }).count, o.nodes.count - 1)
        XCTAssertEqual(Set(o.nodes.compactMap { $0.op == .slice ? $0.attrs.start : nil }), Set((0..<n).map { [$0] }))
        let x = Tensor(.f64((0..<n).map(Double.init)), shape: [n]) ?? Tensor(0)
        let expected = (0..<reads).reduce(0.0) { $0 + Double($1 % n) }
        XCTAssertEqual(try ReferenceEvaluator.run(o, inputs: ["x": x])[0].doubles, [expected])
    }

    /// Nodes that differ only in an attribute, in the type or in the order of a
    /// non-commutative op's operands stay apart; a repeated long `concat` merges.
    func testOnlyEqualNodesMerge() throws {
        let text = """
        func f(x: f64[4], y: f64[4]) {
          a = reshape(x, shape=[2,2])
          b = reshape(x, shape=[4,1])
          c = reshape(x, shape=[2,2])
          d = concat(x, y, x, y, axis=0)
          e = concat(x, y, x, y, axis=0)
          g = concat(y, x, x, y, axis=0)
          h = cast(x, dtype=f32)
          k = cast(x, dtype=i64)
          return a, b, c, d, e, g, h, k
        }
        """
        let f = try XCTUnwrap(parseExpanded(text).functions.first)
        let o = try runOptimizerPass(.cse, on: f)
        let value = { (name: String) -> ValueID in o.outputs.first { $0.name == name }?.value ?? -1 }
        let names = o.outputs.map(\.name)
        XCTAssertEqual(names.count, 8)
        let (a, b, c, d, e, g, h, k) = (value(names[0]), value(names[1]), value(names[2]), value(names[3]),
                                        value(names[4]), value(names[5]), value(names[6]), value(names[7]))
        XCTAssertEqual(a, c)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(d, e)
        XCTAssertNotEqual(d, g)
        XCTAssertNotEqual(h, k)
    }

    /// The structural hash agrees with `Node.==`: equal nodes (a commutative op's operands in
    /// either order) hash alike; role and location are not part of it.
    func testStructuralHashFollowsEquality() {
        let scalar = TensorType(.f64)
        var attrs = Attributes()
        attrs[.axis] = .int(0)
        let concat = Node(op: .concat, inputs: [1, 2, 3, 4], attrs: attrs, type: TensorType(.f64, [4]))
        var moved = concat
        moved.role = .gradient
        moved.location = SourceLocation(line: 3, column: 1)
        XCTAssertEqual(concat, moved)
        XCTAssertEqual(NodeTable.hash(concat), NodeTable.hash(moved))
        var other = concat
        other.inputs = [1, 2, 4, 3]
        XCTAssertNotEqual(NodeTable.hash(concat), NodeTable.hash(other))
        // `add` with attributes never occurs, but the table's rule for commutative ops is general.
        let ab = Node(op: .add, inputs: [5, 9], attrs: attrs, type: scalar)
        let ba = Node(op: .add, inputs: [9, 5], attrs: attrs, type: scalar)
        XCTAssertEqual(NodeTable.hash(ab), NodeTable.hash(ba))
        let sub = Node(op: .sub, inputs: [9, 5], attrs: attrs, type: scalar)
        XCTAssertNotEqual(NodeTable.hash(sub), NodeTable.hash(Node(op: .sub, inputs: [5, 9], attrs: attrs, type: scalar)))
        // Attribute values by bit pattern: −0 and +0 differ, as in `AttrValue.==`.
        var zero = Attributes()
        zero[.value] = .float(0)
        var negativeZero = Attributes()
        negativeZero[.value] = .float(-0.0)
        XCTAssertNotEqual(NodeTable.hash(Node(op: .neg, inputs: [1], attrs: zero, type: scalar)),
                          NodeTable.hash(Node(op: .neg, inputs: [1], attrs: negativeZero, type: scalar)))
    }
}
