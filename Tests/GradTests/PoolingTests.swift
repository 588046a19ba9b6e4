import Foundation
import Grad
import TestSupport
import XCTest

/// The pooling ops (issue 17): max_pool2d and avg_pool2d with overlapping windows and padding,
/// against a direct loop written here (the input padded with −inf or 0 first), exact
/// hand-computed values and gradients (ties shared evenly, windows touching the padding, a NaN
/// window, a zero cotangent), second derivatives, and located errors. The every-op table
/// (OpCases.pooling) covers finite differences of orders 1 and 2 and backend agreement.
final class PoolingTests: XCTestCase {
    /// Pooling written from the definition: x padded with `fill` into a new array, then each
    /// window reduced with `reduce` over its kh·kw elements (padding included).
    static func directPool(_ x: [Double], _ xs: [Int], window: [Int], stride: [Int], padding: [Int], fill: Double,
                           _ reduce: ([Double]) -> Double) -> (values: [Double], shape: [Int]) {
        let (planes, h, w) = (xs[0] * xs[1], xs[2], xs[3])
        let (ph, pw) = (h + 2 * padding[0], w + 2 * padding[1])
        var padded = [Double](repeating: fill, count: planes * ph * pw)
        for k in 0..<planes { for r in 0..<h { for s in 0..<w {
            padded[(k * ph + r + padding[0]) * pw + s + padding[1]] = x[(k * h + r) * w + s]
        } } }
        let oh = (ph - window[0]) / stride[0] + 1
        let ow = (pw - window[1]) / stride[1] + 1
        var out: [Double] = []
        for k in 0..<planes { for p in 0..<oh { for q in 0..<ow {
            var elements: [Double] = []
            for i in 0..<window[0] { for j in 0..<window[1] {
                elements.append(padded[(k * ph + p * stride[0] + i) * pw + q * stride[1] + j])
            } }
            out.append(reduce(elements))
        } } }
        return (out, [xs[0], xs[1], oh, ow])
    }

    func testPoolingMatchesADirectLoopOnEveryBackend() throws {
        let geometries: [([Int], [Int], [Int], [Int])] = [
            ([2, 3, 7, 6], [3, 3], [2, 2], [1, 1]),
            ([1, 2, 9, 8], [3, 2], [1, 2], [1, 0]),
            ([3, 1, 5, 5], [2, 2], [2, 2], [0, 0]),
            ([1, 1, 4, 6], [4, 4], [1, 3], [2, 2]),
        ]
        var rng = SplitMix64(seed: 17)
        for (xs, window, stride, padding) in geometries {
            let fb = FunctionBuilder("pool")
            let x = try fb.input("x", .f64, xs)
            try fb.output(maxPool2d(x, window: window, stride: stride, padding: padding))
            try fb.output(avgPool2d(x, window: window, stride: stride, padding: padding))
            let xt = Tensor.random(TensorType(.f64, xs), using: &rng)
            let mx = Self.directPool(xt.doubles, xs, window: window, stride: stride, padding: padding, fill: -.infinity) { $0.max() ?? -.infinity }
            let av = Self.directPool(xt.doubles, xs, window: window, stride: stride, padding: padding, fill: 0) { $0.reduce(0, +) / Double($0.count) }
            for backend in Backend.allCases {
                let out = try compile(fb.function, backend: backend)([xt])
                XCTAssertEqual(out[0].shape, mx.shape, "\(backend) \(xs)")
                XCTAssertEqual(out[0].doubles, mx.values, "\(backend) \(xs)")
                XCTAssertEqual(out[1].shape, av.shape, "\(backend) \(xs)")
                for (g, e) in zip(out[1].doubles, av.values) { XCTAssertEqual(g, e, accuracy: 1e-15, "\(backend) \(xs)") }
            }
        }
    }

