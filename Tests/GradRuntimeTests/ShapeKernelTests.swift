import GradIR
import GradRuntime
import XCTest

final class ShapeKernelTests: XCTestCase {
    func testMatmul2DAndF32() throws {
        let a = f64([1, 2, 3, 4, 5, 6], [2, 3])
        let b = f64([7, 8, 9, 10, 11, 12], [3, 2])
        assertBits(try kernel(.matmul, [a, b]), f64([58, 64, 139, 154], [2, 2]))
        let af: [Float] = [0.1, 0.2, 0.3]
        let bf: [Float] = [0.7, 0.11, 0.13]
        var acc: Float = 0
        for p in 0..<3 { acc += af[p] * bf[p] }
        assertBits(try kernel(.matmul, [f32(af, [1, 3]), f32(bf, [3, 1])]), f32([acc], [1, 1]))
        assertBits(try kernel(.dot, [f32(af), f32(bf)]), f32([acc], []))
        assertBits(try kernel(.matmul, [i64([Int64.max, 1], [1, 2]), i64([2, 3], [2, 1])]), i64([1], [1, 1]))
        assertBits(try kernel(.dot, [i64([1, 2, 3]), i64([4, 5, 6])]), i64([32], []))
        assertBits(try kernel(.dot, [f64([], [0]), f64([], [0])]), f64([0], []))
        // k = 0 gives zeros
        assertBits(try kernel(.matmul, [f64([], [2, 0]), f64([], [0, 2])]), f64([0, 0, 0, 0], [2, 2]))
    }

    func testMatmulBatchBroadcast() throws {
        // a: [2,1,2,2], b: [3,2,2] → [2,3,2,2]
        let aValues = (0..<8).map { Double($0) }
        let bValues = (0..<12).map { Double($0 * 2 - 5) }
        let out = try kernel(.matmul, [f64(aValues, [2, 1, 2, 2]), f64(bValues, [3, 2, 2])])
        XCTAssertEqual(out.shape, [2, 3, 2, 2])
        var expected: [Double] = []
        for i in 0..<2 {
            for j in 0..<3 {
                for r in 0..<2 {
                    for c in 0..<2 {
                        var s = 0.0
                        for p in 0..<2 { s += aValues[i * 4 + r * 2 + p] * bValues[j * 4 + p * 2 + c] }
                        expected.append(s)
                    }
                }
            }
        }
        assertBits(out, f64(expected, [2, 3, 2, 2]))
    }

    func testTransposeReshapeBroadcast() throws {
        let a = f64([1, 2, 3, 4, 5, 6], [2, 3])
        assertBits(try kernel(.transpose, [a]), f64([1, 4, 2, 5, 3, 6], [3, 2]))
        let cube = i64((0..<24).map { Int64($0) }, [2, 3, 4])
        let t = try kernel(.transpose, [cube], [.perm: .ints([1, 2, 0])])
        XCTAssertEqual(t.shape, [3, 4, 2])
        // t[j,k,i] = cube[i,j,k] = 12i + 4j + k; t[2,1,1] = 12 + 8 + 1
        guard case .i64(let tv) = t.storage else { return XCTFail("dtype") }
        XCTAssertEqual(tv[2 * 8 + 1 * 2 + 1], 21)
        assertBits(try kernel(.reshape, [a], [.shape: .ints([3, 2])]), f64([1, 2, 3, 4, 5, 6], [3, 2]))
        assertBits(try kernel(.expand_dims, [a], [.axis: .int(1)]), f64([1, 2, 3, 4, 5, 6], [2, 1, 3]))
        assertBits(try kernel(.squeeze, [f64([1, 2], [1, 2, 1])]), f64([1, 2], [2]))
        assertBits(try kernel(.squeeze, [f64([1, 2], [1, 2, 1])], [.axes: .ints([0])]), f64([1, 2], [2, 1]))
        assertBits(try kernel(.broadcast_to, [f64([1, 2], [2, 1])], [.shape: .ints([2, 2, 3])]),
                   f64([1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2], [2, 2, 3]))
        assertBits(try kernel(.broadcast_to, [bools([true], [])], [.shape: .ints([2])]), bools([true, true]))
    }

