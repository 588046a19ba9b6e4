import Foundation
import GradIR
import GradRuntime
import XCTest

final class ElementwiseKernelTests: XCTestCase {
    let inf = Double.infinity
    let nan = Double.nan

    func testUnaryF64HandValues() throws {
        assertBits(try kernel(.neg, [f64([1, -0.0, 0, inf])]), f64([-1, 0, -0.0, -inf]))
        assertBits(try kernel(.abs, [f64([-2, -0.0, -inf, nan])]), f64([2, 0, inf, nan]))
        assertBits(try kernel(.sign, [f64([-3, 2, 0, -0.0, nan, -inf])]), f64([-1, 1, 0, -0.0, nan, -1]))
        assertBits(try kernel(.exp, [f64([0, -inf, inf])]), f64([1, 0, inf]))
        assertBits(try kernel(.log, [f64([1, 0, -1, inf])]), f64([0, -inf, nan, inf]))
        assertBits(try kernel(.log1p, [f64([0, -1, 1e-20])]), f64([0, -inf, 1e-20]))
        assertBits(try kernel(.expm1, [f64([0, 1e-20, -inf])]), f64([0, 1e-20, -1]))
        assertBits(try kernel(.sqrt, [f64([4, 0, -0.0, -1])]), f64([2, 0, -0.0, nan]))
        assertBits(try kernel(.rsqrt, [f64([4, 0, inf])]), f64([0.5, inf, 0]))
        assertBits(try kernel(.square, [f64([3, -0.0, -inf])]), f64([9, 0, inf]))
        assertBits(try kernel(.reciprocal, [f64([4, 0, -0.0, inf])]), f64([0.25, inf, -inf, 0]))
        assertBits(try kernel(.sin, [f64([0, -0.0])]), f64([0, -0.0]))
        assertBits(try kernel(.cos, [f64([0])]), f64([1]))
        assertBits(try kernel(.tan, [f64([0])]), f64([0]))
        assertBits(try kernel(.tanh, [f64([0, inf, -inf])]), f64([0, 1, -1]))
        assertBits(try kernel(.sigmoid, [f64([0, -1000, 1000, nan])]), f64([0.5, 0, 1, nan]))
        assertBits(try kernel(.relu, [f64([2, -3, 0, -0.0, nan, -inf])]), f64([2, 0, 0, 0, nan, 0]))
        assertBits(try kernel(.softplus, [f64([0, 1000, -1000, nan, inf, -inf])]), f64([Foundation.log1p(1.0), 1000, 0, nan, inf, 0]))
        assertBits(try kernel(.erf, [f64([0, inf, -inf])]), f64([0, 1, -1]))
        assertBits(try kernel(.floor, [f64([-1.5, 1.5, -0.0])]), f64([-2, 1, -0.0]))
        assertBits(try kernel(.ceil, [f64([-1.5, 1.5, -0.5])]), f64([-1, 2, -0.0]))
        // sigmoid(1) by its defining formula.
        assertBits(try kernel(.sigmoid, [f64([1])]), f64([1 / (1 + Foundation.exp(-1.0))]))
    }

    func testUnaryF32IsComputedInFloat() throws {
        let xs: [Float] = [0.1, -2.5, 3.7, 1e-3, 20]
        let x = f32(xs)
        assertBits(try kernel(.exp, [x]), f32(xs.map { expf($0) }))
        assertBits(try kernel(.log, [f32([0.1, 2.5, 3.7])]), f32([logf(0.1), logf(2.5), logf(3.7)]))
        assertBits(try kernel(.tanh, [x]), f32(xs.map { tanhf($0) }))
        assertBits(try kernel(.sigmoid, [x]), f32(xs.map { 1 / (1 + expf(-$0)) }))
        assertBits(try kernel(.softplus, [x]), f32(xs.map { ($0 > 0 ? $0 : 0) + log1pf(expf(-Swift.abs($0))) }))
        assertBits(try kernel(.erf, [x]), f32(xs.map { erff($0) }))
        assertBits(try kernel(.rsqrt, [f32([2, 3])]), f32([1 / sqrtf(2), 1 / sqrtf(3)]))
        assertBits(try kernel(.relu, [f32([-1, 2, -0.0])]), f32([0, 2, 0]))
        assertBits(try kernel(.sign, [f32([-1.5, -0.0])]), f32([-1, -0.0]))
        // Float arithmetic, not Double rounded: 0.1f·0.1f ≠ Float(0.1·0.1).
        assertBits(try kernel(.square, [f32([0.1])]), f32([Float(0.1) * Float(0.1)]))
    }

