import Grad
@testable import GradIR
import TestSupport
import XCTest

/// Exact Jacobian patterns on hand-checked graphs, each also checked against the non-zeros of
/// the library's dense Jacobian at random points (the pattern must contain them, and on these
/// cases the two agree).
final class JacobianPatternTests: XCTestCase {
    /// The pattern of output `k` with respect to parameter `x`, checked against the dense
    /// Jacobian at two random points: every non-zero inside, and (`exact`) the same pattern.
    func check(_ source: String, output k: Int = 0, wrt x: String, expected: [[Int]], exact: Bool = true,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try parsedFunction(source)
        let (y, xv) = (output(f, k), try parameter(f, x))
        let p = try Sparsity.jacobian(of: y, wrt: xv, in: f)
        XCTAssertEqual(p.rows, f.type(of: y).count, file: file, line: line)
        XCTAssertEqual(p.columns, f.type(of: xv).count, file: file, line: line)
        XCTAssertEqual(rowsOf(p), expected, file: file, line: line)
        var dense: [[Double]] = []
        for seed in [1, 2] as [UInt64] {
            let d = try denseJacobian(f, y, xv, randomInputs(f, seed: seed))
            assertInside(d, p, "seed \(seed)", file: file, line: line)
            dense.append(d)
        }
        if exact { XCTAssertEqual(observedPattern(dense, rows: p.rows, columns: p.columns), expected, "observed", file: file, line: line) }
    }

    func testDiagonal() throws {
        try check("func f(x: f64[5]) { return exp(x) * 2 + sin(x) }", wrt: "x", expected: (0..<5).map { [$0] })
    }

    func testBandedStencils() throws {
        try check("func f(x: f64[6]) { return x[1:] - x[:-1] }", wrt: "x", expected: (0..<5).map { [$0, $0 + 1] })
        try check("func f(x: f64[6]) { return x[2:] - 2 * x[1:-1] + x[:-2] }", wrt: "x", expected: (0..<4).map { [$0, $0 + 1, $0 + 2] })
    }

    func testStridedSliceTimesShiftedSlice() throws {
        // x[0:7:3] = x0, x3, x6; x[1:7:3] = x1, x4 — shapes must match, so take 2 of each.
        try check("func f(x: f64[7]) { return x[0:6:3] * x[1:7:3] }", wrt: "x", expected: [[0, 1], [3, 4]])
    }

    func testBlockSums() throws {
        try check("func f(x: f64[6]) { return sum(reshape(x, shape=[2,3]) * 3, axes=[1]) }", wrt: "x", expected: [[0, 1, 2], [3, 4, 5]])
        try check("func f(x: f64[2,3]) { return sum(x * x, axes=[0]) }", wrt: "x", expected: [[0, 3], [1, 4], [2, 5]])
    }

    func testArrowhead() throws {
        try check("func f(x: f64[5]) { return x[0] * x }", wrt: "x", expected: [[0]] + (1..<5).map { [0, $0] })
    }

    func testMatmulRowsAndColumns() throws {
        let src = "func f(a: f64[2,3], w: f64[3,4]) { return a @ w }"
        try check(src, wrt: "a", expected: (0..<8).map { e in let i = e / 4; return [3 * i, 3 * i + 1, 3 * i + 2] })
        try check(src, wrt: "w", expected: (0..<8).map { e in let j = e % 4; return [j, 4 + j, 8 + j] })
        // Batched, with a broadcast batch dimension.
        let batched = "func f(a: f64[2,1,2], w: f64[2,3]) { return a @ w }"
        try check(batched, wrt: "a", expected: (0..<6).map { e in let b = e / 3; return [2 * b, 2 * b + 1] })
    }

