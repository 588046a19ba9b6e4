import Foundation
import GradIR
import GradRuntime
import XCTest

/// Hand-computed values of the integer and indexing ops (issue 16): floor division and modulo
/// with NumPy's sign convention, take/scatter_add/iota/argmax and their edge cases.
final class IndexKernelTests: XCTestCase {
    let inf = Double.infinity
    let nan = Double.nan

    // MARK: floordiv, mod

    /// The values NumPy 2.4 gives for `np.floor_divide` / `np.mod` on int64.
    func testIntegerFloorDivisionAndModuloFollowNumPy() throws {
        let a = i64([7, -7, 7, -7, 0, 5, -5, .min, .min, .max, 6, -6])
        let b = i64([2, 2, -2, -2, 3, 0, 0, -1, 1, -1, 3, 3])
        assertBits(try kernel(.floordiv, [a, b]), i64([3, -4, -4, 3, 0, 0, 0, .min, .min, -Int64.max, 2, -2]))
        assertBits(try kernel(.mod, [a, b]), i64([1, 1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0]))
        // a == b·floordiv(a, b) + mod(a, b) wherever b ≠ 0 (wrapping).
        for x in Int64(-9)...9 {
            for y in Int64(-4)...4 where y != 0 {
                let q = ScalarMath.floordiv(x, y)
                let r = ScalarMath.mod(x, y)
                XCTAssertEqual(y &* q &+ r, x, "\(x) // \(y)")
                XCTAssertTrue(r == 0 || (r < 0) == (y < 0), "\(x) % \(y) = \(r) has the sign of the divisor")
            }
        }
    }

    /// The values NumPy 2.4 gives for float64 (−0 and NaN included).
    func testFloatFloorDivisionAndModuloFollowNumPy() throws {
        let a = f64([7, -7, 7, -7, 0, -0.0, 1, -1, inf, 1, nan, 5, -0.0, 1e308, 0.5, 3, -3])
        let b = f64([2, 2, -2, -2, 3, 3, inf, inf, 2, 0, 1, nan, -3, 1e-308, -0.1, 0, -0.0])
        assertBits(try kernel(.floordiv, [a, b]), f64([3, -4, -4, 3, 0, -0.0, 0, -1, nan, inf, nan, nan, 0, inf, -5, inf, inf]))
        assertBits(try kernel(.mod, [a, b]), f64([1, 1, -1, -1, 0, 0, 1, inf, nan, nan, nan, nan, -0.0, 3.498445546245627e-309, -2.7755575615628914e-17, nan, nan]))
        // f32 computes in float (NumPy float32: 0.5 mod −0.1 = −7.450580596923828e-09).
        assertBits(try kernel(.mod, [f32([0.5, -7]), f32([-0.1, 2])]), f32([-7.450580596923828e-09, 1]))
    }

    func testFloorDivisionRefusesBool() {
        assertDiagnostic({ _ = try kernel(.floordiv, [bools([true]), bools([false])]) }) {
            if case .unsupportedDType(op: "floordiv", _, _) = $0 { return true }
            return false
        }
    }

    // MARK: take, take_along_axis

    func testTakeByHand() throws {
        let x = f64([1, 2, 3, 4, 5, 6], [2, 3])
        // Index 0, n − 1 and −1 (wraps to n − 1), repeated.
        assertBits(try kernel(.take, [x, i64([2, 0, -1])], [.axis: .int(1)]), f64([3, 1, 3, 6, 4, 6], [2, 3]))
        // An index tensor of rank 2 replaces the axis by its shape.
        assertBits(try kernel(.take, [x, i64([1, 0], [2, 1])], [.axis: .int(0)]), f64([4, 5, 6, 1, 2, 3], [2, 1, 3]))
        // A scalar index removes the axis; −n is the first element.
        assertBits(try kernel(.take, [x, i64([-2], [])], [.axis: .int(0)]), f64([1, 2, 3], [3]))
        // An empty index tensor gives an empty result.
        assertBits(try kernel(.take, [x, i64([], [0])], [.axis: .int(1)]), f64([], [2, 0]))
        // Any dtype moves unchanged (bits included).
        assertBits(try kernel(.take, [f32([-0.0, .nan, 1]), i64([1, 0, 1])], [.axis: .int(0)]), f32([.nan, -0.0, .nan]))
        assertBits(try kernel(.take, [i64([.max, .min]), i64([1, 1, 0])], [.axis: .int(0)]), i64([.min, .min, .max]))
        assertBits(try kernel(.take, [bools([true, false]), i64([1, -2])], [.axis: .int(0)]), bools([false, true]))
    }

