import Foundation
import Grad
import TestSupport
import XCTest

/// The convolutions (issue 17): conv2d against a direct loop written here (independent of the
/// kernels), exact hand-computed cases, exact zero cotangents, conv1d, and bad inputs that
/// give located errors. The every-op table (OpCases.convolution) covers finite differences of
/// orders 1 and 2 and backend agreement.
final class ConvolutionTests: XCTestCase {
    /// out[n,o,p,q] = Σ w[o,c,i,j]·x[n,c,h,w] over the taps inside the input, written from
    /// the definition: the input is padded into a new array first.
    static func directConv(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int],
                           stride: [Int], padding: [Int], dilation: [Int]) -> (values: [Double], shape: [Int]) {
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3])
        let (o, kh, kw) = (ws[0], ws[2], ws[3])
        let (ph, pw) = (h + 2 * padding[0], wd + 2 * padding[1])
        var padded = [Double](repeating: 0, count: n * c * ph * pw)
        for b in 0..<n { for ch in 0..<c { for r in 0..<h { for s in 0..<wd {
            padded[((b * c + ch) * ph + r + padding[0]) * pw + s + padding[1]] = x[((b * c + ch) * h + r) * wd + s]
        } } } }
        let oh = (ph - dilation[0] * (kh - 1) - 1) / stride[0] + 1
        let ow = (pw - dilation[1] * (kw - 1) - 1) / stride[1] + 1
        var out = [Double](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for k in 0..<o { for p in 0..<oh { for q in 0..<ow {
            var acc = 0.0
            for ch in 0..<c { for i in 0..<kh { for j in 0..<kw {
                acc += w[((k * c + ch) * kh + i) * kw + j] * padded[((b * c + ch) * ph + p * stride[0] + i * dilation[0]) * pw + q * stride[1] + j * dilation[1]]
            } } }
            out[((b * o + k) * oh + p) * ow + q] = acc
        } } } }
        return (out, [n, o, oh, ow])
    }

    func testConv2dMatchesADirectLoopOnEveryBackend() throws {
        let geometries: [([Int], [Int], [Int], [Int], [Int])] = [
            ([2, 3, 7, 6], [4, 3, 3, 3], [1, 1], [1, 1], [1, 1]),
            ([1, 2, 9, 8], [3, 2, 3, 2], [2, 3], [0, 2], [2, 1]),
            ([3, 4, 5, 5], [2, 4, 1, 1], [2, 2], [0, 0], [1, 1]),
            ([1, 1, 2, 3], [2, 1, 3, 3], [1, 1], [4, 3], [1, 1]),  // padding wider than the kernel
            ([2, 3, 16, 16], [8, 3, 3, 3], [1, 1], [1, 1], [1, 1]),
        ]
        var rng = SplitMix64(seed: 11)
        for (xs, ws, stride, padding, dilation) in geometries {
            let fb = FunctionBuilder("conv")
            let x = try fb.input("x", .f64, xs)
            let w = try fb.input("w", .f64, ws)
            try fb.output(conv2d(x, w, stride: stride, padding: padding, dilation: dilation))
            let xt = Tensor.random(TensorType(.f64, xs), using: &rng)
            let wt = Tensor.random(TensorType(.f64, ws), using: &rng)
            let expected = Self.directConv(xt.doubles, xs, wt.doubles, ws, stride: stride, padding: padding, dilation: dilation)
            for backend in Backend.allCases {
                let got = try compile(fb.function, backend: backend)([xt, wt])[0]
                XCTAssertEqual(got.shape, expected.shape, "\(backend) \(xs) \(ws)")
                for (g, e) in zip(got.doubles, expected.values) {
                    XCTAssertEqual(g, e, accuracy: 1e-12, "\(backend) \(xs) \(ws)")
                }
            }
        }
    }

    /// x = 1…9 (3×3) with w = [[1, 0], [0, −1]]: every output is x[p,q] − x[p+1,q+1] = −4;
    /// the gradient of the sum in x is w's taps added up, in w the sums of the 2×2 windows.
    func testHandComputedCase() throws {
        let source = """
            func f(x: f64[1,1,3,3], w: f64[1,1,2,2]) {
              y = conv2d(x, w)
              l = sum(y)
              return y, grad(l, x, w)
            }
            """
        let f = try XCTUnwrap(Pipeline.parse(source).functions.first)
        let x = try XCTUnwrap(Tensor(f64: (1...9).map(Double.init), shape: [1, 1, 3, 3]))
        let w = try XCTUnwrap(Tensor(f64: [1, 0, 0, -1], shape: [1, 1, 2, 2]))
        for backend in Backend.allCases {
            let out = try compile(f, backend: backend)([x, w])
            XCTAssertEqual(out[0].doubles, [-4, -4, -4, -4], "\(backend)")
            XCTAssertEqual(out[1].doubles, [1, 1, 0, 1, 0, -1, 0, -1, -1], "\(backend)")
            XCTAssertEqual(out[2].doubles, [12, 16, 24, 28], "\(backend)")
        }
    }

    /// A zero cotangent gives exactly +0 gradients (finite operands), to all orders.
    func testZeroCotangentsAreExactZeros() throws {
        let source = """
            func f(x: f64[2,2,4,4], w: f64[3,2,3,3], z: f64[2,3,2,2]) {
              y = conv2d(x, w, stride=[2,2], padding=[1,1])
              l = sum(y * z)
              return grad(l, x, w)
            }
            """
        let f = try XCTUnwrap(Pipeline.parse(source).functions.first)
        var rng = SplitMix64(seed: 5)
        let x = Tensor.random(TensorType(.f64, [2, 2, 4, 4]), using: &rng)
        let w = Tensor.random(TensorType(.f64, [3, 2, 3, 3]), using: &rng)
        let z = Tensor(TensorType(.f64, [2, 3, 2, 2]), doubles: [Double](repeating: 0, count: 24))
        for backend in Backend.allCases {
            let out = try compile(f, backend: backend)([x, w, z])
            for g in out { XCTAssertTrue(g.doubles.allSatisfy { $0 == 0 && $0.sign == .plus }, "\(backend): \(g)") }
        }
    }

    /// conv1d (NCW, OIW) is conv2d with a unit height: it matches the direct loop with H = 1.
    func testConv1d() throws {
        var rng = SplitMix64(seed: 3)
        let fb = FunctionBuilder("conv1d")
        let x = try fb.input("x", .f64, [2, 3, 10])
        let w = try fb.input("w", .f64, [4, 3, 3])
        let y = try conv1d(x, w, stride: 2, padding: 2, dilation: 2)
        try fb.output(y)
        try fb.output(fb.grad(of: sum(y * y), wrt: [x, w]))
        let xt = Tensor.random(TensorType(.f64, [2, 3, 10]), using: &rng)
        let wt = Tensor.random(TensorType(.f64, [4, 3, 3]), using: &rng)
        let expected = Self.directConv(xt.doubles, [2, 3, 1, 10], wt.doubles, [4, 3, 1, 3], stride: [1, 2], padding: [0, 2], dilation: [1, 2])
        let reference = try compile(fb.function, backend: .reference)([xt, wt])
        for backend in Backend.allCases {
            let out = try compile(fb.function, backend: backend)([xt, wt])
            XCTAssertEqual(out[0].shape, [2, 4, 5])
            for (g, e) in zip(out[0].doubles, expected.values) { XCTAssertEqual(g, e, accuracy: 1e-12, "\(backend)") }
            for (g, e) in zip(out.dropFirst(), reference.dropFirst()) { XCTAssertTrue(closeToMax(g, e, tolerance: 1e-12), "\(backend)") }
        }
        XCTAssertThrowsError(try conv1d(x.reshaped([2, 3, 10, 1]), w))
    }

    /// `.ir`'s conv1d is the library's: the same canonical graph (reshapes around a unit-height
    /// conv2d), the direct loop's values with H = 1 on every backend, and located errors.
    func testConv1dInTheLanguage() throws {
        let source = """
            func f(x: f64[2,3,10], w: f64[4,3,3]) {
              y = conv1d(x, w, stride=2, padding=2, dilation=2)
              return y, grad(sum(y * y), x, w)
            }
            """
        let parsed = try XCTUnwrap(Pipeline.parse(source, file: "c.ir").functions.first)
        let fb = FunctionBuilder("f")
        let x = try fb.input("x", .f64, [2, 3, 10])
        let w = try fb.input("w", .f64, [4, 3, 3])
        let y = try conv1d(x, w, stride: 2, padding: 2, dilation: 2)
        try fb.output(y, "y")
        try fb.output(fb.grad(of: sum(y * y), wrt: [x, w]))
        XCTAssertEqual(parsed.nodes.map(\.op), fb.function.nodes.map(\.op))
        XCTAssertEqual(parsed.nodes.map(\.attrs), fb.function.nodes.map(\.attrs))
        var rng = SplitMix64(seed: 5)
        let xt = Tensor.random(TensorType(.f64, [2, 3, 10]), using: &rng)
        let wt = Tensor.random(TensorType(.f64, [4, 3, 3]), using: &rng)
        let expected = Self.directConv(xt.doubles, [2, 3, 1, 10], wt.doubles, [4, 3, 1, 3], stride: [1, 2], padding: [0, 2], dilation: [1, 2])
        let library = try compile(fb.function, backend: .reference)([xt, wt])
        for backend in Backend.allCases {
            let out = try compile(parsed, backend: backend)([xt, wt])
            XCTAssertEqual(out[0].shape, [2, 4, 5], "\(backend)")
            for (g, e) in zip(out[0].doubles, expected.values) { XCTAssertEqual(g, e, accuracy: 1e-12, "\(backend)") }
            for (g, e) in zip(out, library) { XCTAssertTrue(closeToMax(g, e, tolerance: 1e-12), "\(backend)") }
        }
        // Defaults: stride 1, no padding, no dilation; an f32 literal-free call keeps f32.
        let plain = try XCTUnwrap(Pipeline.parse("func g(x: f32[1,2,5], w: f32[3,2,2]) {\n  return conv1d(x, w)\n}\n", file: "g.ir").functions.first)
        XCTAssertEqual(plain.type(of: plain.outputs[0].value), TensorType(.f32, [1, 3, 4]))
        let errors: [(String, String)] = [
            ("conv1d(x, v)", "conv1d: expects x[N,C,W] (NCW) and w[O,C,K] (OIW), got f64[2,3,10] and f64[4,3,3,1]"),
            ("conv1d(x, w, stride=0)", "invalid attribute 'stride' of conv1d: expected an integer ≥ 1"),
            ("conv1d(x, w, padding=-1)", "invalid attribute 'padding' of conv1d: expected an integer ≥ 0"),
            ("conv1d(x, w, dilation=[1,2])", "invalid attribute 'dilation' of conv1d: expected an integer ≥ 1"),
            ("conv1d(x, w, groups=2)", "conv1d"),
            ("conv1d(x)", "conv1d"),
            ("conv1d(x, w, dilation=9)", "conv2d: the kernel spans 1×19 (with dilation) but the padded input is only 1×10"),
        ]
        for (call, message) in errors {
            let text = "func f(x: f64[2,3,10], w: f64[4,3,3], v: f64[4,3,3,1]) {\n  y = \(call)\n  return sum(y)\n}\n"
            XCTAssertThrowsError(try Pipeline.parse(text, file: "m.ir"), call) { error in
                guard let d = error as? Diagnostic else { return XCTFail("\(error)") }
                let shown = d.attaching(file: "m.ir", source: text).description
                XCTAssertTrue(shown.hasPrefix("m.ir:2:"), shown)
                XCTAssertTrue(shown.contains(message), "\(call): \(shown)")
            }
        }
    }

    /// Bad operands and attributes: located errors saying what was expected.
    func testBadInputsGiveLocatedErrors() throws {
        let cases: [(String, String)] = [
            ("conv2d(x, v)", "conv2d: input has 3 channels but the kernel expects 2 (x[N,C,H,W], w[O,C,KH,KW])"),
            ("conv2d(x, w, stride=[0,1])", "invalid attribute 'stride' of conv2d: expected two integers ≥ 1 (rows, columns), got [0,1]"),
            ("conv2d(x, w, padding=[1])", "invalid attribute 'padding' of conv2d: expected two integers ≥ 0 (rows, columns), got [1]"),
            ("conv2d(x, w, dilation=[1,-2])", "invalid attribute 'dilation' of conv2d: expected two integers ≥ 1 (rows, columns), got [1,-2]"),
            ("conv2d(s, w)", "conv2d: the kernel spans 3×3 (with dilation) but the padded input is only 2×2"),
            ("conv2d(x, w, dilation=[4,1])", "conv2d: the kernel spans 9×3 (with dilation) but the padded input is only 8×8"),
            ("conv2d(x, r)", "conv2d: expects 4-D operands x[N,C,H,W] (NCHW) and w[O,C,KH,KW] (OIHW), got f32[2,3,8,8] and f32[4,3,3]"),
            ("conv2d(x, d)", "dtype mismatch in conv2d"),
            ("conv2d(x, w, stride=2)", "invalid attribute 'stride' of conv2d"),
            ("conv2d_input_grad(x, w, shape=[8,8])", "conv2d_input_grad: the cotangent has 3 channels but the kernel f32[4,3,3,3] has 4 outputs"),
            ("conv2d_input_grad(g, w, shape=[9,9])", "conv2d_input_grad: the cotangent must have the forward result's shape [2,4,7,7], got f32[2,4,6,6]"),
            ("conv2d_kernel_grad(x, g)", "conv2d_kernel_grad needs the attribute 'shape'"),
        ]
        for (call, message) in cases {
            let source = """
                func f(x: f32[2,3,8,8], w: f32[4,3,3,3], v: f32[4,2,3,3], s: f32[1,3,2,2], r: f32[4,3,3], d: f64[4,3,3,3], g: f32[2,4,6,6]) {
                  y = \(call)
                  return sum(y)
                }
                """
            XCTAssertThrowsError(try Pipeline.parse(source, file: "m.ir"), call) { error in
                guard let d = error as? Diagnostic else { return XCTFail("\(error)") }
                let shown = d.attaching(file: "m.ir", source: source).description
                XCTAssertTrue(shown.hasPrefix("m.ir:2:"), shown)
                XCTAssertTrue(shown.contains(message), "\(call): \(shown)")
                XCTAssertTrue(shown.contains("  y = \(call)\n"), shown)
            }
        }
    }

    /// Pooling over non-overlapping windows (library): values by hand, ties sharing the
    /// gradient, a ragged edge dropped, and finite differences through a conv2d on every backend.
    func testPooling() throws {
        let fb = FunctionBuilder("pool")
        let x = try fb.input("x", .f64, [1, 1, 3, 5])
        let mx = try maxPool2d(x, window: [2, 2])
        let av = try avgPool2d(x, window: [2, 2])
        try fb.output(mx)
        try fb.output(av)
        try fb.output(fb.grad(of: sum(mx) + sum(av), wrt: [x]))
        // Rows 0–1 and columns 0–3 fill two windows; row 2 and column 4 are dropped.
        let xt = try XCTUnwrap(Tensor(f64: [1, 2, 7, 7, 9,
                                            3, 4, 7, 7, 9,
                                            9, 9, 9, 9, 9], shape: [1, 1, 3, 5]))
        for backend in Backend.allCases {
            let out = try compile(fb.function, backend: backend)([xt])
            XCTAssertEqual(out[0].doubles, [4, 7], "\(backend)")
            XCTAssertEqual(out[1].doubles, [2.5, 7], "\(backend)")
            // max: the single maximum 4 takes 1, the four tied 7s share 1/4 each; avg: 1/4 each.
            XCTAssertEqual(out[2].doubles, [0.25, 0.25, 0.5, 0.5, 0, 0.25, 1.25, 0.5, 0.5, 0, 0, 0, 0, 0, 0], "\(backend)")
        }
        XCTAssertThrowsError(try maxPool2d(x, window: [4, 1]))
        XCTAssertThrowsError(try avgPool2d(x, window: [0, 1]))

        let g = FunctionBuilder("cnn")
        let input = try g.input("x", .f64, [2, 2, 6, 6])
        let w = try g.input("w", .f64, [3, 2, 3, 3])
        let loss = try sum(square(maxPool2d(relu(conv2d(input, w, padding: [1, 1])), window: [2, 2])))
            + sum(avgPool2d(conv2d(input, w), window: [2, 2]))
        try g.output(loss)
        try g.output(g.grad(of: loss, wrt: [w]))
        let checks = try GradientChecker.check(g.function, inputs: ["x": Tensor.random(TensorType(.f64, [2, 2, 6, 6]), seed: 1),
                                                                    "w": Tensor.random(TensorType(.f64, [3, 2, 3, 3]), seed: 2)])
        XCTAssertFalse(checks.isEmpty)
        for c in checks { XCTAssertTrue(c.passed, "\(c.label): \(c.maxRelError)") }
    }
}
