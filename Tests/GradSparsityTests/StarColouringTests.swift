import Grad
@testable import GradIR
import TestSupport
import XCTest

/// Colourings: colour counts on the hand cases, and recovery checked numerically on every test
/// pattern — a random matrix with the pattern, compressed densely in the test, recovered
/// through `recovery`, compared entry by entry.
final class StarColouringTests: XCTestCase {
    func pattern(_ n: Int, _ isNonZero: (Int, Int) -> Bool) throws -> SparsityPattern {
        var entries: [(row: Int, column: Int)] = []
        for i in 0..<n { for j in 0..<n where isNonZero(i, j) { entries.append((i, j)) } }
        return try XCTUnwrap(SparsityPattern(rows: n, columns: n, entries: entries))
    }

    func tridiagonal(_ n: Int) throws -> SparsityPattern { try pattern(n) { abs($0 - $1) <= 1 } }
    func arrowhead(_ n: Int) throws -> SparsityPattern { try pattern(n) { $0 == 0 || $1 == 0 || $0 == $1 } }
    func diagonal(_ n: Int) throws -> SparsityPattern { try pattern(n) { $0 == $1 } }
    func laplacian(_ r: Int, _ c: Int) throws -> SparsityPattern {
        try pattern(r * c) { a, b in abs(a / c - b / c) + abs(a % c - b % c) <= 1 }
    }

    /// A symmetric matrix with pattern `p` (symmetrized), random non-zero entries; row-major.
    func randomSymmetric(_ p: SparsityPattern, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        let s = p.symmetrized()
        var h = [Double](repeating: 0, count: s.rows * s.columns)
        for i in 0..<s.rows {
            for j in s.columns(ofRow: i) where Int(j) >= i {
                let v = Double.random(in: 1...2, using: &rng) * (Bool.random(using: &rng) ? 1 : -1)
                h[i * s.columns + Int(j)] = v
                h[Int(j) * s.columns + i] = v
            }
        }
        return h
    }

    /// Compresses `h` densely with the layout (B = H·S, or Sᵀ·H for rows) and checks that
    /// every non-zero of `p` is read back from its recovery slot.
    func assertRecovers(_ p: SparsityPattern, _ layout: CompressedLayout, _ h: [Double], file: StaticString = #filePath, line: UInt = #line) {
        let (n, m, k) = (p.rows, p.columns, layout.colourCount)
        var b: [Double]
        switch layout.direction {
        case .columns, .symmetric:
            b = [Double](repeating: 0, count: n * k)
            for i in 0..<n { for j in 0..<m { b[i * k + Int(layout.colours[j])] += h[i * m + j] } }
        case .rows:
            b = [Double](repeating: 0, count: k * m)
            for i in 0..<n { for j in 0..<m { b[Int(layout.colours[i]) * m + j] += h[i * m + j] } }
        }
        XCTAssertEqual(layout.recovery.count, p.nonZeroCount, file: file, line: line)
        var z = 0
        var wrong = 0
        for i in 0..<n {
            for j in p.columns(ofRow: i) {
                if b[layout.recovery[z]] != h[i * m + Int(j)] { wrong += 1 }
                z += 1
            }
        }
        XCTAssertEqual(wrong, 0, "\(wrong) of \(p.nonZeroCount) non-zeros recovered wrongly (\(layout.direction), \(k) colours)", file: file, line: line)
    }

    func checkAll(_ p: SparsityPattern, seed: UInt64 = 1, file: StaticString = #filePath, line: UInt = #line) -> (star: Int, columns: Int, rows: Int) {
        let h = randomSymmetric(p, seed: seed)
        let star = Colouring.symmetricColouring(p)
        let columns = Colouring.columnColouring(p)
        let rows = Colouring.rowColouring(p)
        assertRecovers(p, star, h, file: file, line: line)
        // The Jacobian colourings compress a matrix with exactly p's pattern.
        var masked = h
        for e in masked.indices where !p.contains(row: e / p.columns, column: e % p.columns) { masked[e] = 0 }
        for layout in [columns, rows] { assertRecovers(p, layout, masked, file: file, line: line) }
        return (star.colourCount, columns.colourCount, rows.colourCount)
    }

