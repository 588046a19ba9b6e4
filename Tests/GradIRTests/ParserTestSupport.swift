import Foundation
import GradIR
import XCTest

/// Paths of the fixtures and examples, found from this file's location.
enum Corpus {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixturesDir = testsDir.appendingPathComponent("Fixtures")
    static let examplesDir = testsDir.deletingLastPathComponent().appendingPathComponent("Examples")

    static func files() throws -> [URL] {
        let fixtures = try FileManager.default.contentsOfDirectory(at: fixturesDir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "ir" }
            .sorted { $0.path < $1.path }
        let examples = try FileManager.default.contentsOfDirectory(at: examplesDir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "ir" }
            .sorted { $0.path < $1.path }
        return fixtures + examples
    }

    static func text(_ url: URL) throws -> String {
        try String(contentsOf: url, encoding: .utf8)
    }
}

/// A node's content as text (attribute values printed, so NaN and -0 compare exactly).
func nodeSignature(_ n: Node) -> String {
    "\(n.op.rawValue)|\(n.inputs)|\(n.type)|" + n.attrs.items.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: ",")
}

/// Asserts print → parse → print is the identity, with identical node arrays.
func assertRoundTrips(_ m: Module, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    let printed = printModule(m)
    let reparsed: Module
    do {
        reparsed = try parseModule(printed, file: "\(label).printed")
    } catch {
        XCTFail("\(label): printed form does not parse:\n\(error)\n\(printed)", file: file, line: line)
        return
    }
    XCTAssertEqual(printModule(reparsed), printed, "\(label)", file: file, line: line)
    XCTAssertEqual(reparsed.functions.count, m.functions.count, file: file, line: line)
    for (a, b) in zip(m.functions, reparsed.functions) {
        XCTAssertEqual(a.name, b.name, file: file, line: line)
        XCTAssertEqual(a.parameters, b.parameters, file: file, line: line)
        XCTAssertEqual(a.outputs, b.outputs, file: file, line: line)
        XCTAssertEqual(a.nodes.map(nodeSignature), b.nodes.map(nodeSignature), "\(label)/\(a.name)", file: file, line: line)
        let hasNaN = a.nodes.contains { $0.attrs.items.contains { "\($0.value)".contains("nan") } }
        if !hasNaN { XCTAssertEqual(a.nodes, b.nodes, "\(label)/\(a.name)", file: file, line: line) }
    }
}

/// Checks that a diagnostic is complete: file, known location, source line.
func assertComplete(_ d: Diagnostic, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNotNil(d.file, label, file: file, line: line)
    XCTAssertTrue(d.location.isKnown, "\(label): \(d)", file: file, line: line)
    XCTAssertNotNil(d.sourceLine, "\(label): \(d)", file: file, line: line)
}

/// A small deterministic generator (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