    func testTakeAlongAxisByHand() throws {
        let x = f64([1, 2, 3, 4, 5, 6], [2, 3])
        assertBits(try kernel(.take_along_axis, [x, i64([0, 2, 1, -1], [2, 2])], [.axis: .int(1)]), f64([1, 3, 5, 6], [2, 2]))
        assertBits(try kernel(.take_along_axis, [x, i64([1, 0, 1], [1, 3])], [.axis: .int(0)]), f64([4, 2, 6], [1, 3]))
    }

    // MARK: scatter_add

    func testScatterAddAccumulatesRepeatedIndicesInOrder() throws {
        assertBits(try kernel(.scatter_add, [f64([0, 0, 0, 0]), i64([1, 1, 3, -1]), f64([10, 20, 30, 40])], [.axis: .int(0)]),
                   f64([0, 30, 0, 70]))
        // One addition at a time in row-major order of the updates: (0 + 1e16) + 1 rounds to
        // 1e16, and − 1e16 leaves 0 (another order would give 1).
        assertBits(try kernel(.scatter_add, [f64([0]), i64([0, 0, 0]), f64([1e16, 1, -1e16])], [.axis: .int(0)]), f64([0]))
        // Along axis 1 of a matrix: both updates of each row land in column 1.
        assertBits(try kernel(.scatter_add, [f64([1, 1, 1, 1], [2, 2]), i64([1, 1]), f64([2, 3, 4, 5], [2, 2])], [.axis: .int(1)]),
                   f64([1, 6, 1, 10], [2, 2]))
        // i64 wraps.
        assertBits(try kernel(.scatter_add, [i64([.max, 0]), i64([0, 0]), i64([1, 1])], [.axis: .int(0)]), i64([.min + 1, 0]))
        // No indices: the base unchanged.
        assertBits(try kernel(.scatter_add, [f64([1, -0.0]), i64([], [0]), f64([], [0])], [.axis: .int(0)]), f64([1, -0.0]))
        assertBits(try kernel(.scatter_add_along_axis, [f64([0, 0, 0, 0, 0, 0], [2, 3]), i64([0, 0, 2, -1], [2, 2]), f64([1, 2, 3, 4], [2, 2])],
                              [.axis: .int(1)]), f64([3, 0, 0, 0, 0, 7], [2, 3]))
    }

    // MARK: iota, argmax, argmin

    func testIotaByHand() throws {
        assertBits(try kernel(.iota, [], [.shape: .ints([2, 3]), .axis: .int(1)]), i64([0, 1, 2, 0, 1, 2], [2, 3]))
        assertBits(try kernel(.iota, [], [.shape: .ints([2, 3])]), i64([0, 0, 0, 1, 1, 1], [2, 3]))
        assertBits(try kernel(.iota, [], [.shape: .ints([3, 1, 2]), .axis: .int(-1), .dtype: .dtype(.f32)]), f32([0, 1, 0, 1, 0, 1], [3, 1, 2]))
        assertBits(try kernel(.iota, [], [.shape: .ints([0, 2]), .dtype: .dtype(.f64)]), f64([], [0, 2]))
    }