    func testTransposeBroadcastConcatPad() throws {
        try check("func f(x: f64[2,3]) { return transpose(x) * 1.5 }", wrt: "x", expected: [[0], [3], [1], [4], [2], [5]])
        try check("func f(x: f64[3]) { return broadcast_to(x, shape=[2,3]) + sum(x[0:1]) }", wrt: "x",
                  expected: [[0], [0, 1], [0, 2], [0], [0, 1], [0, 2]])
        try check("func f(x: f64[2]) { return concat(x * 2, exp(x), axis=0) }", wrt: "x", expected: [[0], [1], [0], [1]])
        try check("func f(x: f64[2]) { return pad(x, low=[1], high=[1], step=[2]) * 3 }", wrt: "x", expected: [[], [0], [], [1], []])
    }

    func testCumsumAndSoftmaxRows() throws {
        try check("func f(x: f64[4]) { return cumsum(x, axis=0) }", wrt: "x", expected: [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]])
        try check("func f(x: f64[3]) { return cumsum(x, axis=0, reverse=true) }", wrt: "x", expected: [[0, 1, 2], [1, 2], [2]])
        try check("func f(x: f64[2,2]) { return softmax(x) }", wrt: "x", expected: [[0, 1], [0, 1], [2, 3], [2, 3]])
        try check("func f(x: f64[2,2], l: f64[2,2]) { return softmax_cross_entropy(x, l, axis=0) }", wrt: "x", expected: [[0, 2], [1, 3]])
    }

    func testZeroDerivativeOpsAndSelect() throws {
        try check("func f(x: f64[3], y: f64[3]) { return floor(x) + sign(y) * 2 + select(x > y, x, y * 0) }", wrt: "x", expected: [[0], [1], [2]])
        try check("func f(x: f64[3], y: f64[3]) { return select(x > y, x, y) }", wrt: "y", expected: [[0], [1], [2]], exact: false)
        try check("func f(x: f64[3]) { return cast(argmax(x), dtype=f64) + x * 0 }", wrt: "x", expected: [[0], [1], [2]], exact: false)
    }

    func testTakeAndScatterWithConstantIndices() throws {
        try check("func f(x: f64[4]) { return take(x, [2, 0, 2], axis=0) * 2 }", wrt: "x", expected: [[2], [0], [2]])
        try check("func f(x: f64[4]) { return scatter_add(zeros(shape=[3]), [2, 0, 2, 1], x, axis=0) }", wrt: "x", expected: [[1], [3], [0, 2]])
        try check("func f(x: f64[3,2]) { return take(x, [-1, 0], axis=1) }", wrt: "x", expected: [[1], [0], [3], [2], [5], [4]])
        try check("func f(x: f64[2,3]) { return take_along_axis(x, [[2], [0]], axis=1) }", wrt: "x", expected: [[2], [3]])
        try check("func f(b: f64[2,3], u: f64[2,1]) { return scatter_add_along_axis(b, [[2], [0]], u * u, axis=1) }", wrt: "u",
                  expected: [[], [], [0], [1], [], []])
    }

    func testRunTimeIndicesAreConservativeAlongTheAxis() throws {
        let src = "func f(x: f64[3,2], i: i64[2]) { return take(x, i, axis=0) }"
        let f = try parsedFunction(src)
        let p = try Sparsity.jacobian(of: output(f, 0), wrt: parameter(f, "x"), in: f)
        XCTAssertEqual(rowsOf(p), [[0, 2, 4], [1, 3, 5], [0, 2, 4], [1, 3, 5]])
        // scatter_add with a 2-D run-time index: updates [2, 2, 2] land anywhere on axis 1.
        let scatter = try parsedFunction("func f(b: f64[2,3], i: i64[2,2], u: f64[2,2,2]) { return scatter_add(b, i, u, axis=1) }")
        let q = try Sparsity.jacobian(of: output(scatter, 0), wrt: parameter(scatter, "u"), in: scatter)
        XCTAssertEqual(rowsOf(q), [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [4, 5, 6, 7], [4, 5, 6, 7], [4, 5, 6, 7]])
        var inputs = randomInputs(scatter, seed: 9)
        inputs["i"] = Tensor(i64: [0, 2, -1, 1], shape: [2, 2])
        assertInside(try denseJacobian(scatter, output(scatter, 0), parameter(scatter, "u"), inputs), q, "run-time scatter")
    }

    /// A bundle-adjustment-like residual: residual o reads camera cam[o] and point pt[o] (const
    /// indices), so each residual row depends on 2 camera and 1 point parameter.
    func testBundleAdjustmentResidualWithConstantIndices() throws {
        let src = """
        func ba(p: f64[14]) {
          cams = reshape(p[0:6], shape=[3,2])
          pts = reshape(p[6:14], shape=[4,2])
          c = take(cams, [0, 1, 2, 0, 1], axis=0)
          q = take(pts, [0, 1, 2, 3, 3], axis=0)
          return c * q + sum(sin(c), axes=[1], keepdims=true)
        }
        """
        let cams = [0, 1, 2, 0, 1], pts = [0, 1, 2, 3, 3]
        let expected = (0..<10).map { e -> [Int] in
            let (o, j) = (e / 2, e % 2)
            return [2 * cams[o], 2 * cams[o] + 1, 6 + 2 * pts[o] + j]
        }
        try check(src, wrt: "p", expected: expected)
    }

    func testConvolutionWindows() throws {
        // A 1×1-channel 3×3 image, a 2×2 kernel: output (p, q) reads the window at (p, q).
        let src = "func f(x: f64[1,1,3,3], w: f64[1,1,2,2]) { return conv2d(x, w) }"
        let expected = (0..<4).map { e -> [Int] in
            let (p, q) = (e / 2, e % 2)
            return [p * 3 + q, p * 3 + q + 1, (p + 1) * 3 + q, (p + 1) * 3 + q + 1]
        }
        try check(src, wrt: "x", expected: expected)
        try check(src, wrt: "w", expected: [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]])
    }

    func testLinearAlgebraAndSolvesPerColumn() throws {
        try check("func f(a: f64[2,2]) { return logdet(a @ transpose(a) + eye(2)) }", wrt: "a", expected: [[0, 1, 2, 3]])
        try check("func f(a: f64[2,2], b: f64[2,3]) { return solve(a @ transpose(a) + eye(2), b) }", wrt: "b",
                  expected: (0..<6).map { e in [e % 3, 3 + e % 3] })
    }

    /// Loops are propagated step by step: the final carry's element j sums column j of the
    /// sequence, the stacked per-step outputs accumulate row by row.
    func testScanPropagatesStepByStep() throws {
        let src = """
        func step(h: f64[2], r: f64[2]) {
          h2 = h + r * r
          return h2, h2
        }
        func f(h0: f64[2], xs: f64[3,2]) {
          hT, hs = scan(step, carry=(h0), over=(xs))
          return hT, hs
        }
        """
        try check(src, output: 0, wrt: "xs", expected: [[0, 2, 4], [1, 3, 5]])
        try check(src, output: 1, wrt: "xs", expected: [[0], [1], [0, 2], [1, 3], [0, 2, 4], [1, 3, 5]])
        try check(src, output: 1, wrt: "h0", expected: [[0], [1], [0], [1], [0], [1]])
    }

    /// 100 000 steps exceed the unrolling budget: the carries' sets are iterated to a fixed
    /// point (exact here: h·k keeps each element to itself; a rotation spreads it to all).
    func testLongLoopsReachAFixedPoint() throws {
        let src = """
        func step(i: i64, h: f64[3], r: f64) {
          return h * r, h[0]
        }
        func spin(i: i64, h: f64[3], r: f64) {
          return concat(h[1:], h[:1], axis=0)
        }
        func f(h0: f64[3], k: f64) {
          hT, firsts = fori(step, 100000, carry=(h0), with=(k))
          sT = fori(spin, 100000, carry=(h0), with=(k))
          return hT, firsts, sT
        }
        """
        let f = try parsedFunction(src)
        let (h0, k) = (try parameter(f, "h0"), try parameter(f, "k"))
        XCTAssertEqual(rowsOf(try Sparsity.jacobian(of: output(f, 0), wrt: h0, in: f)), [[0], [1], [2]])
        XCTAssertEqual(rowsOf(try Sparsity.jacobian(of: output(f, 0), wrt: k, in: f)), [[0], [0], [0]])
        let firsts = try Sparsity.jacobian(of: output(f, 1), wrt: h0, in: f)
        XCTAssertEqual(firsts.rows, 100000)
        XCTAssertEqual(firsts.nonZeroCount, 100000)
        XCTAssertEqual(rowsOf(try Sparsity.jacobian(of: output(f, 2), wrt: h0, in: f)), [[0, 1, 2], [0, 1, 2], [0, 1, 2]])
        // The rotation does not read k.
        XCTAssertEqual(try Sparsity.jacobian(of: output(f, 2), wrt: k, in: f).nonZeroCount, 0)
        XCTAssertEqual(try Sparsity.hessian(of: output(f, 0), wrt: h0, in: f).nonZeroCount, 0)
    }

    /// A fixed point that takes more than 256 rounds (a rotation of 300 elements spreads one
    /// element a round) falls back to "everything the loop reads": the second carry, which
    /// only ever reads itself, then depends on h0 too.
    func testLoopsWithoutAFixedPointAreConservative() throws {
        let src = """
        func spin(i: i64, h: f64[300], g: f64, r: f64) {
          return concat(h[1:], h[:1], axis=0), g * r
        }
        func f(h0: f64[300], g0: f64, k: f64) {
          hT, gT = fori(spin, 100000, carry=(h0, g0), with=(k))
          return gT
        }
        """
        let f = try parsedFunction(src)
        let p = try Sparsity.jacobian(of: output(f, 0), wrt: parameter(f, "h0"), in: f)
        XCTAssertEqual(rowsOf(p), [Array(0..<300)])
    }

    func testLimitIsRespected() throws {
        let f = try parsedFunction("func f(x: f64[100]) { return softmax(x) }")
        XCTAssertThrowsError(try Sparsity.jacobian(of: output(f, 0), wrt: parameter(f, "x"), in: f, limit: 9_999)) { e in
            XCTAssertEqual(e as? SparsityError, .tooManyNonZeros(limit: 9_999))
        }
        XCTAssertEqual(try Sparsity.jacobian(of: output(f, 0), wrt: parameter(f, "x"), in: f, limit: 10_000).nonZeroCount, 10_000)
    }

    func testUnrelatedAndIntegerValuesGiveEmptyPatterns() throws {
        let f = try parsedFunction("func f(x: f64[3], y: f64[2]) { return exp(y), argmax(x) }")
        let p = try Sparsity.jacobian(of: output(f, 0), wrt: parameter(f, "x"), in: f)
        XCTAssertEqual(p.rows, 2)
        XCTAssertEqual(p.nonZeroCount, 0)
        XCTAssertEqual(try Sparsity.jacobian(of: output(f, 1), wrt: parameter(f, "x"), in: f).nonZeroCount, 0)
    }
}

