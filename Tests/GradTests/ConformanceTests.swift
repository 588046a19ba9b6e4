import Foundation
import Grad
import TestSupport
import XCTest

/// Every backend against the reference evaluator on one set of cases (TestSupport's
/// `Conformance`): backends × {the every-op table in f64 and f32, the edge values, every
/// fixture}.
final class ConformanceTests: XCTestCase {
    /// One compile cache for the run's C modules, removed when the test process ends.
    var environment: [String: String] {
        get throws {
            var env = ProcessInfo.processInfo.environment
            env["GRADC_CACHE_DIR"] = try TemporaryDirectory.forProcess("conformance").path
            return env
        }
    }

    func run(_ cases: [Conformance.Case], _ backends: [Conformance.Backend]) throws {
        for b in backends { try Conformance.assertAgree(cases, on: b, environment: try environment) }
    }

    func testEveryOpF64OnTheVM() throws { try run(Conformance.everyOp(.f64), Conformance.Backend.vm) }
    func testEveryOpF32OnTheVM() throws { try run(Conformance.everyOp(.f32), Conformance.Backend.vm) }
    func testEveryOpF64InC() throws { try run(Conformance.everyOp(.f64), Conformance.Backend.c) }
    func testEveryOpF32InC() throws { try run(Conformance.everyOp(.f32), Conformance.Backend.c) }
    func testEdgeValues() throws { try run(Conformance.edges(), Conformance.Backend.all) }
    func testIntegerEdgeValues() throws { try run(Conformance.integerEdges(), Conformance.Backend.all) }
    func testIndexingEdges() throws { try run(Conformance.indexing(), Conformance.Backend.all) }
    func testFixtures() throws { try run(Conformance.fixtures(), Conformance.Backend.all) }
    func testMatmulEdges() throws { try run(Conformance.matmulEdges(), Conformance.Backend.all + [.c(fma: false)]) }

    /// The cases' graphs, as the backends receive them, contain every op but the leaves'
    /// `input` and the derivative requests (which are expanded before any backend).
    func testCasesCoverEveryOp() throws {
        let ops = Conformance.ops(try Conformance.everyOp(.f64) + Conformance.edges() + Conformance.integerEdges() + Conformance.indexing() + Conformance.fixtures())
        let missing = Op.allCases.filter { !ops.contains($0) && $0 != .input && $0.family != .derivative }
        XCTAssertEqual(missing, [], "ops no backend case runs")
    }
}