    func testArgmaxArgminByHand() throws {
        // The first NaN wins; ties go to the first; −0 and +0 tie.
        assertBits(try kernel(.argmax, [f64([1, 3, 3, nan, nan])]), i64([3], []))
        assertBits(try kernel(.argmin, [f64([1, 3, 3, nan, nan])]), i64([3], []))
        assertBits(try kernel(.argmax, [f64([-0.0, 0])]), i64([0], []))
        assertBits(try kernel(.argmin, [f32([0, -0.0, -.infinity, -.infinity])]), i64([2], []))
        assertBits(try kernel(.argmax, [f64([-inf])]), i64([0], []))
        let m = f64([1, 5, 5, 7, 0, 7], [2, 3])
        assertBits(try kernel(.argmax, [m], [.axes: .ints([1])]), i64([1, 0]))
        assertBits(try kernel(.argmax, [m], [.axes: .ints([0])]), i64([1, 0, 1]))
        assertBits(try kernel(.argmin, [m], [.axes: .ints([1]), .keepdims: .bool(true)]), i64([0, 1], [2, 1]))
        // Over all axes (and over two of three): the row-major position within the reduced axes.
        assertBits(try kernel(.argmax, [m]), i64([3], []))
        assertBits(try kernel(.argmin, [m]), i64([4], []))
        let t = f64([4, 1, 2, 3, 9, 0, 5, 8], [2, 2, 2])
        assertBits(try kernel(.argmax, [t], [.axes: .ints([0, 2])]), i64([2, 3]))
        assertBits(try kernel(.argmax, [i64([.min, .max, .max])]), i64([1], []))
        assertBits(try kernel(.argmin, [f64([2], [])]), i64([0], []))
    }

    // MARK: Out of range

    func assertOutOfRange(_ op: Op, _ inputs: [Tensor], axis: Int, index: Int64, length: Int, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try kernel(op, inputs, [.axis: .int(axis)])
            XCTFail("\(op.name) accepted index \(index)", file: file, line: line)
        } catch let d as Diagnostic {
            XCTAssertEqual(d.kind, .indexOutOfRange(op: op.name, index: index, axis: axis, length: length), d.message, file: file, line: line)
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }

    func testIndicesOutOfRangeAreErrors() {
        let x = f64([1, 2, 3, 4, 5, 6], [2, 3])
        assertOutOfRange(.take, [x, i64([0, 3, 1])], axis: 1, index: 3, length: 3)
        assertOutOfRange(.take, [x, i64([-4])], axis: 1, index: -4, length: 3)
        assertOutOfRange(.take, [x, i64([2, .min, .max])], axis: 0, index: 2, length: 2)
        assertOutOfRange(.take, [x, i64([.min])], axis: 0, index: .min, length: 2)
        // Every index is checked, also when nothing would be read (an empty result).
        assertOutOfRange(.take, [f64([], [0, 3]), i64([7])], axis: 1, index: 7, length: 3)
        assertOutOfRange(.take, [f64([], [2, 0]), i64([0])], axis: 1, index: 0, length: 0)
        assertOutOfRange(.take_along_axis, [x, i64([0, 1, 2, 3], [2, 2])], axis: 1, index: 3, length: 3)
        assertOutOfRange(.scatter_add, [f64([0, 0]), i64([1, 2]), f64([1, 1])], axis: 0, index: 2, length: 2)
        assertOutOfRange(.scatter_add_along_axis, [x, i64([0, -3, 1, 1, -4, 0], [2, 3]), x], axis: 0, index: -3, length: 2)
        XCTAssertEqual(DiagnosticKind.indexOutOfRange(op: "take", index: -4, axis: 1, length: 3).message,
                       "take: index -4 is out of range for axis 1 of length 3 (expected -3 ≤ index < 3)")
        XCTAssertEqual(DiagnosticKind.indexOutOfRange(op: "take", index: 0, axis: 1, length: 0).message,
                       "take: index 0 is out of range for axis 1 of length 0 (no index is valid on an empty axis)")
    }
}
