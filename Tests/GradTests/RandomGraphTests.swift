import Foundation
import Grad
import TestSupport
import XCTest

/// Random-graph differential testing: for seeded random well-typed graphs, printing then
/// parsing gives the same graph, gradients (and Hessians) pass finite differences, and the
/// optimized graph computes the same values as the unoptimized one. A failing case is printed
/// as an `.ir` file to reproduce it with `gradc check`.
final class RandomGraphTests: XCTestCase {
    static let seeds: ClosedRange<UInt64> = 1...60

    func report(_ f: Function, _ seed: UInt64, _ what: String) -> String {
        "seed \(seed): \(what)\n--- reproduce with gradc check (inputs: --seed) ---\n\(printFunction(f))"
    }

    func testRandomGraphs() throws {
        var checked = 0
        for seed in Self.seeds {
            var generator = RandomGraphGenerator(seed: seed)
            let f = try generator.generate()
            let inputs = generator.inputs

            // Round trip of the parsed and the differentiated form.
            for g in [f, try Differentiator.expand(f)] {
                let text = printFunction(g)
                let back = try XCTUnwrap(parseModule(text, file: "random.ir").functions.last)
                XCTAssertEqual(back.nodes, g.nodes, report(g, seed, "print → parse changed the graph"))
            }

            // Gradients against finite differences.
            for r in try GradientChecker.check(f, inputs: inputs) {
                XCTAssertTrue(r.passed, report(f, seed, "\(r.label): abs \(r.maxAbsError) rel \(r.maxRelError) \(r.note ?? "")"))
                checked += 1
            }

            // Optimized equals unoptimized (bitwise at -O1, close at -O2 where stabilization may change bits).
            let expanded = try Differentiator.expand(f)
            let reference = try ReferenceEvaluator.run(expanded, inputs: inputs)
            for level in [1, 2] {
                let optimized = try optimize(expanded, options: OptimizerOptions(level: level))
                let values = try ReferenceEvaluator.run(optimized, inputs: inputs)
                for (a, b) in zip(reference, values) {
                    if level == 1 {
                        XCTAssertTrue(bitwiseEqual(a, b), report(f, seed, "-O1 changed bits"))
                    } else {
                        assertAllClose(a.doubles, b.doubles, rtol: f.type(of: f.parameters[0].value).dtype == .f32 ? 1e-4 : 1e-10, atol: 1e-12,
                                       report(f, seed, "-O2 changed values"))
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 60)
    }
}

/// Same dtype, shape and bits (NaN payloads aside).
public func bitwiseEqual(_ a: Tensor, _ b: Tensor) -> Bool {
    guard a.type == b.type else { return false }
    switch (a.storage, b.storage) {
    case (.f64(let x), .f64(let y)): return zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    case (.f32(let x), .f32(let y)): return zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    default: return a == b
    }
}