    func testBinaryBroadcasting() throws {
        // scalar + matrix
        assertBits(try kernel(.add, [scalar64(10), f64([1, 2, 3, 4], [2, 2])]), f64([11, 12, 13, 14], [2, 2]))
        // [3,1] + [1,4]
        let col = f64([0, 10, 20], [3, 1])
        let row = f64([1, 2, 3, 4], [1, 4])
        assertBits(try kernel(.add, [col, row]), f64([1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24], [3, 4]))
        // rank-different: [2,3] - [3]
        assertBits(try kernel(.sub, [f64([1, 2, 3, 4, 5, 6], [2, 3]), f64([1, 1, 1])]), f64([0, 1, 2, 3, 4, 5], [2, 3]))
        // [3] * [2,1]
        assertBits(try kernel(.mul, [f64([1, 2, 3]), f64([2, -1], [2, 1])]), f64([2, 4, 6, -1, -2, -3], [2, 3]))
        assertBits(try kernel(.div, [f64([1, -1, 0, 6]), f64([0, 0, 0, 3])]), f64([inf, -inf, nan, 2]))
        assertBits(try kernel(.pow, [f64([2, 0, -8, 4]), f64([10, 0, 1.0 / 3, 0.5])]), f64([1024, 1, nan, 2]))
        assertBits(try kernel(.atan2, [f64([1, 0, 0]), f64([1, -1, 1])]), f64([Double.pi / 4, Double.pi, 0]))
        assertBits(try kernel(.add, [f32([0.1]), f32([0.2])]), f32([Float(0.1) + Float(0.2)]))
    }

    func testMaximumMinimumEdges() throws {
        let a = f64([1, nan, 3, -0.0, 0, 2])
        let b = f64([nan, 1, 3, 0, -0.0, 5])
        assertBits(try kernel(.maximum, [a, b]), f64([nan, nan, 3, -0.0, 0, 5]))
        assertBits(try kernel(.minimum, [a, b]), f64([nan, nan, 3, -0.0, 0, 2]))
        assertBits(try kernel(.maximum, [f32([1, -Float.infinity]), f32([Float.nan, -1])]), f32([Float.nan, -1]))
    }

    func testIntegerOpsWrap() throws {
        let x = i64([Int64.min, -5, 0, 7, Int64.max])
        assertBits(try kernel(.neg, [x]), i64([Int64.min, 5, 0, -7, Int64.min + 1]))
        assertBits(try kernel(.abs, [x]), i64([Int64.min, 5, 0, 7, Int64.max]))
        assertBits(try kernel(.sign, [x]), i64([-1, -1, 0, 1, 1]))
        assertBits(try kernel(.square, [i64([3, -4, Int64(1) << 32])]), i64([9, 16, 0]))
        assertBits(try kernel(.relu, [x]), i64([0, 0, 0, 7, Int64.max]))
        assertBits(try kernel(.add, [i64([Int64.max, 1]), i64([1])]), i64([Int64.min, 2]))
        assertBits(try kernel(.sub, [i64([Int64.min]), i64([1])]), i64([Int64.max]))
        assertBits(try kernel(.mul, [i64([Int64.max, 3]), i64([2, -3])]), i64([-2, -9]))
        assertBits(try kernel(.maximum, [i64([1, 5]), i64([3, 2])]), i64([3, 5]))
        assertBits(try kernel(.minimum, [i64([1, 5]), i64([3, 2])]), i64([1, 2]))
    }

    func testComparisonsAndNaN() throws {
        let a = f64([1, 2, nan, 3])
        let b = f64([1, 3, nan, 2])
        assertBits(try kernel(.eq, [a, b]), bools([true, false, false, false]))
        assertBits(try kernel(.ne, [a, b]), bools([false, true, true, true]))
        assertBits(try kernel(.lt, [a, b]), bools([false, true, false, false]))
        assertBits(try kernel(.le, [a, b]), bools([true, true, false, false]))
        assertBits(try kernel(.gt, [a, b]), bools([false, false, false, true]))
        assertBits(try kernel(.ge, [a, b]), bools([true, false, false, true]))
        assertBits(try kernel(.eq, [f64([0]), f64([-0.0])]), bools([true]))
        // broadcast [2,1] vs [3]
        assertBits(try kernel(.lt, [i64([1, 2], [2, 1]), i64([0, 1, 2])]), bools([false, false, true, false, false, false], [2, 3]))
        assertBits(try kernel(.eq, [bools([true, false]), bools([true])]), bools([true, false]))
        assertBits(try kernel(.ne, [f32([Float.nan]), f32([Float.nan])]), bools([true]))
    }

    func testSelectBroadcastsAllThree() throws {
        let c = bools([true, false], [2, 1])
        let a = f64([1, 2, 3])
        let b = scalar64(-1)
        assertBits(try kernel(.select, [c, a, b]), f64([1, 2, 3, -1, -1, -1], [2, 3]))
        assertBits(try kernel(.select, [bools([false, true]), i64([1, 2]), i64([7, 8])]), i64([7, 2]))
        assertBits(try kernel(.select, [bools([true]), bools([false, false]), bools([true, true])]), bools([false, false]))
    }

