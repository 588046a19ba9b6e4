import Foundation
import TestSupport
import XCTest

extension CLITests {
    /// The README's Graphviz example, run where `dot` is missing, fails and leaves no file
    /// (it was `dot -Tsvg > seed.svg`, which left an empty seed.svg); the docs write it the
    /// same way.
    func testPictureExampleLeavesNoFileWithoutGraphviz() throws {
        let readme = try repositoryFile("README.md")
        guard let line = readme.split(separator: "\n").first(where: { $0.contains("--format dot") }),
              let start = line.range(of: "`swift run gradc"), let end = line[start.upperBound...].firstIndex(of: "`") else {
            return XCTFail("README has no `swift run gradc … --format dot …` example")
        }
        let command = line[line.index(after: start.lowerBound)..<end]
            .replacingOccurrences(of: "\\|", with: "|")
            .replacingOccurrences(of: "swift run gradc", with: "'\(gradc.path)'")
            .replacingOccurrences(of: "Examples/", with: repositoryRoot.path + "/Examples/")
        let dir = try temporaryDirectory("no-dot")
        let emptyPath = try temporaryDirectory("empty-path")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", command]
        shell.currentDirectoryURL = dir
        shell.environment = ["PATH": emptyPath.path]
        let err = Pipe()
        shell.standardError = err
        shell.standardOutput = FileHandle.nullDevice
        try shell.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        XCTAssertNotEqual(shell.terminationStatus, 0, command)
        XCTAssertTrue(message.contains("dot"), message)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], command)
        for file in ["README.md", "docs/cli.md", "docs/examples.md"] {
            for line in try repositoryFile(file).split(separator: "\n") where line.contains("| dot ") || line.contains("\\| dot ") {
                XCTAssertFalse(line.contains("> "), "\(file): \(line)")
            }
        }
    }
}
