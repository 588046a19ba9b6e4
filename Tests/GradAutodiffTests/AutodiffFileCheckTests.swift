import Foundation
import Grad
import TestSupport
import XCTest

/// Text-in / text-out tests of the differentiation pass (Tests/Fixtures/autodiff/*.ir): each
/// case is parsed, its derivative requests expanded (`gradc emit --stage differentiated`),
/// printed and FileChecked against its `// CHECK` lines; the printed form must parse back to
/// the same graph, and every request is checked against finite differences.
final class AutodiffFileCheckTests: XCTestCase {
    func testFixtures() throws {
        let files = try fixtureFiles("Tests/Fixtures/autodiff")
        XCTAssertFalse(files.isEmpty)
        for path in files {
            for c in try fixtureCases(path) {
                let module = try parseModule(c.ir, file: path)
                var expanded = module
                for i in expanded.functions.indices {
                    expanded.functions[i] = try Differentiator.expand(module.functions[i])
                }
                let printed = printModule(expanded)
                let failures = FileCheck.check(printed, against: c.source)
                if !failures.isEmpty {
                    XCTFail("\(c.context):\n" + failures.joined(separator: "\n") + "\n--- output ---\n" + printed)
                }
                XCTAssertEqual(printModule(try parseModule(printed, file: "printed")), printed, "\(c.context): round trip")
                for f in module.functions {
                    var rng = SplitMix64(seed: 7)
                    var inputs: [String: Tensor] = [:]
                    for p in f.parameters {
                        inputs[p.name] = Tensor.random(f.type(of: p.value), range: 0.5...1.5, using: &rng)
                    }
                    for r in try GradientChecker.check(f, inputs: inputs) {
                        XCTAssertTrue(r.passed, "\(c.context): \(r.label) rel \(r.maxRelError) \(r.note ?? "")")
                    }
                }
            }
        }
    }
}
