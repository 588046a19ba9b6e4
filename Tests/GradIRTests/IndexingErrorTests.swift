import Foundation
import GradIR
import XCTest

/// Bad uses of the indexing and integer ops (issue 16), each pinned to its message and
/// position, checked like `ParserErrorTests`.
final class IndexingErrorTests: XCTestCase {
    typealias Case = ParserErrorTests.Case

    /// `func f(PARAMS) {\n  return BODY\n}\n`: the op called first in BODY is at column 10.
    static func body(_ params: String, _ body: String, column: Int = 10, _ message: String) -> Case {
        Case(source: "func f(\(params)) {\n  return \(body)\n}\n", line: 2, column: column, message: message)
    }

    static let cases: [Case] = [
        body("x: f64[3,2], i: f64[2]", "take(x, i, axis=0)", "take does not accept f64[2]: expected i64 indices"),
        body("x: f64[3,2], i: i64[2]", "take(x, i)", "take needs the attribute 'axis'"),
        body("x: f64[3,2], i: i64[2]", "take(x, i, axis=2)", "invalid attribute 'axis' of take: expected an axis in -2..<2"),
        body("x: f64[3,2], i: i64[2]", "take(x, i, axis=-3)", "invalid attribute 'axis' of take: expected an axis in -2..<2"),
        body("x: f64[3,2], i: i64[2]", "take(x, i, axis=0.5)", column: 26, "invalid attribute 'axis' of take: expected an integer"),
        body("x: f64, i: i64[2]", "take(x, i, axis=0)", "take: needs a tensor with an axis to index, got f64"),
        body("x: f64[3,2], i: i64[2]", "take(x, axis=0)", "take takes 2 operands, got 1"),
        body("x: f64[1000000,1000], i: i64[2000000000]", "take(x, i, axis=0)",
             "invalid shape: [2000000000, 1000] (dimensions must be ≥ 0, rank ≤ 16, at most 1099511627776 elements)"),
        body("x: f64[3,2], i: i64[3]", "take_along_axis(x, i, axis=1)",
             "take_along_axis: indices i64[3] must have the rank of f64[3,2] and its length on every axis but axis 1"),
        body("x: f64[3,2], i: i64[2,5]", "take_along_axis(x, i, axis=1)",
             "take_along_axis: indices i64[2,5] must have the rank of f64[3,2] and its length on every axis but axis 1"),
        body("b: f64[5,3], i: i64[4], u: f64[3,3]", "scatter_add(b, i, u, axis=0)",
             "scatter_add: updates must have shape [4,3] (base.shape[:axis] + idx.shape + base.shape[axis+1:], like take's result) for base f64[5,3], indices i64[4] and axis 0, got f64[3,3]"),
        body("b: f64[5,3], i: i64[2,2], u: f64[5,4]", "scatter_add(b, i, u, axis=1)",
             "scatter_add: updates must have shape [5,2,2] (base.shape[:axis] + idx.shape + base.shape[axis+1:], like take's result) for base f64[5,3], indices i64[2,2] and axis 1, got f64[5,4]"),
        body("b: f64[5], i: i64[2], u: f32[2]", "scatter_add(b, i, u, axis=0)", "dtype mismatch in scatter_add: f64[5], f32[2]"),
        body("b: bool[5], i: i64[2], u: bool[2]", "scatter_add(b, i, u, axis=0)", "scatter_add does not accept bool[5]: expected f32, f64 or i64"),
        body("b: f64[5], i: f64[2], u: f64[2]", "scatter_add(b, i, u, axis=0)", "scatter_add does not accept f64[2]: expected i64 indices"),
        body("b: f64[3,4], i: i64[3,2], u: f64[3,4]", "scatter_add_along_axis(b, i, u, axis=1)",
             "scatter_add_along_axis: updates must have shape [3,2] (the shape of the indices) for base f64[3,4], indices i64[3,2] and axis 1, got f64[3,4]"),
        body("x: f64", "iota(shape=[3], dtype=bool)", "invalid attribute 'dtype' of iota: expected i64, f32 or f64, got bool"),
        body("x: f64", "iota(axis=0)", "iota needs the attribute 'shape'"),
        body("x: f64", "iota(shape=[])", "invalid attribute 'shape' of iota: expected at least one dimension"),
        body("x: f64", "iota(shape=[2,3], axis=2)", "invalid attribute 'axis' of iota: expected an axis in -2..<2"),
        body("x: f64[2]", "iota(x, shape=[2])", "iota takes 0 operands, got 1"),
        body("x: bool[3]", "argmax(x)", "argmax does not accept bool[3]: expected f32, f64 or i64"),
        body("x: f64[0,3]", "argmax(x, axis=0)", "argmax: axis 0 of f64[0,3] is empty, so it has no maximum"),
        body("x: f64[0,3]", "argmin(x)", "argmin: axis 0 of f64[0,3] is empty, so it has no minimum"),
        body("x: f64[3]", "argmax(x, axis=1)", "invalid attribute 'axes' of argmax: expected distinct axes in -1..<1"),
        body("x: bool[3], y: bool[3]", "floordiv(x, y)", "floordiv does not accept bool[3]: expected f32, f64 or i64"),
        body("x: i64[3], y: f64[3]", "mod(x, y)", "dtype mismatch in mod: i64[3], f64[3]"),
        body("x: f64", "[[1, 2], [3]]", column: 19, "expected a row of shape [2] like the first (a tensor literal is rectangular), found shape [1]"),
        body("x: f64", "[1, [2]]", column: 14, "expected a number like the other elements, found a row"),
        body("x: f64", "[[1, 2], 3]", column: 19, "expected a row '[…]' like the other elements, found '3'"),
        body("x: f64", "[x]", column: 11, "expected a number or a row '[…]' of the tensor literal, found 'x'"),
        body("i: i64[2]", "i + [9007199254740993, 1]", column: 14, "const: 9007199254740993 is not an integer of magnitude ≤ 2⁵³, but an i64 tensor literal is needed here"),
        body("x: f64[3]", "x[1.5]", column: 12, "expected an integer index, found '1.5'"),
        body("i: i64[2]", "i + [1, 2.5]", column: 14, "const: 2.5 is not an integer of magnitude ≤ 2⁵³, but an i64 tensor literal is needed here"),
        body("x: f64[2], y: f64[3]", "stack(x, y)", column: 19, "expected an operand of shape [2] like the first (stack joins values of one shape), found f64[3]"),
        body("x: f64[2]", "stack(x, x, axis=2)", "invalid attribute 'axis' of stack: expected an axis in -2..<2"),
        body("x: f64[3], i: f64", "x[i]", column: 12, "expected an integer index, a slice like 1:3 or an i64 tensor of indices, found f64"),
        body("x: f64[3,2], i: i64[2]", "x[i, i]", column: 15, "expected at most one tensor of indices (apply take twice for more), found a second one"),
        body("x: f64[3,2], i: i64[2]", "grad(sum(take(x, i, axis=0)), i)",
             "grad with respect to a value of type i64[2]: only f32 and f64 values can be differentiated"),
    ]

