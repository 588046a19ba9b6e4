import Grad
@testable import GradIR
import TestSupport
import XCTest

/// Conservativeness on random graphs (every op of the generator): the dense Jacobian and
/// Hessian computed by the library at the generator's random point never has a non-zero
/// outside the pattern.
final class RandomGraphPatternTests: XCTestCase {
    /// The forward part of a random graph: the nodes before its first derivative request.
    func forwardPart(seed: UInt64) throws -> (Function, [String: Tensor]) {
        var generator = RandomGraphGenerator(seed: seed)
        var f = try generator.generate()
        let cut = f.nodes.firstIndex { $0.op.isDerivativeRequest } ?? f.nodes.count
        let loss = f.outputs[0].value
        XCTAssertLessThan(loss, cut)
        f.nodes.removeLast(f.nodes.count - cut)
        f.outputs = [f.outputs[0]]
        return (f, generator.inputs)
    }

    func testJacobianPatternsContainEveryNonZero() throws {
        var checked = 0
        for seed in 0..<40 as Range<UInt64> {
            let (f, inputs) = try forwardPart(seed: seed)
            let parameters = f.parameters.map(\.value).filter { f.type(of: $0).count <= 9 }
            // A few intermediate float values, and the loss.
            let candidates = f.nodes.indices.filter { id in
                let t = f.type(of: id)
                return t.dtype.isFloat && t.count >= 1 && t.count <= 12 && f.nodes[id].op != .input && f.nodes[id].op != .const
            }
            for y in candidates.suffix(3) + [f.outputs[0].value] {
                for x in parameters where x < y {
                    let p = try Sparsity.jacobian(of: y, wrt: x, in: f)
                    let dense = try denseJacobian(f, y, x, inputs)
                    assertInside(dense, p, "seed \(seed): ∂%\(y)/∂%\(x) (\(f.nodes[y].op.name))")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 100)
    }

    func testHessianPatternsContainEveryNonZero() throws {
        var checked = 0
        for seed in 0..<40 as Range<UInt64> {
            let (f, inputs) = try forwardPart(seed: seed)
            let loss = f.outputs[0].value
            for x in f.parameters.map(\.value) where f.type(of: x).count <= 9 {
                let p = try Sparsity.hessian(of: loss, wrt: x, in: f)
                XCTAssertEqual(p, p.transposed())
                let dense = try denseHessian(f, loss, x, inputs)
                assertInside(dense, p, "seed \(seed): ∂²loss/∂%\(x)²")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 60)
    }
}