/// Run-time indices whose values the caller gives are as exact as constant ones.
final class KnownIndexTests: XCTestCase {
    func testBundleAdjustmentWithIndexInputs() throws {
        let src = """
        func ba(cams: f64[3,2], pts: f64[4,2], cam: i64[5], pt: i64[5]) {
          c = take(cams, cam, axis=0)
          q = take(pts, pt, axis=0)
          r = c * q
          return r, sum(r * r)
        }
        """
        let f = try parsedFunction(src)
        let (cams, cam, pt) = (try parameter(f, "cams"), try parameter(f, "cam"), try parameter(f, "pt"))
        let conservative = try Sparsity.jacobian(of: output(f, 0), wrt: cams, in: f)
        XCTAssertEqual(rowsOf(conservative), (0..<10).map { e in e % 2 == 0 ? [0, 2, 4] : [1, 3, 5] })
        let values: [ValueID: [Int64]] = [cam: [0, 1, 2, 0, 1], pt: [0, 1, 2, 3, 3]]
        let exact = try Sparsity.jacobian(of: output(f, 0), wrt: cams, in: f, indexValues: values)
        XCTAssertEqual(rowsOf(exact), (0..<10).map { e in [2 * [0, 1, 2, 0, 1][e / 2] + e % 2] })
        // The Hessian in the cameras: each camera coordinate only with itself.
        let h = try Sparsity.hessian(of: output(f, 1), wrt: cams, in: f, indexValues: values)
        XCTAssertEqual(rowsOf(h), (0..<6).map { [$0] })
        // A wrong count of values is ignored (conservative).
        let ignored = try Sparsity.jacobian(of: output(f, 0), wrt: cams, in: f, indexValues: [cam: [0, 1]])
        XCTAssertEqual(ignored, conservative)
        // Checked against the dense Jacobian at those indices.
        var inputs = randomInputs(f, seed: 5)
        inputs["cam"] = Tensor(i64: [0, 1, 2, 0, 1], shape: [5])
        inputs["pt"] = Tensor(i64: [0, 1, 2, 3, 3], shape: [5])
        assertInside(try denseJacobian(f, output(f, 0), cams, inputs), exact, "known indices")
    }
}

