import Foundation
import TestSupport
import XCTest

/// Tests leave nothing in the temporary directory: every test makes its files through
/// TestSupport's `TemporaryDirectory`, which removes them, whatever the test did to them.
final class TemporaryFilesTests: XCTestCase {
    /// A directory made world-writable, one made read-only with a file in it, one given to
    /// another user (as root), and a symbolic link out of the tree: all removed, and the
    /// link's target untouched.
    func testRemovalUndoesWhatTestsDoToTheirDirectories() throws {
        let outside = try TemporaryDirectory.make("outside")
        defer { TemporaryDirectory.remove(outside) }
        let kept = outside.appendingPathComponent("kept")
        try Data("x".utf8).write(to: kept)

        let root = try TemporaryDirectory.make("removal")
        let open = root.appendingPathComponent("open")
        let readOnly = root.appendingPathComponent("read-only")
        let foreign = root.appendingPathComponent("foreign")
        for dir in [open, readOnly, foreign] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
        }
        try Data("y".utf8).write(to: readOnly.appendingPathComponent("file"))
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("link"), withDestinationURL: outside)
        XCTAssertEqual(chmod(open.path, 0o777), 0)
        XCTAssertEqual(chmod(readOnly.path, 0o500), 0)
        if getuid() == 0 {
            XCTAssertEqual(chown(foreign.path, 12345, 12345), 0)
            XCTAssertEqual(chmod(foreign.path, 0o700), 0)
        }

        TemporaryDirectory.remove(root)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.path))
        XCTAssertEqual(try String(contentsOf: kept, encoding: .utf8), "x")
    }

    /// The names `make` gives are fresh, under `NSTemporaryDirectory()`, private to the user.
    func testMadeDirectoriesAreFreshAndPrivate() throws {
        let a = try temporaryDirectory("same")
        let b = try temporaryDirectory("same")
        XCTAssertNotEqual(a, b)
        for url in [a, b] {
            XCTAssertTrue(url.path.hasPrefix(URL(fileURLWithPath: NSTemporaryDirectory()).standardizedFileURL.path), url.path)
            var st = stat()
            XCTAssertEqual(lstat(url.path, &st), 0)
            XCTAssertEqual(st.st_mode & 0o777, 0o700)
        }
    }

    /// No test file reaches the temporary directory another way (the ways that left
    /// directories behind: `NSTemporaryDirectory() + name`, `FileManager`'s
    /// `temporaryDirectory`, literal `/tmp` paths).
    func testEveryTestUsesTheHelper() throws {
        let tests = repositoryRoot.appendingPathComponent("Tests")
        let helper = "TestSupport/TemporaryDirectory.swift"
        let forbidden = ["NSTemporaryDirectory", "FileManager.default.temporaryDirectory", "mkdtemp", "mkstemp", "\"/tmp"]
        var offenders: [String] = []
        let files = FileManager.default.enumerator(atPath: tests.path)?.compactMap { $0 as? String } ?? []
        XCTAssertGreaterThan(files.count, 50)
        for file in files where file.hasSuffix(".swift") && file != helper && file != "GradTests/TemporaryFilesTests.swift" {
            let text = try String(contentsOf: tests.appendingPathComponent(file), encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if forbidden.contains(where: { line.contains($0) }) { offenders.append("Tests/\(file):\(n + 1): \(line)") }
            }
        }
        XCTAssertEqual(offenders, [], "use TestSupport's temporaryDirectory() / TemporaryDirectory instead")
    }
}
