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

    /// The README's list of ops (the paragraph starting "Ops:") names every op a user writes:
    /// all but `input`, `const` (literals) and the derivative requests, described above it.
    func testReadmeListsEveryOp() throws {
        let readme = try repositoryFile("README.md")
        guard let start = readme.range(of: "\nOps: ") else { return XCTFail("README has no \"Ops:\" paragraph") }
        let paragraph = readme[start.upperBound...].components(separatedBy: "\n\n")[0]
        let words = Set(paragraph.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init))
        for op in Op.allCases where op != .input && op != .const && op.family != .derivative {
            XCTAssertTrue(words.contains(op.name), "README's op list lacks \(op.name)")
        }
    }

    /// Every relative link in the README and docs/ names a file that exists.
    func testRelativeLinksResolve() throws {
        let files = ["README.md", "BENCHMARKS.md"] + (try FileManager.default
            .contentsOfDirectory(atPath: repositoryRoot.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.map { "docs/" + $0 })
        let link = try NSRegularExpression(pattern: #"\]\(([^)#:\s]+)(#[^)]*)?\)"#)
        for file in files {
            let text = try repositoryFile(file)
            let directory = (file as NSString).deletingLastPathComponent
            for match in link.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let range = Range(match.range(at: 1), in: text) else { continue }
                let target = (directory as NSString).appendingPathComponent(String(text[range]))
                let path = repositoryRoot.appendingPathComponent(target).standardizedFileURL.path
                XCTAssertTrue(FileManager.default.fileExists(atPath: path), "\(file) links to missing \(text[range])")
            }
        }
    }
}