/// Convolutions with stride, padding and dilation: the pattern equals the non-zeros of the
/// dense Jacobian (Hessian) at random points — exact, since the ops are multilinear.
final class ConvolutionPatternTests: XCTestCase {
    func assertExact(_ source: String, wrt x: String, hessian: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try parsedFunction(source)
        let (y, xv) = (output(f, 0), try parameter(f, x))
        let p = hessian ? try Sparsity.hessian(of: y, wrt: xv, in: f) : try Sparsity.jacobian(of: y, wrt: xv, in: f)
        var dense: [[Double]] = []
        for seed in [21, 22] as [UInt64] {
            let inputs = randomInputs(f, seed: seed)
            dense.append(hessian ? try denseHessian(f, y, xv, inputs) : try denseJacobian(f, y, xv, inputs))
        }
        XCTAssertEqual(rowsOf(p), observedPattern(dense, rows: p.rows, columns: p.columns), file: file, line: line)
        XCTAssertGreaterThan(p.nonZeroCount, 0, file: file, line: line)
    }

    let attrs = "stride=[2,1], padding=[1,0], dilation=[1,2]"

    func testConv2dAndItsTransposes() throws {
        let forward = "func f(x: f64[2,2,5,6], w: f64[3,2,2,2]) { return conv2d(x, w, \(attrs)) }"
        try assertExact(forward, wrt: "x")
        try assertExact(forward, wrt: "w")
        // The output of that convolution is [2,3,3,4].
        let input = "func f(g: f64[2,3,3,4], w: f64[3,2,2,2]) { return conv2d_input_grad(g, w, \(attrs), shape=[5,6]) }"
        try assertExact(input, wrt: "g")
        try assertExact(input, wrt: "w")
        let kernel = "func f(x: f64[2,2,5,6], g: f64[2,3,3,4]) { return conv2d_kernel_grad(x, g, \(attrs), shape=[2,2]) }"
        try assertExact(kernel, wrt: "g")
        try assertExact(kernel, wrt: "x")
    }