    /// Overlapping 2×2 windows with stride 1 on a 3×3 image whose maxima tie: each window's
    /// cotangent c[w] is shared evenly among the elements equal to its maximum, and an element
    /// that is the maximum of several windows collects from each.
    func testOverlappingWindowsShareTiesEvenly() throws {
        let fb = FunctionBuilder("ties")
        let x = try fb.input("x", .f64, [1, 1, 3, 3])
        let c = try fb.input("c", .f64, [1, 1, 2, 2])
        let m = try maxPool2d(x, window: [2, 2], stride: [1, 1])
        try fb.output(m)
        try fb.output(fb.grad(of: sum(m * c), wrt: [x]))
        let xt = try XCTUnwrap(Tensor(f64: [1, 5, 5,
                                            2, 5, 0,
                                            3, 4, 2], shape: [1, 1, 3, 3]))
        let ct = try XCTUnwrap(Tensor(f64: [1, 2, 3, 4], shape: [1, 1, 2, 2]))
        // Window (0,0) {1,5,2,5}: two 5s; (0,1) {5,5,5,0}: three; (1,0) and (1,1): the centre.
        let third = 2 * (1.0 / 3)
        let expected = [0, 0.5 + third, third,
                        0, 0.5 + third + 3 + 4, 0,
                        0, 0, 0]
        for backend in Backend.allCases {
            let out = try compile(fb.function, backend: backend)([xt, ct])
            XCTAssertEqual(out[0].doubles, [5, 5, 5, 5], "\(backend)")
            XCTAssertEqual(out[1].doubles, expected, "\(backend)")
        }
    }

    /// A 2×2 image with one row and column of padding and 2×2 windows of stride 1 (3×3
    /// windows, each touching the padding but the centre): max pooling's padding is −inf (all
    /// values are negative, so zero padding would win), average pooling's is 0 and counts in
    /// the divisor 4.
    func testWindowsTouchingThePadding() throws {
        let fb = FunctionBuilder("padded")
        let x = try fb.input("x", .f64, [1, 1, 2, 2])
        let m = try maxPool2d(x, window: [2, 2], stride: [1, 1], padding: [1, 1])
        let a = try avgPool2d(x, window: [2, 2], stride: [1, 1], padding: [1, 1])
        try fb.output(m)
        try fb.output(a)
        try fb.output(fb.grad(of: sum(m), wrt: [x]))
        try fb.output(fb.grad(of: sum(a), wrt: [x]))
        let xt = try XCTUnwrap(Tensor(f64: [-1, -2, -3, -4], shape: [1, 1, 2, 2]))
        for backend in Backend.allCases {
            let out = try compile(fb.function, backend: backend)([xt])
            XCTAssertEqual(out[0].shape, [1, 1, 3, 3])
            XCTAssertEqual(out[0].doubles, [-1, -1, -2, -1, -1, -2, -3, -3, -4], "\(backend)")
            XCTAssertEqual(out[1].doubles, [-0.25, -0.75, -0.5, -1, -2.5, -1.5, -0.75, -1.75, -1], "\(backend)")
            // −1 is the maximum of 4 windows, −2 and −3 of 2, −4 of 1; each element of the
            // average lies in 4 windows, 1/4 from each.
            XCTAssertEqual(out[2].doubles, [4, 2, 2, 1], "\(backend)")
            XCTAssertEqual(out[3].doubles, [1, 1, 1, 1], "\(backend)")
        }
    }

