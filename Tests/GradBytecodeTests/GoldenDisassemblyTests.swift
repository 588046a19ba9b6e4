import Foundation
import Grad
import TestSupport
import XCTest

/// The disassembly of a few small models is kept in Tests/Fixtures/bytecode/*.gbc.txt.
/// Refresh with `Scripts/refresh-golden-bytecode.sh` and review the diff.
final class GoldenDisassemblyTests: XCTestCase {
    static let models = ["seed": "Examples/seed.ir", "mlp": "Examples/mlp.ir", "reductions": "Tests/Fixtures/reductions.ir", "linalg": "Tests/Fixtures/linalg.ir"]

    static func disassembly(_ path: String) throws -> String {
        let module = try Pipeline.load(path: repositoryRoot.appendingPathComponent(path).path)
        let optimized = try Pipeline.lower(module, to: .optimized)
        return try BytecodeProgram(function: Pipeline.function(optimized, named: nil)).disassembly()
    }

    func testGoldenDisassembly() throws {
        let refresh = ProcessInfo.processInfo.environment["GRADC_REFRESH_GOLDEN"] == "1"
        for (name, path) in Self.models.sorted(by: { $0.key < $1.key }) {
            let text = try Self.disassembly(path)
            let golden = repositoryRoot.appendingPathComponent("Tests/Fixtures/bytecode/\(name).gbc.txt")
            if refresh {
                try text.write(to: golden, atomically: true, encoding: .utf8)
                continue
            }
            let expected = try String(contentsOf: golden, encoding: .utf8)
            XCTAssertEqual(text, expected, "disassembly of \(path) changed; run Scripts/refresh-golden-bytecode.sh and review the diff")
        }
    }
}
