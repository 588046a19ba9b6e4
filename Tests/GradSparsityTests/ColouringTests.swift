import XCTest
@testable import GradIR

final class ColouringTests: XCTestCase {
    /// A tridiagonal pattern needs exactly 3 column colours, and every non-zero is recovered
    /// from a distinct compressed slot holding it alone.
    func testTridiagonalColumnColouringIsOptimalAndRecoversEveryNonZero() throws {
        let n = 7
        var entries: [(row: Int, column: Int)] = []
        for i in 0..<n { for j in max(0, i - 1)...min(n - 1, i + 1) { entries.append((i, j)) } }
        let p = try XCTUnwrap(SparsityPattern(rows: n, columns: n, entries: entries))
        let layout = Colouring.columnColouring(p)
        XCTAssertEqual(layout.colourCount, 3)
        XCTAssertEqual(layout.colours, [0, 1, 2, 0, 1, 2, 0])
        XCTAssertEqual(Set(layout.recovery).count, p.nonZeroCount)
        let rows = Colouring.rowColouring(p)
        XCTAssertEqual(rows.colourCount, 3)
        XCTAssertEqual(Set(rows.recovery).count, p.nonZeroCount)
    }

    func testInconsistentCSRIsRefused() {
        XCTAssertNil(SparsityPattern(rows: 2, columns: 2, rowStarts: [0, 2, 1], columnIndices: [0]))
        XCTAssertNil(SparsityPattern(rows: 1, columns: 2, rowStarts: [0, 2], columnIndices: [1, 0]))
        XCTAssertNil(SparsityPattern(rows: 1, columns: 2, rowStarts: [0, 1], columnIndices: [2]))
        XCTAssertNotNil(SparsityPattern(rows: 1, columns: 2, rowStarts: [0, 2], columnIndices: [0, 1]))
    }
}
