import Foundation
import GradIR
import XCTest

/// Bad inputs, each pinned to its message and position.
final class ParserErrorTests: XCTestCase {
    struct Case {
        var source: String
        var line: Int
        var column: Int
        var message: String
    }

    static let cases: [Case] = [
        Case(source: "func f(x: f64[32,64], w: f64[32,10]) {\n  y = x @ w\n  return y\n}\n", line: 2, column: 9,
             message: "shape mismatch in matmul: f64[32,64] @ f64[32,10]"),
        Case(source: "func f(x: f64) {\n  return x + q\n}\n", line: 2, column: 14, message: "use of undefined name 'q'"),
        Case(source: "func f(x: f64) {\n  y = frobnicate(x)\n  return y\n}\n", line: 2, column: 7, message: "unknown op or function 'frobnicate'"),
        Case(source: "func f(x: f64) {\n  y = exp(x\n  return y\n}\n", line: 3, column: 3, message: "expected ',' or ')', found 'return'"),
        Case(source: "func f(x: f64[3]) {\n  return sum(x, axes=1)\n}\n", line: 2, column: 22,
             message: "invalid attribute 'axes' of sum: expected a list of integers like [0,1]"),
        Case(source: "func f(x: f64[3]) {\n  return sum(x, foo=1)\n}\n", line: 2, column: 17, message: "sum has no attribute 'foo'"),
        Case(source: "func f(x: f64[3]) {\n  return concat(x)\n}\n", line: 2, column: 10, message: "concat needs the attribute 'axis'"),
        Case(source: "func f(x: f64) {\n  y = sigmoid(x)\n  return y", line: 3, column: 11,
             message: "expected '}' after the return statement, found end of file"),
        Case(source: "func f(x: f64) {\n  return x\u{0}\n}\n", line: 2, column: 11, message: "unexpected NUL byte"),
        Case(source: "func f(x: f64[4294967296,4294967296]) {\n  return x\n}\n", line: 1, column: 11,
             message: "invalid shape: f64[4294967296,4294967296] (dimensions must be ≥ 0, rank ≤ 16, at most 1099511627776 elements)"),
        Case(source: "func f(x: f64[99999999999999999999]) {\n  return x\n}\n", line: 1, column: 15,
             message: "expected an integer from -9223372036854775808 to 9223372036854775807, found '99999999999999999999'"),
        Case(source: "func f(x: f64, y: f64) {\n  a, b, c = grad(x * y, x, y)\n  return a\n}\n", line: 2, column: 11,
             message: "grad gives 2 values but 3 names are bound"),
        Case(source: "func f(x: f64, n: i64) {\n  return grad(x, n)\n}\n", line: 2, column: 10,
             message: "grad with respect to a value of type i64: only f32 and f64 values can be differentiated"),
        Case(source: "func f(x: f64[3]) {\n  return grad(x, x)\n}\n", line: 2, column: 10, message: "grad needs a scalar to differentiate, got f64[3]"),
        Case(source: "func f(x: f65) {\n  return x\n}\n", line: 1, column: 11, message: "unknown type 'f65': expected f32, f64, i64 or bool"),
        Case(source: "func f(x: f64) {\n  return g(x)\n}\nfunc g(x: f64) {\n  return x\n}\n", line: 2, column: 10, message: "no function named 'g'"),
        Case(source: "func f(x: f64, x: f64) {\n  return x\n}\n", line: 1, column: 16, message: "'x' is already defined"),
        Case(source: "func f(x: f64) {\n  y: f32 = x + 1\n  return y\n}\n", line: 2, column: 6,
             message: "declared type f32 does not match the inferred type f64"),
        Case(source: "func f(x: f64) {\n  y = x * 2\n}\n", line: 3, column: 1, message: "function 'f' has no 'return' statement"),
        Case(source: "func f(x: f64[2,3], y: f64[3,2]) {\n  return x + y\n}\n", line: 2, column: 12, message: "shape mismatch in add: f64[2,3] + f64[3,2]"),
        Case(source: "func f(x: f64, y: f32) {\n  return x * y\n}\n", line: 2, column: 12, message: "dtype mismatch in mul: f64 * f32"),
        Case(source: "func f(x: f64) {\n  return x < 1 < 2\n}\n", line: 2, column: 16,
             message: "expected the end of the comparison (comparisons do not chain), found '<'"),
        Case(source: "func f(x: f64[4]) {\n  return x[4]\n}\n", line: 2, column: 12, message: "expected an index in -4..<4 for axis 0 of f64[4], found 4"),
        Case(source: "func f(x: f64[4]) {\n  return x[::0]\n}\n", line: 2, column: 12, message: "expected a positive slice step, found 0"),
        Case(source: "func f(x: f64[4]) {\n  return x[1, 2]\n}\n", line: 2, column: 11, message: "expected at most 1 index for a value of type f64[4], found 2"),
        Case(source: "func f(x: f64, y: f64) {\n  return exp(grad(x * y, x, y))\n}\n", line: 2, column: 14,
             message: "expected a single value, found the 2 results of grad (assign them to several names, or pick one with [k])"),
        Case(source: "func g(a: f64[2]) {\n  return a\n}\nfunc f(x: f64[3]) {\n  return g(x)\n}\n", line: 5, column: 12,
             message: "input 'a' expects f64[2], got f64[3]"),
        Case(source: "func f(x: f64) {\n  return x + 1e999\n}\n", line: 2, column: 14, message: "invalid number '1e999'"),
        Case(source: "func f(x: i64) {\n  return x + 123456789012345678901234567890\n}\n", line: 2, column: 14,
             message: "const: 123456789012345678901234567890 does not fit in i64 (integers from -9223372036854775808 to 9223372036854775807)"),
        // i64 values are exact: out of range or not an integer is an error, never a rounded value.
        Case(source: "func f(x: f64) {\n  return fill(value=9223372036854775808, dtype=i64)\n}\n", line: 2, column: 21,
             message: "const: 9223372036854775808 does not fit in i64 (integers from -9223372036854775808 to 9223372036854775807)"),
        Case(source: "func f(x: f64) {\n  return const(dtype=i64, shape=[2], values=[1, -9223372036854775809])\n}\n", line: 2, column: 45,
             message: "const: -9223372036854775809 does not fit in i64 (integers from -9223372036854775808 to 9223372036854775807)"),
        Case(source: "func f(x: f64) {\n  return const(dtype=i64, value=3.0000000000000001)\n}\n", line: 2, column: 33,
             message: "const: 3.0000000000000001 is not an integer, but an i64 value is needed here"),
        Case(source: "func f(x: f64) {\n  return fill(value=nan, dtype=i64)\n}\n", line: 2, column: 21,
             message: "const: nan is not an integer, but an i64 value is needed here"),
        Case(source: "func f(n: i64) {\n  return n - -9223372036854775809\n}\n", line: 2, column: 14,
             message: "const: -9223372036854775809 does not fit in i64 (integers from -9223372036854775808 to 9223372036854775807)"),
        Case(source: "func f(x: f64[3]) {\n  return sum(x, axis=99999999999999999999)\n}\n", line: 2, column: 22,
             message: "invalid attribute 'axis' of sum: expected an integer from -9223372036854775808 to 9223372036854775807"),
        Case(source: "func f(x: f64[3]) {\n  return x[9223372036854775808]\n}\n", line: 2, column: 12,
             message: "expected an integer from -9223372036854775808 to 9223372036854775807, found '9223372036854775808'"),
        // bool values are 0 or 1 (or true/false), never "anything but 0".
        Case(source: "func f(b: bool) {\n  return b == 2\n}\n", line: 2, column: 15,
             message: "const: 2 is neither 0 nor 1, but a bool value is needed here"),
        Case(source: "func f(x: f64) {\n  return const(dtype=bool, value=0.5)\n}\n", line: 2, column: 34,
             message: "const: 0.5 is neither 0 nor 1, but a bool value is needed here"),
        Case(source: "func f(x: f64) {\n  return x $ 2\n}\n", line: 2, column: 12, message: "unexpected character '$'"),
        Case(source: "", line: 1, column: 1, message: "expected at least one 'func' definition"),
        Case(source: "# only a comment\n", line: 1, column: 1, message: "expected at least one 'func' definition"),
        Case(source: "func f(x: f64) {\n  return reshape(x, shape=[2, -1])\n}\n", line: 2, column: 10,
             message: "invalid attribute 'shape' of reshape: expected one -1 and dimensions whose product divides 1 (the size of f64), got [2,-1]"),
        Case(source: "func f(x: f64[3]) -> (f64[3], f64) {\n  return x\n}\n", line: 2, column: 3, message: "expected 2 results as declared after '->', found 1"),
        Case(source: "func f(x: f64[3]) -> f64 {\n  return x\n}\n", line: 1, column: 22, message: "declared type f64 does not match the inferred type f64[3]"),
        Case(source: "func f(x: f64) {\n  return const(value=1)\n}\n", line: 2, column: 10, message: "const needs the attribute 'dtype'"),
        Case(source: "func f(x: f64) {\n  return zeros(shape=[2], dtype=3)\n}\n", line: 2, column: 33,
             message: "invalid attribute 'dtype' of zeros: expected f32, f64, i64 or bool"),
        Case(source: "func f(x: f64) {\n  return input(x)\n}\n", line: 2, column: 10, message: "unknown op or function 'input'"),
        Case(source: "func f(x: f64) {\n  return x\n}\nfunc f(y: f64) {\n  return y\n}\n", line: 4, column: 6, message: "function 'f' is already defined"),
        Case(source: "func f(x: f64[3]) {\n  return grad(sum(x), x)[1]\n}\n", line: 2, column: 26,
             message: "expected an index in 0..<1 for the results of grad, found 1"),
        Case(source: "func f(x: i64) {\n  return x + 1.5\n}\n", line: 2, column: 14,
             message: "const: 1.5 is not an integer, but an i64 value is needed here"),
        Case(source: "func f(x: f64) {\n  return exp(x, x)\n}\n", line: 2, column: 10, message: "exp takes 1 operand, got 2"),
        Case(source: "func f(x: f64) {\n  return 1x\n}\n", line: 2, column: 10, message: "invalid number '1x'"),
        Case(source: "func f(x: f64)\n", line: 1, column: 15, message: "expected '{', found end of line"),
        Case(source: "fun f(x: f64) {\n}\n", line: 1, column: 1, message: "expected 'func', found 'fun'"),
        Case(source: "func f(x: f64) {\n  return x as %y\n}\n", line: 2, column: 15, message: "expected an output name, found '%y'"),
        Case(source: "func f(x: f64) {\n  y = x\n  return y,\n}\n", line: 3, column: 12, message: "expected an expression, found end of line"),
        Case(source: "func add(x: f64) {\n  return x\n}\n", line: 1, column: 6, message: "expected a function name that is not an op, found 'add'"),
        Case(source: "func f(x: f64[2]) {\n  a = x\n  a, b = a\n  return a\n}\n", line: 3, column: 8, message: "a gives 1 value but 2 names are bound"),
        Case(source: "func f(x: f64[2]) {\n  return softmax(x, axis=1.5)\n}\n", line: 2, column: 26,
             message: "invalid attribute 'axis' of softmax: expected an integer"),
        Case(source: "func f(x: f64[2]) {\n  return fill(shape=[2])\n}\n", line: 2, column: 10, message: "fill needs the attribute 'value'"),
        Case(source: "func f(x: f64[2]) {\n  return grad(x)\n}\n", line: 2, column: 10, message: "grad takes at least 2 operands, got 1"),
        Case(source: "func f(x: f64[2]) {\n  return sum(x, axis=0, axis=0)\n}\n", line: 2, column: 25, message: "'axis' is already defined"),
        Case(source: "func f(x: f64[2]) {\n  return x[0:1 2]\n}\n", line: 2, column: 16, message: "expected ',' or ']', found '2'"),
        Case(source: "func f(x: f64) {\n  return func\n}\n", line: 2, column: 10, message: "expected an expression, found 'func'"),
        Case(source: "func f(x: f64) {\n  return x\n  y = x\n}\n", line: 3, column: 3, message: "expected '}' after the return statement, found 'y'"),
        Case(source: "func f(x: f64[3], i: f64) {\n  return one_hot(i, depth=3)\n}\n", line: 2, column: 10,
             message: "one_hot does not accept f64: expected i64 labels"),
    ]