    func testConvolutionHessians() throws {
        let src = """
        func f(p: f64[16]) {
          x = reshape(p[0:12], shape=[1,1,3,4])
          w = reshape(p[12:16], shape=[1,1,2,2])
          return sum(conv2d(x, w, stride=[1,2]))
        }
        """
        try assertExact(src, wrt: "p", hessian: true)
        let transposed = """
        func f(p: f64[10]) {
          g = reshape(p[0:6], shape=[1,1,2,3])
          w = reshape(p[6:10], shape=[1,1,2,2])
          return sum(conv2d_input_grad(g, w, shape=[3,4]) * [[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]]])
        }
        """
        try assertExact(transposed, wrt: "p", hessian: true)
    }
}

/// Index operands computed from constants, iota, the caller's values or an unrolled loop's step
/// number are evaluated, so the indexing ops they feed are exact.
final class ComputedIndexTests: XCTestCase {
    func testIndicesFromIotaAndIntegerArithmetic() throws {
        // iota·5 + 1 = [1, 6, 11, 16]; floordiv 2 → [0, 3, 5, 8]; mod 3 → [0, 0, 2, 2]; − 1 →
        // [−1, −1, 1, 1]: positions 2, 2, 1, 1.
        let src = """
        func f(x: f64[3]) {
          ids = mod(floordiv(iota(shape=[4]) * 5 + 1, 2), 3) - 1
          return take(x, ids, axis=0) + scatter_add(x, ids, x[0:1] * [1, 2, 3, 4], axis=0)[0]
        }
        """
        let f = try parsedFunction(src)
        let p = try Sparsity.jacobian(of: output(f, 0), wrt: parameter(f, "x"), in: f)
        // scatter_add(x, ids, …)[0] = x0: no update lands on position 0.
        XCTAssertEqual(rowsOf(p), [[0, 2], [0, 2], [0, 1], [0, 1]])
        assertInside(try denseJacobian(f, output(f, 0), parameter(f, "x"), randomInputs(f, seed: 1)), p, "iota indices")
    }

