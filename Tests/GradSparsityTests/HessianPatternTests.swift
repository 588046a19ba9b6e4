import Grad
@testable import GradIR
import TestSupport
import XCTest

/// Exact Hessian patterns on hand-checked objectives, each checked against the non-zeros of the
/// library's dense Hessian at random points.
final class HessianPatternTests: XCTestCase {
    func check(_ source: String, output k: Int = 0, wrt x: String, expected: [[Int]], exact: Bool = true,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try parsedFunction(source)
        let (y, xv) = (output(f, k), try parameter(f, x))
        let p = try Sparsity.hessian(of: y, wrt: xv, in: f)
        let n = f.type(of: xv).count
        XCTAssertEqual(p.rows, n, file: file, line: line)
        XCTAssertEqual(p.columns, n, file: file, line: line)
        XCTAssertEqual(rowsOf(p), expected, file: file, line: line)
        XCTAssertEqual(p, p.transposed(), "symmetric", file: file, line: line)
        var dense: [[Double]] = []
        for seed in [3, 4] as [UInt64] {
            let d = try denseHessian(f, y, xv, randomInputs(f, seed: seed))
            assertInside(d, p, "seed \(seed)", file: file, line: line)
            dense.append(d)
        }
        if exact { XCTAssertEqual(observedPattern(dense, rows: n, columns: n), expected, "observed", file: file, line: line) }
    }

    func testDiagonal() throws {
        try check("func f(x: f64[4]) { return sum(exp(x)) + sum(x * 3) }", wrt: "x", expected: (0..<4).map { [$0] })
    }

    func testTridiagonal() throws {
        try check("func f(x: f64[5]) { return sum((x[1:] - x[:-1])^2) }", wrt: "x",
                  expected: patternWhere(rows: 5, columns: 5) { abs($0 - $1) <= 1 })
    }

    func testArrowhead() throws {
        try check("func f(x: f64[5]) { return sum(x[0] * x) }", wrt: "x",
                  expected: patternWhere(rows: 5, columns: 5) { $0 == 0 || $1 == 0 })
    }

    func testProductsAndLinearPieces() throws {
        try check("func f(x: f64[4]) { return x[0] * x[1] + x[2] * x[2] + relu(x[3]) + max(x) + abs(x[1]) }", wrt: "x",
                  expected: [[1], [0], [2], []])
        try check("func f(x: f64[3]) { return x[0] / x[1] + x[2] }", wrt: "x", expected: [[1], [0, 1], []])
    }

    func testLaplacianEnergyIsTheFivePointPattern() throws {
        let (r, c) = (4, 5)
        let src = """
        func f(u: f64[\(r),\(c)]) {
          return sum((u[1:,:] - u[:-1,:])^2) + sum((u[:,1:] - u[:,:-1])^2) + sum(exp(u))
        }
        """
        try check(src, wrt: "u", expected: patternWhere(rows: r * c, columns: r * c) { a, b in
            let (ia, ja, ib, jb) = (a / c, a % c, b / c, b % c)
            return abs(ia - ib) + abs(ja - jb) <= 1
        })
    }

    /// The k-means objective Σᵢ minₖ ‖xᵢ − cₖ‖²: its Hessian in the centres is diagonal (min
    /// is piecewise linear; each squared coordinate involves one centre coordinate).
    func testKMeansHessianIsDiagonal() throws {
        let src = """
        func kmeans(x: f64[6,2], c: f64[3,2]) {
          d = expand_dims(x, axis=1) - expand_dims(c, axis=0)
          return sum(min(sum(d * d, axes=[2]), axes=[1]))
        }
        """
        // Only the centres nearest to some point have a non-zero at a given point.
        try check(src, wrt: "c", expected: (0..<6).map { [$0] }, exact: false)
    }

    func testMatmulPairsRowsWithColumns() throws {
        // f = Σ (A @ B), A = p[0:4] as 2×2, B = p[4:8] as 2×2: A[i,k] meets B[k,j] for every i, j.
        let src = """
        func f(p: f64[8]) {
          a = reshape(p[0:4], shape=[2,2])
          b = reshape(p[4:8], shape=[2,2])
          return sum(a @ b)
        }
        """
        try check(src, wrt: "p", expected: patternWhere(rows: 8, columns: 8) { s, t in
            let (a, b) = (Swift.min(s, t), Swift.max(s, t))
            guard a < 4, b >= 4 else { return false }
            return a % 2 == (b - 4) / 2  // A[i,k] with k = a % 2 meets B[k, j], k = (b − 4) / 2
        })
        try check("func f(x: f64[2,2], w: f64[2,2]) { return sum(tanh(x @ w)) }", wrt: "w",
                  expected: patternWhere(rows: 4, columns: 4) { $0 % 2 == $1 % 2 })
    }