    func testPinnedMessagesAndPositions() {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 25)
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

    func testRenderedDiagnostic() {
        let src = "func f(x: f64[32,64], w: f64[32,10]) {\n  y = x @ w\n  return y\n}\n"
        XCTAssertThrowsError(try parseModule(src, file: "model.ir")) { e in
            XCTAssertEqual("\(e)", "model.ir:2:9: error: shape mismatch in matmul: f64[32,64] @ f64[32,10]\n  y = x @ w\n        ^")
        }
    }

    func testInvalidUTF8IsLocated() {
        let bytes: [UInt8] = Array("func f(x: f64) {\n  return x # ".utf8) + [0xC3, 0x28] + Array("\n}\n".utf8)
        XCTAssertThrowsError(try parseModule(bytes: bytes, file: "u.ir")) { e in
            guard let d = e as? Diagnostic else { return XCTFail("not a Diagnostic") }
            XCTAssertEqual(d.kind, .invalidUTF8)
            XCTAssertEqual(d.location, SourceLocation(line: 2, column: 14))
            assertComplete(d, "utf8")
        }
        for bad: [UInt8] in [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            let input = Array("func f(x: f64) {\n  y = ".utf8) + bad
            XCTAssertThrowsError(try parseModule(bytes: input, file: "u.ir")) { e in
                XCTAssertEqual((e as? Diagnostic)?.kind, .invalidUTF8)
                XCTAssertEqual((e as? Diagnostic)?.location, SourceLocation(line: 2, column: 7))
            }
        }
        // Valid non-ASCII in a comment is fine; outside a comment it is an unexpected character.
        XCTAssertNoThrow(try parseModule("# σ(x) — ok\nfunc f(x: f64) {\n  return x\n}\n"))
        XCTAssertThrowsError(try parseModule("func f(x: f64) {\n  return σ(x)\n}\n")) { e in
            XCTAssertEqual((e as? Diagnostic)?.message, "unexpected character 'σ'")
            XCTAssertEqual((e as? Diagnostic)?.location, SourceLocation(line: 2, column: 10))
        }
    }

