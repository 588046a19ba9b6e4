import Grad
import TestSupport
import XCTest

final class DocsTests: XCTestCase {
    /// docs/ops.md is generated from the op table; run Scripts/refresh-docs.sh after changing an op.
    func testOpReferenceIsCurrent() throws {
        let onDisk = try repositoryFile("docs/ops.md")
        XCTAssertEqual(onDisk, opReferenceMarkdown(), "docs/ops.md is stale: run Scripts/refresh-docs.sh")
    }

    func testEveryOpIsDocumented() {
        let text = opReferenceMarkdown()
        for op in Op.allCases {
            XCTAssertTrue(text.contains("| `\(op.name)` |"), "\(op.name) missing from the op reference")
            XCTAssertFalse(op.info.doc.isEmpty)
            XCTAssertFalse(op.info.derivative.isEmpty)
        }
    }
}
