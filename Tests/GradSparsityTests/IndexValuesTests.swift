import Grad
@testable import GradIR
import TestSupport
import XCTest

/// The index evaluator agrees with the reference evaluator on integer index expressions.
final class IndexValuesTests: XCTestCase {
    func testIntegerOpsAgreeWithTheReferenceEvaluator() throws {
        var rng = SplitMix64(seed: 5)
        for trial in 0..<20 {
            let a = (0..<12).map { _ in Double(Int.random(in: -9...9, using: &rng)) }
            let b = (0..<4).map { _ in Double(Int.random(in: -3...3, using: &rng)) }
            let fb = FunctionBuilder("i\(trial)")
            let x = try fb.constant(values: a, .i64, [3, 4])
            let y = try fb.constant(values: b, .i64, [4])
            let it = try fb.iota(shape: [3, 4], axis: 1)
            let values = [
                try fb.apply(.floordiv, [x, y]), try fb.apply(.mod, [x, y]), try fb.apply(.sub, [fb.apply(.mul, [x, y]), it]),
                try fb.apply(.transpose, [x]), try fb.apply(.slice, [x], Attributes([.start: .ints([1, 0]), .stop: .ints([3, 4]), .step: .ints([1, 3])])),
                try fb.apply(.concat, [x, fb.apply(.neg, [x])], Attributes([.axis: .int(0)])),
                try fb.apply(.broadcast_to, [y], Attributes([.shape: .ints([2, 4])])),
            ]
            for v in values { try fb.output(v) }
            let f = fb.function
            let reference = try evaluate(f, [:])
            var evaluator = IndexValues(f, known: [:])
            for (k, v) in values.enumerated() {
                let got = try XCTUnwrap(evaluator.values(v.id), "trial \(trial) output \(k)")
                XCTAssertEqual(got.map(Double.init), reference[k].doubles, "trial \(trial), \(f.nodes[v.id].op.name)")
            }
        }
    }

    func testFloatDerivedIndicesAreUnknown() throws {
        let f = try parsedFunction("func f(x: f64[3]) { return cast(floor(x), dtype=i64), argmax(x) }")
        var evaluator = IndexValues(f, known: [:])
        XCTAssertNil(evaluator.values(output(f, 0)))
        XCTAssertNil(evaluator.values(output(f, 1)))
    }
}