    func testConstAndCast() throws {
        assertBits(try kernel(.const, [], [.dtype: .dtype(.f32), .shape: .ints([2]), .value: .float(0.1)]), f32([Float(0.1), Float(0.1)]))
        assertBits(try kernel(.const, [], [.dtype: .dtype(.f64), .shape: .ints([2, 1]), .values: .floats([1, -2])]), f64([1, -2], [2, 1]))
        assertBits(try kernel(.const, [], [.dtype: .dtype(.i64), .values: .ints([9_007_199_254_740_993]), .shape: .ints([1])]), i64([9_007_199_254_740_993]))
        assertBits(try kernel(.const, [], [.dtype: .dtype(.i64), .value: .float(-2.7)]), i64([-2], []))
        assertBits(try kernel(.const, [], [.dtype: .dtype(.bool), .values: .floats([0, 2, -0.0]), .shape: .ints([3])]), bools([false, true, false]))

        let edge = f64([1.9, -1.9, nan, inf, -inf, 1e300, -0.0, 9.3e18, -9.223372036854775808e18])
        assertBits(try kernel(.cast, [edge], [.dtype: .dtype(.i64)]), i64([1, -1, 0, 0, 0, 0, 0, 0, Int64.min]))
        assertBits(try kernel(.cast, [edge], [.dtype: .dtype(.bool)]), bools([true, true, true, true, true, true, false, true, true]))
        assertBits(try kernel(.cast, [bools([true, false])], [.dtype: .dtype(.f64)]), f64([1, 0]))
        assertBits(try kernel(.cast, [bools([true, false])], [.dtype: .dtype(.i64)]), i64([1, 0]))
        assertBits(try kernel(.cast, [f64([0.1, 1e40])], [.dtype: .dtype(.f32)]), f32([Float(0.1), Float.infinity]))
        assertBits(try kernel(.cast, [i64([(1 << 53) + 1, -3])], [.dtype: .dtype(.f64)]), f64([9_007_199_254_740_992, -3]))
        assertBits(try kernel(.cast, [f32([2.9, Float.nan, 1e20])], [.dtype: .dtype(.i64)]), i64([2, 0, 0]))
        assertBits(try kernel(.cast, [i64([0, -4])], [.dtype: .dtype(.bool)]), bools([false, true]))
    }

    func testScalarMathDirectly() {
        XCTAssertEqual(ScalarMath.toInt64(Double(Int64.max)), 0)  // 2^63 is out of range
        XCTAssertEqual(ScalarMath.toInt64(-0x1p63), Int64.min)
        XCTAssertEqual(ScalarMath.abs(Int64.min), Int64.min)
        XCTAssertEqual(ScalarMath.maximum(-0.0, 0.0).sign, .minus)
        XCTAssertEqual(ScalarMath.minimum(0.0, -0.0).sign, .plus)
        XCTAssertTrue(ScalarMath.relu(-0.0 as Float).sign == .plus)
    }

    /// The integer form of each elementwise op exists exactly where the type rules accept i64
    /// (the op table's `integers` trait) or the op is a comparison or `select`.
    func testIntegerFormsMatchTheOpTable() {
        for e in ElementwiseOp.allCases {
            XCTAssertEqual(e.hasIntegerForm, e.op.acceptsIntegers || e.isComparison || e == .select, "\(e)")
        }
    }

    /// `zmul`/`zdiv`: the ordinary product and quotient, except that a zero first operand wins
    /// over an infinite or NaN second one (keeping its sign).
    func testStrongZeroProductAndQuotient() {
        let nan = Double.nan, inf = Double.infinity
        for (a, b) in [(2.0, 3.0), (-0.0, 5.0), (0.0, -5.0), (1.0, inf), (inf, 0.0), (nan, 0.0), (nan, 1.0)] {
            XCTAssertEqual(ScalarMath.zmul(a, b).bitPattern, (a * b).bitPattern, "zmul(\(a), \(b))")
        }
        XCTAssertEqual(ScalarMath.zmul(0.0, inf).bitPattern, (0.0).bitPattern)
        XCTAssertEqual(ScalarMath.zmul(-0.0, nan).bitPattern, (-0.0).bitPattern)
        XCTAssertEqual(ScalarMath.zmul(Float(0), Float.nan), 0)
        for (a, b) in [(2.0, 3.0), (1.0, 0.0), (-1.0, -0.0), (0.0, inf), (nan, 0.0), (inf, inf)] {
            let q = a / b
            XCTAssertTrue(ScalarMath.zdiv(a, b).bitPattern == q.bitPattern || (q.isNaN && ScalarMath.zdiv(a, b).isNaN), "zdiv(\(a), \(b))")
        }
        XCTAssertEqual(ScalarMath.zdiv(0.0, 0.0).bitPattern, (0.0).bitPattern)
        XCTAssertEqual(ScalarMath.zdiv(-0.0, nan).bitPattern, (-0.0).bitPattern)
        XCTAssertEqual(ScalarMath.zdiv(Float(0), Float(-0.0)), 0)
    }
}
