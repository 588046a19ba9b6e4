import Foundation
import Grad
import TestSupport
import XCTest

/// `gradc emit --format sparsity` and its spy plots.
extension CLITests {
    func testEmitSparsityPrintsPatternsColoursAndSpyPlots() throws {
        let dir = try temporaryDirectory("sparsity")
        let model = dir.appendingPathComponent("m.ir")
        try """
        func f(x: f64[4]) {
          d = x[1:] - x[:-1]
          e = sum(d * d) + sum(exp(x))
          return jacobian(d, x) as J, hessian(e, x) as H
        }
        """.write(to: model, atomically: true, encoding: .utf8)
        let r = try run(["emit", model.path, "--format", "sparsity", "--spy", dir.appendingPathComponent("p.svg").path])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, """
        jacobian(%3, x) as J: 3×4, 6 non-zeros (50%); colours: 2 columns (forward sweeps), 2 rows (reverse sweeps)
          0: 0 1
          1: 1 2
          2: 2 3
        hessian(%8, x) as H: 4×4, 10 non-zeros (62.5%); colours: 3 columns (forward sweeps), 3 rows (reverse sweeps), 3 star (Hessian-vector products)
          0: 0 1
          1: 0 1 2
          2: 1 2 3
          3: 2 3

        """)
        let svg = try String(contentsOf: dir.appendingPathComponent("p.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg"), svg)
        XCTAssertTrue(svg.contains("<rect x=\"0\" y=\"0\" width=\"2\" height=\"1\"/>"), svg)
        let second = try String(contentsOf: dir.appendingPathComponent("p-2.svg"), encoding: .utf8)
        XCTAssertTrue(second.contains("4×4, 10 non-zeros"), second)
        let pbm = try run(["emit", model.path, "--format", "sparsity", "--spy", dir.appendingPathComponent("p.pbm").path])
        XCTAssertEqual(pbm.status, 0, pbm.err)
        let bytes = try Data(contentsOf: dir.appendingPathComponent("p.pbm"))
        XCTAssertTrue(bytes.starts(with: Array("P4\n".utf8)))
        let wrong = try run(["emit", model.path, "--format", "sparsity", "--spy", dir.appendingPathComponent("p.png").path])
        XCTAssertEqual(wrong.status, 2)
        XCTAssertTrue(wrong.err.contains("must end in .svg or .pbm"), wrong.err)
        // Index inputs given with --input make take exact.
        let indexed = dir.appendingPathComponent("ba.ir")
        try "func ba(cams: f64[3,2], obs: i64[4]) {\n  return jacobian(take(cams, obs, axis=0) * 2, cams) as J\n}\n"
            .write(to: indexed, atomically: true, encoding: .utf8)
        let conservative = try run(["emit", indexed.path, "--format", "sparsity"])
        XCTAssertTrue(conservative.out.contains("8×6, 24 non-zeros"), conservative.out)
        let exact = try run(["emit", indexed.path, "--format", "sparsity", "--input", "obs=[2,0,1,-1]"])
        XCTAssertEqual(exact.status, 0, exact.err)
        XCTAssertTrue(exact.out.contains("8×6, 8 non-zeros") && exact.out.contains("  0: 4\n  1: 5\n  2: 0\n"), exact.out)
        let float = try run(["emit", indexed.path, "--format", "sparsity", "--input", "cams=1"])
        XCTAssertEqual(float.status, 2)
        XCTAssertTrue(float.err.contains("not i64"), float.err)
        let noFormat = try run(["emit", model.path, "--spy", "p.svg"])
        XCTAssertEqual(noFormat.status, 2)
        XCTAssertTrue(noFormat.err.contains("needs --format sparsity"), noFormat.err)
    }
}
