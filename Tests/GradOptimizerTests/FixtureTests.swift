import Foundation
import Grad
import TestSupport
import XCTest

/// Text-in / text-out tests of each pass (Tests/Fixtures/optimizer/<pass>.ir), each case also
/// checked numerically: bit for bit for the exact passes, with a tolerance for `stabilize`.
///
/// Convention: the file name names the pass; the test runs that pass and then `dce` to a
/// fixpoint (only `dce` for dce.ir), prints the module and FileChecks it against the case's
/// `// CHECK` lines. `//` lines are not IR and are blanked before parsing (keeping line numbers).
final class OptimizerFixtureTests: XCTestCase {
    func testCSE() throws { try runFixture(.cse) }
    func testFold() throws { try runFixture(.fold) }
    func testSimplify() throws { try runFixture(.simplify) }
    func testShapes() throws { try runFixture(.shapes) }
    func testStabilize() throws { try runFixture(.stabilize) }
    func testDCE() throws { try runFixture(.dce) }

    func runFixture(_ pass: OptimizerPass, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = "Tests/Fixtures/optimizer/\(pass.rawValue).ir"
        for c in try fixtureCases(path) {
            let (source, context) = (c.source, c.context)
            let module: Module
            do {
                module = try parseExpanded(c.ir, file: path)
            } catch {
                XCTFail("\(context): \(error)", file: file, line: line)
                continue
            }
            let passes: [OptimizerPass] = pass == .dce ? [.dce] : [pass, .dce]
            var optimized = module
            for i in optimized.functions.indices {
                optimized.functions[i] = try optimize(module.functions[i], options: testOptions(passes))
            }
            let printed = printModule(optimized)
            let failures = FileCheck.check(printed, against: source)
            if !failures.isEmpty {
                XCTFail("\(context):\n" + failures.joined(separator: "\n") + "\n--- output ---\n" + printed, file: file, line: line)
            }
            // The printed form parses back to the same graph.
            let reparsed = try parseModule(printed, file: "printed")
            XCTAssertEqual(printModule(reparsed), printed, "\(context): round trip", file: file, line: line)
            for (before, after) in zip(module.functions, optimized.functions) {
                let comparison: Comparison = pass == .stabilize ? .close(rtol: 1e-9, atol: 1e-12) : .bitwise
                let inputs = pass == .stabilize ? inputSets(before, random: 4, special: 0) : nil
                try assertEquivalent(before, after, comparison, inputs: inputs, context, file: file, line: line)
            }
        }
    }
}
