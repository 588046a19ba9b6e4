import Foundation
import GradIR
import GradRuntime
import XCTest

final class ReductionKernelTests: XCTestCase {
    let inf = Double.infinity
    let nan = Double.nan
    // [[1, 2, 3], [4, 5, 6]]
    let m = f64([1, 2, 3, 4, 5, 6], [2, 3])

    func testSumMeanProdOverAxes() throws {
        assertBits(try kernel(.sum, [m]), f64([21], []))
        assertBits(try kernel(.sum, [m], [.axes: .ints([0])]), f64([5, 7, 9]))
        assertBits(try kernel(.sum, [m], [.axes: .ints([-1]), .keepdims: .bool(true)]), f64([6, 15], [2, 1]))
        assertBits(try kernel(.mean, [m], [.axes: .ints([1])]), f64([2, 5]))
        assertBits(try kernel(.prod, [m], [.axes: .ints([1])]), f64([6, 120]))
        assertBits(try kernel(.max, [m], [.axes: .ints([0])]), f64([4, 5, 6]))
        assertBits(try kernel(.min, [m], [.axes: .ints([0, 1]), .keepdims: .bool(true)]), f64([1], [1, 1]))
        // 3-D, reduce the middle axis: x[i,j,k] = 100i + 10j + k
        var cubeValues: [Double] = []
        for i in 0..<2 {
            for j in 0..<3 {
                for k in 0..<2 { cubeValues.append(Double(100 * i + 10 * j + k)) }
            }
        }
        let cube = f64(cubeValues, [2, 3, 2])
        assertBits(try kernel(.sum, [cube], [.axes: .ints([1])]), f64([30, 33, 330, 333], [2, 2]))
        assertBits(try kernel(.sum, [cube], [.axes: .ints([0, 2])]), f64([202, 242, 282]))
    }

    func testMaxMinNaNAndTies() throws {
        assertBits(try kernel(.max, [f64([1, nan, 3])]), f64([nan], []))
        assertBits(try kernel(.min, [f64([nan, 1, 3])]), f64([nan], []))
        assertBits(try kernel(.max, [f64([-0.0, 0])]), f64([-0.0], []))  // tie keeps the first
        assertBits(try kernel(.min, [f64([0, -0.0])]), f64([0], []))
        assertBits(try kernel(.max, [i64([3, -7, 9])]), i64([9], []))
        assertBits(try kernel(.min, [i64([3, -7, 9])]), i64([-7], []))
    }

    func testEmptyReductions() throws {
        let empty = f64([], [0, 3])
        assertBits(try kernel(.sum, [empty], [.axes: .ints([0])]), f64([0, 0, 0]))
        assertBits(try kernel(.prod, [empty], [.axes: .ints([0])]), f64([1, 1, 1]))
        assertBits(try kernel(.max, [empty], [.axes: .ints([0])]), f64([-inf, -inf, -inf]))
        assertBits(try kernel(.min, [empty], [.axes: .ints([0])]), f64([inf, inf, inf]))
        assertBits(try kernel(.mean, [empty], [.axes: .ints([0])]), f64([nan, nan, nan]))
        assertBits(try kernel(.logsumexp, [empty], [.axes: .ints([0])]), f64([-inf, -inf, -inf]))
        assertBits(try kernel(.sum, [empty], [.axes: .ints([1])]), f64([], [0]))
        assertBits(try kernel(.max, [i64([], [0])]), i64([Int64.min], []))
        assertBits(try kernel(.min, [i64([], [0])]), i64([Int64.max], []))
        assertBits(try kernel(.sum, [f32([], [0])]), f32([0], []))
    }

    func testLogSumExp() throws {
        assertBits(try kernel(.logsumexp, [f64([-inf, -inf])]), f64([-inf], []))
        assertBits(try kernel(.logsumexp, [f64([1, inf])]), f64([inf], []))
        assertBits(try kernel(.logsumexp, [f64([1, nan])]), f64([nan], []))
        assertBits(try kernel(.logsumexp, [f64([0, 0])]), f64([Foundation.log(2)], []))
        assertBits(try kernel(.logsumexp, [f64([1000, 1000])]), f64([1000 + Foundation.log(2)], []))
        assertBits(try kernel(.logsumexp, [f64([-inf, 5])]), f64([5], []))
        let expected: Double = 3 + Foundation.log(Foundation.exp(-2.0) + Foundation.exp(0.0))
        assertBits(try kernel(.logsumexp, [f64([1, 3], [1, 2])], [.axes: .ints([1])]), f64([expected]))
    }