    func testReductionsWithCurvatureAreDensePerGroup() throws {
        try check("func f(x: f64[2,2]) { return sum(logsumexp(x, axes=[1])) }", wrt: "x",
                  expected: [[0, 1], [0, 1], [2, 3], [2, 3]])
        try check("func f(x: f64[2,2]) { return sum(softmax(x, axis=0) * [[1, 2], [3, 4]]) }", wrt: "x",
                  expected: [[0, 2], [1, 3], [0, 2], [1, 3]])
    }

    func testIndexedObjectiveWithConstantIndices() throws {
        // Residuals r_o = c[cam_o] · q[pt_o]; f = Σ r²: each residual couples its two entries.
        let src = """
        func f(p: f64[5]) {
          c = take(p[0:2], [0, 1, 1], axis=0)
          q = take(p[2:5], [0, 1, 2], axis=0)
          return sum((c * q)^2)
        }
        """
        try check(src, wrt: "p", expected: [[0, 2], [1, 3, 4], [0, 2], [1, 3], [1, 4]])
    }

    func testLoopsPropagateInteractions() throws {
        let src = """
        func step(h: f64[2], r: f64[2]) {
          return h * r
        }
        func f(h0: f64[2], xs: f64[2,2]) {
          hT = scan(step, carry=(h0), over=(xs))
          return sum(hT)
        }
        """
        // hT[j] = h0[j]·xs[0,j]·xs[1,j].
        try check(src, wrt: "xs", expected: [[2], [3], [0], [1]])
        try check(src, wrt: "h0", expected: [[], []])
    }

    func testLimit() throws {
        let f = try parsedFunction("func f(x: f64[50]) { return logsumexp(x) }")
        XCTAssertThrowsError(try Sparsity.hessian(of: output(f, 0), wrt: parameter(f, "x"), in: f, limit: 2_499))
        XCTAssertEqual(try Sparsity.hessian(of: output(f, 0), wrt: parameter(f, "x"), in: f, limit: 2_500).nonZeroCount, 2_500)
    }
}

/// A `while` loop's condition only gates the steps: its arithmetic adds no interactions.
final class WhileLoopHessianTests: XCTestCase {
    func testTheConditionAddsNoInteractions() throws {
        let src = """
        func big(c: f64[3], k: f64) {
          return sum(c * c) < 100
        }
        func grow(c: f64[3], k: f64) {
          return c * k
        }
        func f(c0: f64[3], k: f64) {
          c = while(big, grow, carry=(c0), with=(k), max_iterations=10)
          return sum(c) + sum(exp(c0[0:1]))
        }
        """
        let f = try parsedFunction(src)
        let (c0, k) = (try parameter(f, "c0"), try parameter(f, "k"))
        // Linear in c0 but for the exp of its first element.
        XCTAssertEqual(rowsOf(try Sparsity.hessian(of: output(f, 0), wrt: c0, in: f)), [[0], [], []])
        for seed in [1, 2] as [UInt64] {
            let inputs = randomInputs(f, seed: seed)
            assertInside(try denseHessian(f, output(f, 0), c0, inputs), try Sparsity.hessian(of: output(f, 0), wrt: c0, in: f), "c0")
            assertInside(try denseHessian(f, output(f, 0), k, inputs), try Sparsity.hessian(of: output(f, 0), wrt: k, in: f), "k")
        }
        XCTAssertEqual(rowsOf(try Sparsity.hessian(of: output(f, 0), wrt: k, in: f)), [[0]])
    }
}

/// GradBench's k-means cost (Examples/gradbench/kmeans.ir: squared distances through a matrix
/// product): a diagonal Hessian in the centroids, also at the suite's largest size, where the
/// [n, k] distances (10⁷ elements, 16 centroid coordinates each) must never be materialized.
final class GradBenchKMeansTests: XCTestCase {
    func cost(_ n: Int, _ k: Int, _ d: Int) throws -> Function {
        let template = try repositoryFile("Examples/gradbench/kmeans.ir")
        let source = template.replacingOccurrences(of: "$n", with: "\(n)").replacingOccurrences(of: "$k", with: "\(k)")
            .replacingOccurrences(of: "$d", with: "\(d)")
        return try XCTUnwrap(parseModule(source).function(named: "cost"))
    }

    func testDiagonalAtSmallSizeAgainstTheDenseHessian() throws {
        let f = try cost(12, 3, 2)
        let c = try parameter(f, "centroids")
        let h = try Sparsity.hessian(of: output(f, 0), wrt: c, in: f)
        XCTAssertEqual(rowsOf(h), (0..<6).map { [$0] })
        assertInside(try denseHessian(f, output(f, 0), c, randomInputs(f, seed: 4)), h, "kmeans")
    }

    func testDiagonalAtTheLargestBenchmarkSize() throws {
        let f = try cost(10_000, 1_000, 16)
        let h = try Sparsity.hessian(of: output(f, 0), wrt: parameter(f, "centroids"), in: f)
        XCTAssertEqual(h.nonZeroCount, 16_000)
        XCTAssertTrue((0..<h.rows).allSatisfy { h.columns(ofRow: $0).elementsEqual([Int32($0)]) })
        XCTAssertEqual(Colouring.symmetricColouring(h).colourCount, 1)
    }
}
