@testable import GradIR
import XCTest

final class SpyPlotTests: XCTestCase {
    func diagonal(_ n: Int) throws -> SparsityPattern {
        try XCTUnwrap(SparsityPattern(rows: n, columns: n, rowStarts: Array(0...n), columnIndices: (0..<n).map { Int32($0) }))
    }

    func testSmallPatternsAreOneCellPerEntry() throws {
        let p = try XCTUnwrap(SparsityPattern(rows: 2, columns: 3, entries: [(0, 0), (0, 1), (1, 2)]))
        let g = p.spyGrid()
        XCTAssertEqual([g.width, g.height, g.scale], [3, 2, 1])
        XCTAssertEqual(g.filled, [true, true, false, false, false, true])
        let svg = p.spySVG()
        XCTAssertTrue(svg.contains("viewBox=\"0 0 3 2\""), svg)
        XCTAssertTrue(svg.contains("<rect x=\"0\" y=\"0\" width=\"2\" height=\"1\"/>"), svg)
        XCTAssertTrue(svg.contains("<rect x=\"2\" y=\"1\" width=\"1\" height=\"1\"/>"), svg)
        // PBM: each cell repeated to 66 pixels (200 / 3), rows padded to whole bytes.
        let pbm = p.spyPBM()
        let header = Array("P4\n# 2x3, 3 non-zeros\n198 132\n".utf8)
        XCTAssertEqual(Array(pbm.prefix(header.count)), header)
        XCTAssertEqual(pbm.count, header.count + 132 * 25)
        XCTAssertEqual(pbm[header.count], 0xFF)             // row 0 starts black
        XCTAssertEqual(pbm[header.count + 66 * 25], 0x00)   // row 1 starts white
    }

    func testLargePatternsAreDownsampled() throws {
        let g = try diagonal(2500).spyGrid(maxSide: 1000)
        XCTAssertEqual([g.width, g.height, g.scale], [834, 834, 3])
        XCTAssertEqual(g.filled.filter { $0 }.count, 834)
        XCTAssertTrue(g.filled[0] && g.filled[834 + 1] && !g.filled[1])
        XCTAssertLessThanOrEqual(try diagonal(2500).spyPBM().count, 1000 * 125 + 64)
    }
}