    func testPinnedMessagesAndPositions() {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 15)
        for c in Self.cases {
            do {
                _ = try parseModule(c.source, file: "t.ir")
                XCTFail("no error for \(c.source.debugDescription)")
            } catch {
                XCTAssertEqual(error.message, c.message, c.source.debugDescription)
                XCTAssertEqual(error.location, SourceLocation(line: c.line, column: c.column), c.source.debugDescription)
                assertComplete(error, c.source.debugDescription)
                XCTAssertTrue(error.description.hasPrefix("t.ir:\(c.line):\(c.column): error: \(c.message)\n"), error.description)
            }
        }
    }

    /// The ops are called by name like every op (no parser change): each parses and
    /// round-trips through the canonical form.
    func testIndexingOpsParseAndRoundTrip() throws {
        let src = """
            func f(x: f64[3,2], i: i64[4], j: i64[3,1], n: i64[4]) {
              t = take(x, i, axis=0)
              a = take_along_axis(x, j, axis=-1)
              s = scatter_add(x, i, t, axis=0)
              s2 = scatter_add_along_axis(x, j, a, axis=1)
              k = iota(shape=[2,3], axis=-1, dtype=f32)
              m = argmax(x, axis=1) + argmin(x, axes=[0, 1], keepdims=true)
              q = floordiv(n, 3) + mod(n, -2)
              return t, a, s, s2, k, m, q
            }
            """
        let m = try parseModule(src, file: "t.ir")
        let printed = printModule(m)
        XCTAssertEqual(printModule(try parseModule(printed, file: "canonical")), printed)
        for op in ["take", "take_along_axis", "scatter_add", "scatter_add_along_axis", "iota", "argmax", "argmin", "floordiv", "mod"] {
            XCTAssertTrue(printed.contains("= \(op)("), "\(op) in\n\(printed)")
        }
        XCTAssertTrue(printed.contains("take_along_axis(x, j, axis=1)"), "axis normalized against the data operand:\n\(printed)")
    }
}
