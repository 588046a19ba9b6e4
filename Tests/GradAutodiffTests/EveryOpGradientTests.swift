import Grad
import TestSupport
import XCTest

/// One table over every op: the gradient of a weighted sum of the op's output is compared with
/// central finite differences (order 1 for every float operand, order 2 through `hessian` for
/// the first), in f64 (≤ 1e−6 relative) and f32 (≤ 1e−2).
final class EveryOpGradientTests: XCTestCase {
    func testEveryOpIsCovered() throws {
        let covered = try OpCases.coveredOps(OpCases.table())
        // Loops (`scan`, `result`) have their own table: LoopTests (orders 1 and 2, nested, zero trips).
        for op in Op.allCases where op.info.family != .derivative && op.info.family != .leaf && op.info.family != .loop {
            XCTAssertTrue(covered.contains(op), "no gradient test for \(op.name)")
        }
    }

    func testFirstAndSecondOrderF64() throws {
        try run(dtype: .f64)
    }

    func testFirstAndSecondOrderF32() throws {
        try run(dtype: .f32)
    }

    func run(dtype: DType) throws {
        var rng = SplitMix64(seed: 42)
        for c in OpCases.table() {
            let (f, inputs, derivatives) = try c.makeFunction(dtype, rng: &rng)
            var options = CheckOptions()
            if c.f32Inside {
                options.relativeTolerance = 1e-2
                options.absoluteTolerance = 1e-3
            }
            let results = try GradientChecker.check(f, inputs: inputs, options: options)
            XCTAssertEqual(results.count, derivatives, c.name)
            for r in results {
                XCTAssertTrue(r.passed, "\(dtype) \(c.name): \(r.label) abs \(r.maxAbsError) rel \(r.maxRelError) \(r.note ?? "")")
            }
        }
    }
}