    /// The default stride is the window; ties share; a NaN in a window makes its maximum NaN
    /// and sends NaN to every element of it, except where the cotangent is exactly 0.
    func testDefaultStrideTiesAndNaN() throws {
        let fb = FunctionBuilder("nan")
        let x = try fb.input("x", .f64, [1, 1, 2, 4])
        let c = try fb.input("c", .f64, [1, 1, 1, 2])
        let m = try maxPool2d(x, window: [2, 2])
        try fb.output(m)
        try fb.output(fb.grad(of: sum(m * c), wrt: [x]))
        try fb.output(maxPool2dGrad(x, c, window: [2, 2]))
        let ties = try XCTUnwrap(Tensor(f64: [7, 7, 1, 3,
                                              7, 0, 3, 3], shape: [1, 1, 2, 4]))
        let nan = try XCTUnwrap(Tensor(f64: [1, .nan, 1, 3,
                                             2, 0, 3, 3], shape: [1, 1, 2, 4]))
        let third = 1.0 / 3
        for backend in Backend.allCases {
            let run = try compile(fb.function, backend: backend)
            var out = try run([ties, try XCTUnwrap(Tensor(f64: [1, 1], shape: [1, 1, 1, 2]))])
            XCTAssertEqual(out[0].doubles, [7, 3], "\(backend)")
            XCTAssertEqual(out[1].doubles, [third, third, 0, third, third, 0, third, third], "\(backend)")
            out = try run([nan, try XCTUnwrap(Tensor(f64: [2, 0], shape: [1, 1, 1, 2]))])
            XCTAssertTrue(out[0].doubles[0].isNaN, "\(backend)")
            XCTAssertEqual(out[0].doubles[1], 3, "\(backend)")
            XCTAssertTrue(out[1].doubles.enumerated().allSatisfy { k, v in [0, 1, 4, 5].contains(k) ? v.isNaN : v == 0 }, "\(backend): \(out[1].doubles)")
            // The same with a zero cotangent on the NaN window: exact zeros.
            out = try run([nan, try XCTUnwrap(Tensor(f64: [0, 1], shape: [1, 1, 1, 2]))])
            XCTAssertEqual(out[2].doubles, [0, 0, 0, third, 0, 0, third, third], "\(backend)")
        }
    }

    /// Second order: the Hessian of m² for one 2×2 window whose maximum ties between two
    /// elements is 2·w·wᵀ with w = (½, ½, 0, 0) — through max_pool2d_grad's rule
    /// (max_pool2d_tangent) — and the forward-mode tangent of max pooling is the tangent op.
    func testSecondOrderAndForwardMode() throws {
        let fb = FunctionBuilder("second")
        let x = try fb.input("x", .f64, [1, 1, 2, 2])
        let v = try fb.input("v", .f64, [1, 1, 2, 2])
        let m = try maxPool2d(x, window: [2, 2])
        try fb.output(fb.hessian(of: sum(square(m)), wrt: x))
        try fb.output(fb.jvp(of: m, wrt: [x], along: [v]))
        try fb.output(fb.hessian(of: sum(square(avgPool2d(x, window: [2, 2], stride: [1, 1], padding: [1, 1]))), wrt: x))
        let xt = try XCTUnwrap(Tensor(f64: [4, 4, 1, 2], shape: [1, 1, 2, 2]))
        let vt = try XCTUnwrap(Tensor(f64: [3, 8, 100, 100], shape: [1, 1, 2, 2]))
        var hessian = [Double](repeating: 0, count: 16)
        for i in 0..<2 { for j in 0..<2 { hessian[i * 4 + j] = 0.5 } }
        // avg pooling: H = 2·PᵀP/16 with P the 9×4 window incidence; (PᵀP)ᵢⱼ counts the
        // windows holding both i and j: 4 on the diagonal, 2 for neighbours, 1 diagonally.
        let shared: [[Double]] = [[4, 2, 2, 1], [2, 4, 1, 2], [2, 1, 4, 2], [1, 2, 2, 4]]
        let avgHessian = shared.flatMap { $0.map { 2 * $0 / 16 } }
        for backend in Backend.allCases {
            let out = try compile(fb.function, backend: backend)([xt, vt])
            XCTAssertEqual(out[0].doubles, hessian, "\(backend)")
            XCTAssertEqual(out[1].doubles, [5.5], "\(backend)")
            XCTAssertEqual(out[2].doubles, avgHessian, "\(backend)")
        }
    }

