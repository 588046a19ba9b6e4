import Foundation
import Grad
import TestSupport
import XCTest

/// The C of a few small fixtures is kept as reviewed golden files
/// (refresh: Scripts/refresh-golden-c.sh).
final class CGoldenTests: XCTestCase {
    func testGoldenC() throws {
        for name in ["derivatives", "unary", "reductions"] {
            let module = try Pipeline.load(path: repositoryRoot.appendingPathComponent("Tests/Fixtures/\(name).ir").path)
            let optimized = try Pipeline.lower(module, to: .optimized)
            let emitted = try emitC(optimized.functions).source
            let golden = try repositoryFile("Tests/Fixtures/c/\(name).c")
            XCTAssertEqual(emitted, golden, "\(name).c differs from the golden file; run Scripts/refresh-golden-c.sh and review the diff")
        }
    }
}