    func testSlicesOfAGivenIndexInput() throws {
        let src = """
        func ba(cams: f64[3,2], obs: i64[4,2]) {
          c = take(cams, obs[:, 0], axis=0)
          return c * c
        }
        """
        let f = try parsedFunction(src)
        let obs = try parameter(f, "obs")
        let p = try Sparsity.jacobian(of: output(f, 0), wrt: parameter(f, "cams"), in: f, indexValues: [obs: [2, 0, 0, 1, 1, 1, -1, 0]])
        XCTAssertEqual(rowsOf(p), [[4], [5], [0], [1], [2], [3], [4], [5]])  // cameras 2, 0, 1, −1 = 2
    }

    func testUnrolledLoopsKnowTheirStepNumber() throws {
        // h[i] accumulates x[i]·x[i] at step i only.
        let src = """
        func step(i: i64, h: f64[3], x: f64[3]) {
          e = take(x, expand_dims(i, axis=0), axis=0)
          return scatter_add(h, expand_dims(i, axis=0), e * e, axis=0)
        }
        func f(h0: f64[3], x: f64[3]) {
          return fori(step, 3, carry=(h0), with=(x))
        }
        """
        let f = try parsedFunction(src)
        let p = try Sparsity.jacobian(of: output(f, 0), wrt: parameter(f, "x"), in: f)
        XCTAssertEqual(rowsOf(p), [[0], [1], [2]])
        assertInside(try denseJacobian(f, output(f, 0), parameter(f, "x"), randomInputs(f, seed: 2)), p, "fori")
        let h = try Sparsity.hessian(of: parsedFunction(src.replacingOccurrences(of: "return fori(step, 3, carry=(h0), with=(x))", with: "return sum(fori(step, 3, carry=(h0), with=(x)))")).outputs[0].value,
                                     wrt: parameter(f, "x"), in: parsedFunction(src.replacingOccurrences(of: "return fori(step, 3, carry=(h0), with=(x))", with: "return sum(fori(step, 3, carry=(h0), with=(x)))")))
        XCTAssertEqual(rowsOf(h), [[0], [1], [2]])
    }
}