    /// The library's pooling is the op, with the stride it is given, and matches `.ir`.
    func testLibraryAndLanguageAgree() throws {
        let source = """
            func f(x: f64[2,3,6,5]) {
              return max_pool2d(x, window=[3,3], stride=[2,1], padding=[1,1]), avg_pool2d(x, window=[2,2])
            }
            """
        let parsed = try XCTUnwrap(Pipeline.parse(source, file: "p.ir").functions.first)
        let fb = FunctionBuilder("g")
        let x = try fb.input("x", .f64, [2, 3, 6, 5])
        try fb.output(maxPool2d(x, window: [3, 3], stride: [2, 1], padding: [1, 1]))
        try fb.output(avgPool2d(x, window: [2, 2]))
        let xt = Tensor.random(TensorType(.f64, [2, 3, 6, 5]), seed: 4)
        let a = try compile(parsed, backend: .reference)([xt])
        let b = try compile(fb.function, backend: .reference)([xt])
        XCTAssertEqual(a.map(\.shape), [[2, 3, 3, 5], [2, 3, 3, 2]])
        XCTAssertEqual(a.map(\.doubles), b.map(\.doubles))
    }

    /// Bad operands and attributes: located errors saying what was expected.
    func testBadInputsGiveLocatedErrors() throws {
        let cases: [(String, String)] = [
            ("max_pool2d(x)", "max_pool2d needs the attribute 'window'"),
            ("max_pool2d(x, window=[0,2])", "invalid attribute 'window' of max_pool2d: expected two integers ≥ 1 (rows, columns), got [0,2]"),
            ("avg_pool2d(x, window=[2,2], stride=[1])", "invalid attribute 'stride' of avg_pool2d: expected two integers ≥ 1 (rows, columns), got [1]"),
            ("max_pool2d(x, window=[2,2], padding=[2,0])", "invalid attribute 'padding' of max_pool2d: expected padding of at most half the window [2,2] on each axis, got [2,0]"),
            ("avg_pool2d(x, window=[9,2])", "avg_pool2d: the window is 9×2 but the padded input is only 8×8"),
            ("max_pool2d(r, window=[2,2])", "max_pool2d: expects a 4-D operand x[N,C,H,W] (NCHW), got f32[4,3,3]"),
            ("max_pool2d_grad(x, d, window=[2,2])", "dtype mismatch in max_pool2d_grad"),
            ("max_pool2d_grad(x, x, window=[2,2])", "max_pool2d_grad: the cotangent must have the pooled shape [2,3,4,4], got f32[2,3,8,8]"),
            ("max_pool2d_tangent(x, g, window=[2,2])", "max_pool2d_tangent: the tangent must have the input's shape [2,3,8,8], got f32[2,3,4,4]"),
            ("avg_pool2d_grad(g, window=[2,2])", "avg_pool2d_grad needs the attribute 'shape'"),
            ("max_pool2d(i, window=[2,2])", "max_pool2d"),
        ]
        for (call, message) in cases {
            let source = """
                func f(x: f32[2,3,8,8], g: f32[2,3,4,4], r: f32[4,3,3], d: f64[2,3,4,4], i: i64[1,1,2,2]) {
                  y = \(call)
                  return sum(cast(y, dtype=f32))
                }
                """
            XCTAssertThrowsError(try Pipeline.parse(source, file: "m.ir"), call) { error in
                guard let d = error as? Diagnostic else { return XCTFail("\(error)") }
                let shown = d.attaching(file: "m.ir", source: source).description
                XCTAssertTrue(shown.hasPrefix("m.ir:2:"), shown)
                XCTAssertTrue(shown.contains(message), "\(call): \(shown)")
            }
        }
        XCTAssertThrowsError(try maxPool2d(FunctionBuilder("h").input("x", .f64, [2, 3]), window: [1, 1]))
    }
}