    func testNulByteInBytes() {
        let bytes = Array("func f(x: f64) {\n  return x\n}\n".utf8) + [0] + Array("\n".utf8)
        XCTAssertThrowsError(try parseModule(bytes: bytes, file: "n.ir")) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .nulByte)
            XCTAssertEqual((e as? Diagnostic)?.location, SourceLocation(line: 4, column: 1))
        }
    }

    func testNestingLimit() {
        let n = 100_000
        let inputs = [
            "func f(x: f64) {\n  return " + String(repeating: "(", count: n) + "x" + String(repeating: ")", count: n) + "\n}\n",
            "func f(x: f64) {\n  return " + String(repeating: "-", count: n) + "x\n}\n",
            "func f(x: f64) {\n  return x" + String(repeating: "^x", count: n) + "\n}\n",
            "func f(x: f64) {\n  return " + String(repeating: "exp(", count: n) + "x" + String(repeating: ")", count: n) + "\n}\n",
            "func f(x: f64) {\n  return " + String(repeating: "(", count: n),
        ]
        for src in inputs {
            XCTAssertThrowsError(try parseModule(src, file: "deep.ir")) { e in
                XCTAssertEqual((e as? Diagnostic)?.kind, .nestingTooDeep(limit: 256))
                XCTAssertEqual((e as? Diagnostic)?.location.line, 2)
            }
        }
        // 200 levels are fine.
        let ok = "func f(x: f64) {\n  return " + String(repeating: "(", count: 200) + "x" + String(repeating: ")", count: 200) + "\n}\n"
        XCTAssertNoThrow(try parseModule(ok))
        // Just under the limit, the deepest frames (calls: eight parser frames a level) fit:
        // 255 levels of exp( took the whole 8 MiB main-thread stack of a debug build.
        let deepCalls = "func f(x: f64) {\n  return " + String(repeating: "exp(", count: 255) + "x" + String(repeating: ")", count: 255) + "\n}\n"
        XCTAssertNoThrow(try parseModule(deepCalls))
    }
}