    func testSliceWithSteps() throws {
        let v = f64((0..<10).map(Double.init))
        assertBits(try kernel(.slice, [v], [.start: .ints([1]), .stop: .ints([8]), .step: .ints([3])]), f64([1, 4, 7]))
        assertBits(try kernel(.slice, [v], [.start: .ints([4]), .stop: .ints([4]), .step: .ints([1])]), f64([], [0]))
        let m = i64((0..<12).map { Int64($0) }, [3, 4])
        assertBits(try kernel(.slice, [m], [.start: .ints([1, 0]), .stop: .ints([3, 4]), .step: .ints([1, 2])]), i64([4, 6, 8, 10], [2, 2]))
    }

    func testPad() throws {
        assertBits(try kernel(.pad, [f64([1, 2])], [.low: .ints([1]), .high: .ints([2]), .step: .ints([2])]), f64([0, 1, 0, 2, 0, 0]))
        assertBits(try kernel(.pad, [i64([1, 2, 3, 4], [2, 2])], [.low: .ints([0, 1]), .high: .ints([1, 0]), .step: .ints([1, 1])]),
                   i64([0, 1, 2, 0, 3, 4, 0, 0, 0], [3, 3]))
        assertBits(try kernel(.pad, [bools([], [0])], [.low: .ints([2]), .high: .ints([1]), .step: .ints([3])]), bools([false, false, false]))
    }

    func testConcat() throws {
        let a = f64([1, 2, 3, 4], [2, 2])
        let b = f64([5, 6], [2, 1])
        assertBits(try kernel(.concat, [a, b], [.axis: .int(1)]), f64([1, 2, 5, 3, 4, 6], [2, 3]))
        assertBits(try kernel(.concat, [a, f64([7, 8], [1, 2]), a], [.axis: .int(0)]), f64([1, 2, 3, 4, 7, 8, 1, 2, 3, 4], [5, 2]))
        assertBits(try kernel(.concat, [bools([true]), bools([], [0]), bools([false])], [.axis: .int(-1)]), bools([true, false]))
    }

    func testOneHot() throws {
        let labels = i64([0, 2, -1, 3])
        assertBits(try kernel(.one_hot, [labels], [.depth: .int(3)]), f64([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], [4, 3]))
        assertBits(try kernel(.one_hot, [i64([1], [])], [.depth: .int(2), .dtype: .dtype(.f32)]), f32([0, 1], [2]))
        assertBits(try kernel(.one_hot, [i64([1, Int64.max])], [.depth: .int(2), .dtype: .dtype(.bool)]), bools([false, true, false, false], [2, 2]))
    }

    func testErrors() throws {
        assertDiagnostic({ _ = try kernel(.grad, [scalar64(1), scalar64(2)]) }) {
            if case .unexpandedDerivative(op: "grad") = $0 { return true }
            return false
        }
        assertDiagnostic({ _ = try evaluateOp(.input, Attributes(), [], resultType: TensorType(.f64)) }) {
            if case .invalidOperand = $0 { return true }
            return false
        }
        assertDiagnostic({ _ = try evaluateOp(.add, Attributes(), [scalar64(1), scalar64(2)], resultType: TensorType(.f32)) }) {
            if case .annotationMismatch = $0 { return true }
            return false
        }
        assertDiagnostic({ _ = try kernel(.const, [], [.dtype: .dtype(.f64), .shape: .ints([1 << 20, 1 << 20]), .value: .float(0)]) }) {
            if case .invalidShape = $0 { return true }
            return false
        }
        assertDiagnostic({ _ = try evaluateOp(.add, Attributes(), [scalar64(1), f32([1])], resultType: TensorType(.f64)) }) {
            if case .dtypeMismatch = $0 { return true }
            return false
        }
    }
}