    func testColourCountsOnTheHandCases() throws {
        XCTAssertEqual(checkAll(try tridiagonal(9)).star, 3)
        XCTAssertEqual(checkAll(try tridiagonal(9)).columns, 3)
        let arrow = checkAll(try arrowhead(8))
        XCTAssertEqual(arrow.star, 2)
        XCTAssertEqual(arrow.columns, 8)
        XCTAssertEqual(checkAll(try diagonal(6)).star, 1)
        let grid = checkAll(try laplacian(12, 9))
        // The greedy star colouring in natural order: 6 on this 12×9 grid (5 on the square
        // grids of Examples/SparsityTiming); distance-2: 7 (a 5-point row needs at least 5).
        XCTAssertEqual(grid.star, 6)
        XCTAssertEqual(grid.columns, 7)
        XCTAssertEqual(checkAll(try laplacian(12, 12)).star, 5)
    }

    /// Recovery on random symmetric patterns of several densities, and on the empty pattern.
    func testRecoveryOnRandomSymmetricPatterns() throws {
        var rng = SplitMix64(seed: 7)
        for trial in 0..<60 {
            let n = Int.random(in: 1...30, using: &rng)
            let density = Double.random(in: 0.02...0.5, using: &rng)
            var entries: [(row: Int, column: Int)] = []
            for i in 0..<n {
                for j in 0...i where i == j ? Bool.random(using: &rng) : Double.random(in: 0...1, using: &rng) < density {
                    entries.append((i, j))
                    entries.append((j, i))
                }
            }
            let p = try XCTUnwrap(SparsityPattern(rows: n, columns: n, entries: entries))
            let counts = checkAll(p, seed: UInt64(trial))
            XCTAssertLessThanOrEqual(counts.star, counts.columns + 2, "trial \(trial)")
        }
        let empty = try XCTUnwrap(SparsityPattern(rows: 3, columns: 3, entries: []))
        XCTAssertEqual(Colouring.symmetricColouring(empty).recovery, [])
    }

    /// The star colouring of a lower triangle alone (as a caller might pass) still recovers it.
    func testRecoveryOfAHalfStoredPattern() throws {
        let lower = try pattern(10) { i, j in j <= i && (i - j <= 2 || j == 0) }
        _ = checkAll(lower)
    }

    /// The patterns the detection computes, compressed and recovered.
    func testDetectedPatternsCompressAndRecover() throws {
        let f = try parsedFunction("""
        func f(u: f64[5,4]) {
          return sum((u[1:,:] - u[:-1,:])^2) + sum((u[:,1:] - u[:,:-1])^2) + sum(exp(u)) + sum(u[0,0] * u)
        }
        """)
        let h = try Sparsity.hessian(of: output(f, 0), wrt: parameter(f, "u"), in: f)
        let counts = checkAll(h)
        XCTAssertLessThan(counts.star, counts.columns)
        let j = try parsedFunction("func g(x: f64[8]) { return x[2:] - 2 * x[1:-1] + x[:-2] }")
        let jp = try Sparsity.jacobian(of: output(j, 0), wrt: parameter(j, "x"), in: j)
        var rng = SplitMix64(seed: 3)
        let dense = (0..<(jp.rows * jp.columns)).map { e in jp.contains(row: e / jp.columns, column: e % jp.columns) ? Double.random(in: 1...2, using: &rng) : 0 }
        let columns = Colouring.columnColouring(jp)
        XCTAssertEqual(columns.colourCount, 3)
        assertRecovers(jp, columns, dense)
        assertRecovers(jp, Colouring.rowColouring(jp), dense)
    }
}
