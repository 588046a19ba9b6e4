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
}