    func testF32SumAccumulatesInFloat() throws {
        // In f32, 2^24 + 1 rounds back to 2^24, twice; f64 accumulation would give 2^24 + 2.
        let x = f32([16_777_216, 1, 1])
        var acc: Float = 0
        for v: Float in [16_777_216, 1, 1] { acc += v }
        XCTAssertEqual(acc, 16_777_216)
        assertBits(try kernel(.sum, [x]), f32([acc], []))
        assertBits(try kernel(.mean, [x]), f32([acc / 3], []))
        // Sequential order: (0.1 + 0.2) + 0.3 in Float.
        let y: [Float] = [0.1, 0.2, 0.3]
        assertBits(try kernel(.sum, [f32(y)]), f32([((0 + y[0]) + y[1]) + y[2]], []))
        assertBits(try kernel(.cumsum, [f32(y)], [.axis: .int(0)]), f32([y[0], y[0] + y[1], (y[0] + y[1]) + y[2]]))
    }

    func testIntegerReductionsWrap() throws {
        assertBits(try kernel(.sum, [i64([Int64.max, 1, 5])]), i64([Int64.min + 5], []))
        assertBits(try kernel(.prod, [i64([Int64(1) << 32, Int64(1) << 32, 3])]), i64([0], []))
        assertBits(try kernel(.prod, [i64([2, -3, 4], [3, 1])], [.axes: .ints([0])]), i64([-24]))
    }

    func testSoftmaxFamilyIsStable() throws {
        assertBits(try kernel(.softmax, [f64([1000, 0])]), f64([1, 0]))
        assertBits(try kernel(.log_softmax, [f64([1000, 0])]), f64([0, -1000]))
        assertBits(try kernel(.softmax, [f64([0, 0, 0, 0])]), f64([0.25, 0.25, 0.25, 0.25]))
        // axis 0 of [[0, 1], [0, 1]] is uniform.
        assertBits(try kernel(.softmax, [f64([0, 1, 0, 1], [2, 2])], [.axis: .int(0)]), f64([0.5, 0.5, 0.5, 0.5], [2, 2]))
        let e = Foundation.exp(-1.0)
        assertBits(try kernel(.softmax, [f64([2, 1])]), f64([1 / (1 + e), e / (1 + e)]))
        assertBits(try kernel(.log_softmax, [f64([1, 2], [1, 2])], [.axis: .int(-1)]),
                   f64([(1 - 2) - Foundation.log(e + 1), 0 - Foundation.log(e + 1)], [1, 2]))
        let s = try kernel(.softmax, [f32([1000, 0, -1000])])
        assertBits(s, f32([1, 0, 0]))
        let big = try kernel(.softmax, [f64([1e308, -1e308])])
        XCTAssertFalse(big.doubles.contains { $0.isNaN })
    }

    func testSoftmaxCrossEntropy() throws {
        let logits = f64([0, 0, 1000, 0], [2, 2])
        let labels = f64([1, 0, 0, 1], [2, 2])
        assertBits(try kernel(.softmax_cross_entropy, [logits, labels]), f64([Foundation.log(2), 1000]))
        // axis 0: column losses
        let l2 = f64([0, 5, 0, 5], [2, 2])
        let y2 = f64([0.5, 1, 0.5, 0], [2, 2])
        let r = try kernel(.softmax_cross_entropy, [l2, y2], [.axis: .int(0)])
        // column 0: logits [0,0] labels [.5,.5] → log 2; column 1: logits [5,5] labels [1,0] → log 2
        assertBits(r, f64([-(0 + 0.5 * (0 - Foundation.log(2)) + 0.5 * (0 - Foundation.log(2))), Foundation.log(2)]))
        let f = try kernel(.softmax_cross_entropy, [f32([1000, 0]), f32([0, 1])])
        assertBits(f, f32([1000], []))
    }

    func testCumsum() throws {
        assertBits(try kernel(.cumsum, [f64([1, 2, 3, 4])], [.axis: .int(0)]), f64([1, 3, 6, 10]))
        assertBits(try kernel(.cumsum, [f64([1, 2, 3, 4])], [.axis: .int(0), .reverse: .bool(true)]), f64([10, 9, 7, 4]))
        assertBits(try kernel(.cumsum, [m], [.axis: .int(0)]), f64([1, 2, 3, 5, 7, 9], [2, 3]))
        assertBits(try kernel(.cumsum, [m], [.axis: .int(1), .reverse: .bool(true)]), f64([6, 5, 3, 15, 11, 6], [2, 3]))
        assertBits(try kernel(.cumsum, [i64([Int64.max, 1])], [.axis: .int(0)]), i64([Int64.max, Int64.min]))
        assertBits(try kernel(.cumsum, [f64([], [0])], [.axis: .int(0)]), f64([], [0]))
    }
}
